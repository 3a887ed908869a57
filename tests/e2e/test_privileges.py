"""user= on a program: started as root, the child runs as that user with its groups."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from tests.harness import build_config, child_cmd, program, wait_until

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="needs root to switch users")


def _status_ids(pid: int) -> tuple[int, int]:
    uid = gid = -1
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            uid = int(line.split()[1])
        elif line.startswith("Gid:"):
            gid = int(line.split()[1])
    return uid, gid


def test_program_user_drops_privileges(start_daemon, workdir: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    workdir.chmod(0o755)  # the child, as nobody, must be able to start in it
    # /bin/sleep: the test's own Python lives where nobody may not read it.
    progs = {"app": program("/bin/sleep 1000", user="nobody", directory="/")}
    daemon = start_daemon(build_config(workdir, progs))
    pid = daemon.spawned_pid("app")
    # Stock logs the pid right after fork, before its child switches user: wait for it.
    wait_until(lambda: _status_ids(pid) == (nobody.pw_uid, nobody.pw_gid), 10,
               "the child to run as nobody")


def test_unknown_program_user_is_a_config_error(start_daemon, workdir: Path) -> None:
    progs = {"app": program(child_cmd("sleep"), user="no-such-user-here")}
    daemon = start_daemon(build_config(workdir, progs))
    assert daemon.wait_exit(timeout=10) != 0
    assert "no-such-user-here" in daemon.output_text()
