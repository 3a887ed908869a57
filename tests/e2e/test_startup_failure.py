"""A daemon that fails after its children have started stops them before it exits.

The control server is loaded after the autostart programs are spawned (it is a fifth of
start-up), so a failure there, e.g. a half-upgraded install, comes with children running.
A Python process runs the real daemon with that one function made to fail."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.harness import build_config, pid_alive, program

RUN_WITH_BROKEN_CONTROL_SERVER = textwrap.dedent(
    """
    import sys
    import supervisor_runtime.rpc.server as server

    def broken(*args):
        raise RuntimeError("control server cannot load")

    server.attach_control_servers = broken
    from supervisor_runtime.cli.supervisord import main
    sys.exit(main(["-c", sys.argv[1]]))
    """
)


def test_children_are_stopped_when_the_control_server_fails_to_load(tmp_path: Path) -> None:
    conf = tmp_path / "supervisord.conf"
    conf.write_text(
        build_config(
            tmp_path,
            {
                "first": program("/bin/sleep 1000", startsecs=0),
                "second": program("/bin/sleep 1000", startsecs=0),
            },
            unix_socket=True,
        )
    )
    result = subprocess.run(
        [sys.executable, "-c", RUN_WITH_BROKEN_CONTROL_SERVER, str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "control server cannot load" in result.stderr
    log = (tmp_path / "supervisord.log").read_text()
    pids = [int(pid) for pid in re.findall(r"spawned: '\w+' with pid (\d+)", log)]
    assert len(pids) == 2, log
    assert not [pid for pid in pids if pid_alive(pid)], log
    assert "stopped: first (terminated by SIGTERM)" in log
    assert "stopped: second (terminated by SIGTERM)" in log
