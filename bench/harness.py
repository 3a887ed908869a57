"""Running one supervisord (stock 4.3.0 or ours) for a benchmark scenario, and measuring it.

Measurements come from outside the daemon: wall time to a condition seen in the main log or
the filesystem, and the daemon's CPU time and RSS read from /proc.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def supervisord_command(impl: str) -> list[str]:
    if impl == "stock":
        venv = Path(os.environ.get("STOCK_SUPERVISOR_VENV", REPO / ".venv-stock"))
        return [str(venv / "bin" / "supervisord")]
    return [str(Path(sys.executable).parent / "supervisord")]


def supervisorctl_command(impl: str) -> list[str]:
    if impl == "stock":
        venv = Path(os.environ.get("STOCK_SUPERVISOR_VENV", REPO / ".venv-stock"))
        return [str(venv / "bin" / "supervisorctl")]
    return [str(Path(sys.executable).parent / "supervisorctl")]


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (not its children), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.005) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)


def program_section(name: str, command: str, **options: object) -> str:
    lines = [f"[program:{name}]", f"command={command}"]
    lines += [f"{key}={value}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


class BenchDaemon:
    """A supervisord in the foreground in its own temp dir; always cleaned up."""

    def __init__(self, impl: str, programs: str, loglevel: str = "info") -> None:
        self.impl = impl
        self.dir = Path(tempfile.mkdtemp(prefix=f"bench-{impl}-", dir="/tmp"))
        self.mainlog = self.dir / "supervisord.log"
        self.socket = self.dir / "supervisor.sock"
        self.conf = self.dir / "supervisord.conf"
        self.conf.write_text(
            "[supervisord]\n"
            f"logfile={self.mainlog}\n"
            f"pidfile={self.dir / 'supervisord.pid'}\n"
            f"childlogdir={self.dir}\n"
            f"loglevel={loglevel}\nnodaemon=true\nminfds=4096\nuser=root\n"
            f"[unix_http_server]\nfile={self.socket}\n"
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
            f"[supervisorctl]\nserverurl=unix://{self.socket}\n" + programs
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> BenchDaemon:
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [*supervisord_command(self.impl), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_text(self) -> str:
        try:
            return self.mainlog.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.log_text()))

    def wait_count(self, pattern: str, n: int, timeout: float = 60) -> float:
        """Seconds since start() until ``pattern`` has matched ``n`` times in the main log."""
        wait_for(lambda: self.count(pattern) >= n, timeout, f"{n} x {pattern!r}")
        return time.monotonic() - self.started_at

    def child_pids(self, name: str) -> list[int]:
        return [int(p) for p in re.findall(rf"spawned: '{name}' with pid (\d+)", self.log_text())]

    def ctl(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*supervisorctl_command(self.impl), "-c", str(self.conf), *args],
            capture_output=True,
            timeout=120,
        )

    def stop(self, timeout: float = 60) -> float:
        """SIGTERM and wait for exit; returns the seconds it took."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        return time.monotonic() - began

    def cleanup(self) -> None:
        try:
            self.stop(timeout=30)
        finally:
            if self.proc is not None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            # Children run in their own process groups: kill what the log says we spawned.
            for pid in re.findall(r"with pid (\d+)", self.log_text()):
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> BenchDaemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
