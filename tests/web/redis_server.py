"""A private redis-server on a unix socket in a temporary directory (no TCP port at all)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis


@dataclass
class RedisServer:
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def socket(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_redis(timeout: float = 10.0) -> RedisServer:
    # Short path under /tmp: a unix socket path must fit in 108 bytes.
    directory = Path(tempfile.mkdtemp(prefix="rds-", dir="/tmp"))
    socket = directory / "redis.sock"
    command = [
        "redis-server", "--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700",
        "--save", "", "--appendonly", "no", "--dir", str(directory),
        "--logfile", str(directory / "redis.log"),
    ]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    server = RedisServer(directory, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (directory / "redis.log").read_text(errors="replace")
            raise RuntimeError(f"redis-server exited with {process.returncode}: {log[-2000:]}")
        if socket.exists():
            try:
                if server.client().ping():
                    return server
            except redis.ConnectionError:
                pass
        time.sleep(0.02)
    server.stop()
    raise RuntimeError(f"redis-server did not answer on {socket} within {timeout}s")
