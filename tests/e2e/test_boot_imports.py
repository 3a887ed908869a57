"""What a running daemon has imported (issue 18): a tenant runtime, booted as the tenant
container boots it (``python -IS`` on a script, the platform's base config with its
``[include] skip_broken``, ``history`` and ``state_stream``, three programs written as the
platform writes a tenant's, each with a ``directory=`` of its own, two printing output, one
``supervisorctl status``, and a state stream reader connected as the platform's feeder is),
must not hold the standard-library modules it only needs for rare paths. Each costs every
tenant private memory (docs/ARCHITECTURE.md, "What the daemon imports at boot")."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket as _socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import impl_bin, wait_until

REPO = Path(__file__).resolve().parents[2]
PRINTED = "output-for-the-tail"
PYTHON_PRINTS = f'print("{PRINTED}", flush=True); import time; time.sleep(600)'

# Imported only on the path that needs them: an error's traceback (traceback, linecache,
# tokenize), an upgrade (json, subprocess), a program with a user= of its own (subprocess;
# one with a directory= or umask= is posix_spawned too), a unix probe as another user
# (shlex), an HTML page (urllib.parse), user= (pwd, grp), a limit to raise (resource),
# syslog output (syslog); or not at all: json (the state stream writes its lines with
# rpc/json_line), shlex for environment= (config/datatypes.pair_tokens), typing
# (static_types), socket and selectors (_socket), signal's enums (_signal), contextlib, glob
# (config/include_glob), gettext (cli/supervisord._getopt), importlib and warnings
# (config/__init__ imports with __import__).
NOT_AT_BOOT = (
    "inspect", "dataclasses", "ast", "dis", "tokenize", "traceback", "linecache",
    "datetime", "urllib.parse", "ipaddress", "json", "subprocess", "threading", "base64",
    "shlex", "typing", "socket", "selectors", "signal", "contextlib", "glob", "gettext",
    "math", "resource", "pwd", "grp", "syslog", "xml.parsers.expat", "importlib",
    "warnings",
)  # fmt: skip
# Ours, imported when the config turns them on: [eventlistener:x], NOTIFY_SOCKET, a
# readycheck/healthcheck (probes, health_checks, health_ns, config.checks), a tail or log
# read request (logtail, logs.tail), backoff = exponential (backoff), depends_on
# (rpc.dependency_start), a login on a server (rpc.auth).
OPT_IN = (
    "supervisor_runtime.eventpool", "supervisor_runtime.sdnotify", "supervisor_runtime.probes",
    "supervisor_runtime.rpc.health_ns", "supervisor_runtime.rpc.logtail",
    "supervisor_runtime.health_checks", "supervisor_runtime.config.checks",
    "supervisor_runtime.logs.tail", "supervisor_runtime.backoff",
    "supervisor_runtime.rpc.dependency_start", "supervisor_runtime.rpc.auth",
)  # fmt: skip
# The upgrade code, preloaded unless the runtime's files are read-only (a container's view).
UPGRADE = (
    "supervisor_runtime.upgrade.fields", "supervisor_runtime.upgrade.preflight",
    "supervisor_runtime.upgrade.reexec",
)  # fmt: skip


def booted_modules(tmp_path: Path, read_only: bool = False) -> set[str]:
    """sys.modules of a tenant-like runtime after boot, one ``status`` and its shutdown;
    ``read_only``: its files seen read-only, as in a container (root: a bind mount in a
    mount namespace of its own)."""
    listing = tmp_path / "modules.txt"
    launcher = tmp_path / "supervisord"
    # Like workers/container/assets.py's script; the listing is written at exit, so it
    # holds everything imported at boot, by the request, and by the shutdown.
    launcher.write_text(
        "import atexit, sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        f"atexit.register(lambda: open({str(listing)!r}, 'w').write('\\n'.join(sys.modules)))\n"
        "from supervisor_runtime.cli.supervisord import main\n"
        "sys.exit(main())\n"
    )
    (tmp_path / "supervisor.d").mkdir()
    # As catalog.ProgramSection writes a tenant's programs: each in its directory, with a
    # log and environment of its own; the first two print (history keeps their output's tail).
    for name, command in (
        ("web", f"{sys.executable} -c '{PYTHON_PRINTS}'"),
        ("memcached", f"/bin/sh -c 'echo {PRINTED} >&2; exec /bin/sleep 600'"),
        ("worker", "/bin/sleep 601"),
    ):  # fmt: skip
        (tmp_path / "supervisor.d" / f"{name}.conf").write_text(
            f"[program:{name}]\ncommand={command}\nstartsecs=0\ndirectory={tmp_path}\n"
            f'environment=PORT="8000",HOME="{tmp_path}"\n'
            f"umask=022\nstdout_logfile={tmp_path}/{name}.log\nredirect_stderr=true\n"
        )
    socket = tmp_path / "supervisor.sock"
    mainlog = tmp_path / "supervisord.log"
    conf = tmp_path / "supervisord.conf"
    conf.write_text(
        f"[unix_http_server]\nfile={socket}\nchmod=0700\n"
        f"[supervisord]\nlogfile={mainlog}\npidfile={tmp_path}/supervisord.pid\n"
        f"childlogdir={tmp_path}\nnodaemon=true\nhistory = true\nstate_stream = true\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
        f"[supervisorctl]\nserverurl=unix://{socket}\n"
        "[include]\nfiles = supervisor.d/*.conf\nskip_broken = true\n"
    )
    command = [os.path.realpath(sys.executable), "-IS", str(launcher), "-n", "-c", str(conf)]
    if read_only:
        remount = 'mount --bind -o ro "$0" "$0" && exec "$@"'
        command = ["unshare", "--mount", "/bin/sh", "-c", remount, str(REPO), *command]
    daemon = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        wait_until(
            lambda: mainlog.exists() and mainlog.read_text().count("entered RUNNING") == 3,
            timeout=30,
            what="three programs RUNNING",
        )
        logs = [tmp_path / "web.log", tmp_path / "memcached.log"]
        wait_until(
            lambda: all(log.exists() and PRINTED in log.read_text() for log in logs),
            timeout=30,
            what="both programs' output logged",
        )
        with StreamReader(socket) as reader:
            assert reader.snapshot["type"] == "snapshot"
            status = subprocess.run(
                [impl_bin("ours", "supervisorctl"), "-c", str(conf), "status"],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert status.stdout.count("RUNNING") == 3, status
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    modules = set(listing.read_text().split())
    assert "supervisor_runtime.rpc.server" in modules  # the listing is the daemon's
    return modules


class StreamReader:
    """``GET /state-stream`` held open, as the feeder holds it; the snapshot line read."""

    def __init__(self, path: Path) -> None:
        self.sock = _socket.socket(_socket.AF_UNIX)
        self.sock.settimeout(30)
        self.sock.connect(str(path))
        self.sock.sendall(b"GET /state-stream?heartbeat=300 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        received = b""
        while b"\n" not in received.partition(b"\r\n\r\n")[2]:
            chunk = self.sock.recv(65536)
            assert chunk, received
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        self.snapshot = json.loads(body.split(b"\n")[0])

    def __enter__(self) -> StreamReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_a_booted_tenant_runtime_keeps_rarely_used_modules_out(tmp_path: Path) -> None:
    modules = booted_modules(tmp_path)
    assert sorted(name for name in NOT_AT_BOOT + OPT_IN if name in modules) == []
    assert sorted(name for name in UPGRADE if name in modules) == sorted(UPGRADE)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="a bind mount needs root"
)
def test_a_runtime_on_read_only_files_does_not_preload_the_upgrade(tmp_path: Path) -> None:
    modules = booted_modules(tmp_path, read_only=True)
    assert sorted(name for name in NOT_AT_BOOT + OPT_IN + UPGRADE if name in modules) == []
