"""superlance 2.0.0 from PyPI, unchanged, under our supervisord.

superlance imports stock supervisor's childutils and XML-RPC transport, so it is installed
in the stock virtualenv (scripts/test does that) and run from there as a listener of ours.
"""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import PY, build_config, program, wait_until
from tests.stock import stock_bin

MAIL_STUB = """#!/bin/sh
# Stands in for sendmail: each message is appended to the file next to this script.
cat >> "$(dirname "$0")/mail.txt"
echo "----" >> "$(dirname "$0")/mail.txt"
"""


# These prove superlance against our daemon; the protocol itself is compared with stock in
# test_listener_protocol.py.
pytestmark = pytest.mark.parametrize("impl", ["ours"])


def _superlance(name: str) -> Path:
    command = stock_bin(name)
    if not command.exists():
        pytest.skip(f"superlance's {name} is not installed in the stock virtualenv")
    return command


def test_crashmail_mails_an_unexpected_exit_and_not_an_expected_one(
    start_daemon, workdir: Path
) -> None:
    stub = workdir / "sendmail"
    stub.write_text(MAIL_STUB)
    stub.chmod(0o755)
    config = build_config(
        workdir,
        {
            "crasher": program(f"{PY} -c 'import time; time.sleep(1.5); raise SystemExit(1)'",
                               startsecs=1, autorestart=False),
            "finisher": program(f"{PY} -c 'import time; time.sleep(1.5)'", startsecs=1,
                                autorestart=False),
        },
        unix_socket=True,
        extra={
            "eventlistener:crashmail": {
                "command": f"{_superlance('crashmail')} -a -m ops@example.com -s {stub}",
                "events": "PROCESS_STATE_EXITED",
                "startsecs": 0,
                "stderr_logfile": workdir / "crashmail.err",
            }
        },
    )
    daemon = start_daemon(config)
    daemon.wait_log(r"exited: crasher \(exit status 1; not expected\)", timeout=15)
    daemon.wait_log(r"exited: finisher \(exit status 0; expected\)", timeout=15)
    mail = workdir / "mail.txt"
    wait_until(lambda: mail.exists() and "crasher" in mail.read_text(), 15, "the crash mail")
    # The expected exit was seen too (crashmail says so on stderr) but not mailed.
    wait_until(lambda: (workdir / "crashmail.err").read_text().count("\n") >= 1, 10, "stderr")
    text = mail.read_text()
    assert "To: ops@example.com" in text
    assert "Process crasher in group crasher exited unexpectedly" in text
    assert "finisher" not in text


def test_memmon_restarts_a_process_over_its_memory_limit(start_daemon, workdir: Path) -> None:
    hog = f"{PY} -c 'import time; block = bytearray(80 * 1024 * 1024); time.sleep(3600)'"
    config = build_config(
        workdir,
        {"hog": program(hog, startsecs=1, autorestart=True)},
        unix_socket=True,
        extra={
            "eventlistener:memmon": {
                "command": f"{_superlance('memmon')} -p hog=30MB",
                "events": "TICK_5",
                "startsecs": 0,
                "stderr_logfile": workdir / "memmon.err",
            }
        },
    )
    daemon = start_daemon(config)
    first = daemon.spawned_pid("hog")
    wait_until(
        lambda: len(re.findall(r"spawned: 'hog' with pid (\d+)", daemon.mainlog_text())) >= 2,
        25,
        "memmon to restart hog",
    )
    # memmon says so on its stderr, which reaches the file through the daemon: maybe after
    # the new hog's spawn is in the main log.
    wait_until(
        lambda: "Restarting hog" in (workdir / "memmon.err").read_text(),
        10,
        "memmon's word of the restart",
    )
    assert first not in [int(p) for p in re.findall(r"spawned: 'hog' with pid (\d+)",
                                                       daemon.mainlog_text())[1:]]


class _Failing(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(500)
        self.end_headers()
        self.wfile.write(b"broken")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_http() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_httpok_restarts_a_process_whose_check_fails(
    start_daemon, workdir: Path, failing_http: str
) -> None:
    config = build_config(
        workdir,
        {"web": program("/bin/sleep 3600", startsecs=1, autorestart=True)},
        unix_socket=True,
        extra={
            "eventlistener:httpok": {
                "command": f"{_superlance('httpok')} -p web -t 2 -c 200 {failing_http}",
                "events": "TICK_5",
                "startsecs": 0,
                "stderr_logfile": workdir / "httpok.err",
            }
        },
    )
    daemon = start_daemon(config)
    daemon.spawned_pid("web")
    wait_until(
        lambda: len(re.findall(r"spawned: 'web' with pid", daemon.mainlog_text())) >= 2,
        25,
        "httpok to restart web",
    )
    # The listener's stderr reaches its log when the daemon next reads the pipe: maybe
    # just after the restart it asked for.
    wait_until(
        lambda: "web is in RUNNING state, restarting" in (workdir / "httpok.err").read_text(),
        10,
        "httpok's account of the restart in its log",
    )
