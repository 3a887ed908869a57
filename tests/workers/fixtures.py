"""The real parts the workers tests drive (see conftest.py)."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hosting import db, services
from hosting.log_reads import request_log
from hosting.models import App, Host, Job, Tenant
from hosting.queue import enqueue_job
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from workers.container import netns
from workers.front import socket_in_netns
from workers.host import HostConfig, host_runtime, render_host_config, start_host_runtime

REDIS_SERVER = "/usr/bin/redis-server"
DEBIAN_PYTHON = "/usr/bin/python3"
JOB_TIMEOUT = 40
WAIT_TIMEOUT = 15.0


def wait_until(check: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def base_dir() -> Iterator[Path]:
    """A short, traversable directory for everything of one test."""
    path = Path(tempfile.mkdtemp(prefix="hw-", dir="/tmp"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def redis_server_process(sock: Path, directory: Path) -> subprocess.Popen[bytes]:
    """A redis-server on the unix socket ``sock`` only (no TCP port), with no persistence."""
    return subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def redis_url(base_dir: Path) -> Iterator[str]:
    sock = base_dir / "redis.sock"
    process = redis_server_process(sock, base_dir)
    url = f"unix://{sock}"
    client = Redis.from_url(url)

    def pong() -> bool:
        try:
            return bool(client.ping())
        except Exception:
            return False

    try:
        wait_until(pong, 10, "redis-server to answer")
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "hosting.db"
    db.upgrade(f"sqlite:///{path}")
    return path


@dataclass
class Platform:
    """One test's platform: database, Redis, and the hosts it started."""

    base: Path
    database_url: str
    redis_url: str
    sessions: sessionmaker[Session]
    redis: Redis
    user_prefix: str
    hosts: dict[str, HostConfig] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    restarted_redis: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def restart_redis(self) -> None:
        """The platform's Redis stopped and started again empty (no persistence), as after
        a crash; the new server is stopped with the platform."""
        self.redis.shutdown(nosave=True)
        sock = Path(self.redis_url.removeprefix("unix://"))
        self.restarted_redis.append(redis_server_process(sock, self.base))

    # -- hosts -------------------------------------------------------------------------

    def add_host(self, name: str = "h1", workers: int = 2, **settings: Any) -> Host:
        """A host with its host runtime started; ``settings``: more HostConfig fields (or
        other values of the tests' defaults below)."""
        with self.sessions() as session:
            host = services.create_host(session, name, str(self.base / name / "apps"))
            session.commit()
        defaults: dict[str, Any] = {
            "job_timeout": JOB_TIMEOUT,
            "wait_timeout": WAIT_TIMEOUT,
            "runtime_python": DEBIAN_PYTHON if os.geteuid() == 0 else None,
            "status_interval": 0.5,
        }
        config = render_host_config(
            str(self.base / name / "host"),
            host.queue,
            redis_url=self.redis_url,
            database_url=self.database_url,
            workers=workers,
            user_prefix=self.user_prefix,
            **{**defaults, **settings},
        )
        self.hosts[name] = config
        self.processes[name] = start_host_runtime(config)
        with host_runtime(config) as runtime:
            runtime.wait_up(15)
            wait_until(
                lambda: all(
                    info["statename"] == "RUNNING"
                    for info in runtime.processes()
                    if info["group"].startswith("worker-")
                ),
                15,
                "the host's workers",
            )
        return host

    def stop_hosts(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(JOB_TIMEOUT + 10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    # -- data --------------------------------------------------------------------------

    def create_app(
        self, host: str = "h1", name: str = "web", *, tenant: str = "acme"
    ) -> tuple[int, int]:
        """An app (tech custom: python's http.server on a free port); returns (app id, port)."""
        port = free_port()
        with self.sessions() as session:
            tenant_row = session.query(Tenant).filter_by(slug=tenant).one_or_none()
            if tenant_row is None:
                tenant_row = services.create_tenant(session, tenant.title(), tenant)
            host_row = session.query(Host).filter_by(name=host).one()
            command = f"{DEBIAN_PYTHON} -m http.server --bind 127.0.0.1 {port}"
            app = services.create_app(session, tenant_row, host_row, name, "custom", command)
            services.update_service(
                session, services.service_named(session, app, "app"), {"port": port}
            )
            session.commit()
            return app.id, port

    def enqueue(self, kind: str, app_id: int, **arguments: Any) -> str:
        with self.sessions() as session:
            app = session.get(App, app_id)
            job = enqueue_job(
                session,
                self.redis,
                kind=kind,
                host=app.host,
                app=app,
                actor="test",
                arguments=arguments or None,
            )
            return job.id

    def job(self, job_id: str) -> Job:
        with self.sessions() as session:
            return session.get(Job, job_id)

    def wait_job(self, job_id: str, timeout: float = 60) -> Job:
        job = wait_until(
            lambda: (j := self.job(job_id)).finished and j, timeout, f"job {job_id}", step=0.1
        )
        return job

    def run(self, kind: str, app_id: int, timeout: float = 60, **arguments: Any) -> Job:
        """Enqueue and wait; the job must succeed."""
        job = self.wait_job(self.enqueue(kind, app_id, **arguments), timeout)
        assert job.status == "done", f"{kind} failed: {job.error}\n{job.log_tail}"
        return job

    def read_log(
        self, app_id: int, program: str = "app", channel: str = "stdout", size: int = 64 * 1024
    ) -> str:
        """A log read as the panel asks for one (no Job): a worker of the app's host answers;
        ``hosting.log_reads.LogUnavailable`` when it cannot."""
        with self.sessions() as session:
            queue = session.get(App, app_id).host.queue
        return request_log(self.redis, queue, app_id, program, channel, size)

    def add_user(
        self, email: str, password: str, *, tenant: str | None = "acme", is_admin: bool = False
    ) -> int:
        """A user of the panel, an owner of ``tenant`` (which exists); returns its id."""
        with self.sessions() as session:
            user = services.create_user(session, email, password, is_admin=is_admin)
            if tenant is not None:
                row = session.query(Tenant).filter_by(slug=tenant).one()
                services.add_member(session, row, user, "owner")
            session.commit()
            return user.id

    def panel(self, **config: Any) -> Any:
        """The panel (admin_web) over this platform's database and Redis."""
        from admin_web import create_app

        return create_app(
            {
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "HOSTING_DATA_DIR": str(self.base),
                **config,
            }
        )

    def app_root(self, app_id: int) -> Path:
        with self.sessions() as session:
            return Path(session.get(App, app_id).root)

    def app_serverurl(self, app_id: int) -> str:
        return f"unix://{self.app_root(app_id)}/run/supervisor.sock"

    def host_of(self, app_id: int) -> HostConfig:
        with self.sessions() as session:
            return self.hosts[session.get(App, app_id).host.name]

    def app_socket(self, app_id: int, port: int, timeout: float = 2) -> socket.socket:
        """A TCP connection to ``port`` where the app's programs listen: 127.0.0.1 of its
        own network namespace (with containers; as the front reaches it), else the host's."""
        if not self.host_of(app_id).containers:
            return socket.create_connection(("127.0.0.1", port), timeout)
        key = f"{self.user_prefix}{app_id}"
        sock = socket_in_netns(str(netns.path_of(netns.name_for(key))))
        try:
            sock.settimeout(timeout)
            sock.connect(("127.0.0.1", port))
        except BaseException:
            sock.close()
            raise
        return sock

    def http_get(self, app_id: int, port: int, path: str = "/") -> bytes:
        """GET ``path`` from the app where it listens (see ``app_socket``); the body of a
        200 answer, OSError otherwise."""
        with self.app_socket(app_id, port) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise OSError(f"the app answered {head[:40]!r}")
        return body

    def container_init(self, app_id: int) -> int:
        """The host PID of the app's container's PID 1 (its runtime)."""
        from workers.container.enter import container_init
        from workers.container.spec import load_spec
        from workers.tenants import spec_path

        with self.sessions() as session:
            name = session.get(App, app_id).name
        return container_init(load_spec(spec_path(self.host_of(app_id), name)))


def _leftovers(prefix: str) -> list[tuple[int, str]]:
    """Processes still running as one of this test's app users: (pid, command line)."""
    uids = {entry.pw_uid for entry in pwd.getpwall() if entry.pw_name.startswith(prefix)}
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if proc.stat().st_uid in uids:
                    command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    found.append((int(proc.name), command.strip()))
            except OSError:
                continue
    return found


def _remove_containers(prefix: str) -> None:
    """The cgroups and network namespaces of this test's apps (their users' names)."""
    from workers.container import cgroups

    try:
        cgroups.detect()
    except cgroups.CgroupError:
        return
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(prefix):
            cgroups.remove_app(entry.pw_name)
            netns.remove(netns.name_for(entry.pw_name))


def _delete_users(prefix: str) -> list[tuple[int, str]]:
    """Remove this test's app users; returns the processes of theirs that were left (and
    are killed here, so nothing outlives the test)."""
    left = _leftovers(prefix)
    for pid, _command in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(prefix):
            subprocess.run(["userdel", entry.pw_name], capture_output=True, check=False)
    return left


@pytest.fixture
def platform(base_dir: Path, redis_url: str, sqlite_template: Path) -> Iterator[Platform]:
    database = base_dir / "hosting.db"
    shutil.copyfile(sqlite_template, database)
    database_url = f"sqlite:///{database}"
    engine = db.make_engine(database_url)
    redis = Redis.from_url(redis_url)
    prefix = f"t{secrets.token_hex(3)}-"
    result = Platform(
        base=base_dir,
        database_url=database_url,
        redis_url=redis_url,
        sessions=db.make_session_factory(engine),
        redis=redis,
        user_prefix=prefix,
    )
    try:
        yield result
    finally:
        result.stop_hosts()
        for server in result.restarted_redis:
            server.terminate()
            server.wait(10)
        redis.close()
        engine.dispose()
        if os.geteuid() == 0:
            _remove_containers(prefix)
            left = _delete_users(prefix)
            assert not left, f"processes outlived the host runtime: {left}"
