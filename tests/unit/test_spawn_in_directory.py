"""osapi.spawn for a child with a directory and umask of its own (issue 18): posix_spawn
with both set in the daemon around the call. The child gets them, the daemon keeps its own
(also after a failure), and ``subprocess`` is not imported for it. Real children."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from supervisor_runtime import osapi

REPO = Path(__file__).resolve().parents[2]


def _spawn(directory: str | None, umask: int | None) -> tuple[int, str]:
    """Spawn a shell that prints its directory and umask; (exit status, its output)."""
    request = osapi.SpawnRequest(
        command="/bin/sh -c 'pwd; umask'",
        path=["/bin"],
        environment={"PATH": "/bin:/usr/bin"},
        directory=directory,
        umask=umask,
        redirect_stderr=True,
    )
    child = osapi.spawn(request)
    assert child.popen is None  # posix_spawn, not Popen
    assert child.pipes.stdout is not None
    os.set_blocking(child.pipes.stdout, True)
    output = b""
    while chunk := os.read(child.pipes.stdout, 4096):
        output += chunk
    _, status = os.waitpid(child.pid, 0)
    for fd in child.pipes.fds():
        os.close(fd)
    return status, output.decode()


@contextmanager
def daemon_keeps_its_directory_and_umask() -> Iterator[None]:
    """The block runs with umask 022; afterwards the test's process (the daemon) must be
    back in its directory with that umask."""
    here, mask = os.getcwd(), os.umask(0o022)
    try:
        yield
        assert os.getcwd() == here
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(mask)


def test_the_child_gets_its_directory_and_umask_and_the_daemon_keeps_its_own(
    tmp_path: Path,
) -> None:
    with daemon_keeps_its_directory_and_umask():
        status, output = _spawn(str(tmp_path), 0o027)
        assert status == 0
        assert output.split() == [str(tmp_path), "0027"]


def test_a_directory_that_cannot_be_entered_is_named_and_changes_nothing(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    with (
        daemon_keeps_its_directory_and_umask(),
        pytest.raises(osapi.ExecFailed, match=f"couldn't chdir to {gone}: ENOENT"),
    ):
        _spawn(str(gone), 0o077)


def test_an_exec_failure_in_a_directory_puts_the_daemon_back(tmp_path: Path) -> None:
    script = tmp_path / "bad-interpreter"  # passes the daemon's checks, fails in exec
    script.write_text("#!/nonexistent/interpreter\n")
    script.chmod(0o755)
    request = osapi.SpawnRequest(
        command=str(script), path=[], environment={}, directory=str(tmp_path), umask=0o077
    )
    with (
        daemon_keeps_its_directory_and_umask(),
        pytest.raises(osapi.ExecFailed, match="couldn't exec .*: ENOENT"),
    ):
        osapi.spawn(request)


def test_a_child_with_a_directory_does_not_import_subprocess(tmp_path: Path) -> None:
    probe = (
        "import sys, os\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from supervisor_runtime import osapi\n"
        "request = osapi.SpawnRequest(command='/bin/true', path=['/bin'], environment={},\n"
        f"    directory={str(tmp_path)!r}, umask=0o022)\n"
        "child = osapi.spawn(request)\n"
        "os.waitpid(child.pid, 0)\n"
        "print('subprocess' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-IS", "-c", probe], capture_output=True, text=True, timeout=30
    )
    assert done.stdout.strip() == "False", done.stderr
