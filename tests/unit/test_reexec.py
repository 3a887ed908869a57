"""reexec when the exec itself fails (the interpreter is gone): everything it changed for
the exec is put back, so the daemon goes on as it was. A real execve, of a missing file."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from supervisor_runtime.upgrade.reexec import HELD_SIGNALS, reexec


def test_a_failed_exec_puts_back_descriptors_signals_and_directory(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()  # close-on-exec, as everything the daemon opens
    cwd = os.getcwd()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        error = reexec(str(tmp_path / "no-such-python"), ["python"], str(tmp_path), {}, [read_end])
        assert isinstance(error, FileNotFoundError)
        assert not os.get_inheritable(read_end)
        assert os.getcwd() == cwd
        assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask
        assert not HELD_SIGNALS & mask
    finally:
        os.close(read_end)
        os.close(write_end)
