"""The daemons accept the configs we render: nginx -t, and redis/memcached really answer.

Each program is started from its parsed [program:x] section (command and directory as the
runtime would use them). Skipped when the daemon is not installed.
"""

from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hosting.catalog import ServiceSpec

from supervisor_runtime.config.loader import load_config
from tests.hosting.test_render_parsers import materialize


def needs(binary: str) -> None:
    if shutil.which(binary, path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
        pytest.skip(f"{binary} is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hd-", dir="/tmp")) / "srv"  # short: socket paths
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)


def program(root: Path, spec: ServiceSpec) -> tuple[list[str], str]:
    config = load_config(str(materialize(root, [spec])), environ={})
    (proc,) = [p for group in config.groups for p in group.processes if p.name == spec.name]
    return shlex.split(proc.command), proc.directory or "/"


@pytest.fixture
def run() -> Iterator[Callable[[list[str], str], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], cwd: str) -> subprocess.Popen[bytes]:
        argv[0] = shutil.which(argv[0], path="/usr/sbin:/usr/bin:/sbin:/bin") or argv[0]
        proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


def ask(address: str | tuple[str, int], request: bytes, deadline: float = 10.0) -> bytes:
    """Send ``request`` once the server accepts connections; the first reply chunk."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    end = time.monotonic() + deadline
    while True:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(address)
                sock.sendall(request)
                return sock.recv(4096)
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def test_nginx_accepts_its_conf(root: Path) -> None:
    needs("nginx")
    for spec in (
        ServiceSpec("nginx", "nginx", {"listen_port": free_port(), "static_dir": "app"}),
        ServiceSpec("nginx", "php-web", {"listen_port": free_port()}, "php"),
    ):
        argv, _cwd = program(root, spec)
        argv[0] = shutil.which("nginx", path="/usr/sbin:/usr/bin") or "nginx"
        result = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        assert "test is successful" in result.stderr


@pytest.mark.parametrize("use_socket", [True, False])
def test_redis_answers(root: Path, run: Callable, use_socket: bool) -> None:
    needs("redis-server")
    port = free_port()
    argv, cwd = program(root, ServiceSpec("redis", "redis", {"socket": use_socket, "port": port}))
    proc = run(argv, cwd)
    address = str(root / "run" / "redis.sock") if use_socket else ("127.0.0.1", port)
    assert ask(address, b"PING\r\n") == b"+PONG\r\n", proc
    if use_socket:
        assert (root / "run" / "redis.sock").stat().st_mode & 0o777 == 0o700


def test_memcached_answers(root: Path, run: Callable) -> None:
    needs("memcached")
    port = free_port()
    argv, cwd = program(root, ServiceSpec("memcached", "memcached", {"port": port}))
    run(argv, cwd)
    assert ask(("127.0.0.1", port), b"stats\r\n").startswith(b"STAT pid ")
