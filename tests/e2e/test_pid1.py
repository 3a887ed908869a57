"""supervisord as PID 1 of a container: orphans re-parent to it, so it must reap them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness import StartDaemon, build_config, child_cmd, program, wait_file

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]


def unshare_works() -> str | None:
    """None if we can make a PID namespace here, else why not."""
    if shutil.which("unshare") is None:
        return "unshare(1) is not installed"
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        return f"cannot create a PID namespace: {probe.stderr.strip()}"
    return None


def test_pid1_reaps_orphaned_zombies(start_daemon: StartDaemon, workdir: Path) -> None:
    why_not = unshare_works()
    if why_not:
        pytest.skip(why_not)
    report = workdir / "reap.json"
    progs = {"app": program(child_cmd("reap-check", report, "--timeout", 4))}
    d = start_daemon(build_config(workdir, progs), wrapper=UNSHARE)
    d.wait_log(r"supervisord started with pid 1\b")
    result = json.loads(wait_file(report, timeout=15))
    assert "supervisord" in result["pid1"], f"PID 1 is not the daemon: {result}"
    assert result["state"] == "", f"orphan {result['orphan']} left as a zombie: {result}"
    assert result["zombies"] == []
