"""The whole platform on one machine, from one command (``scripts/run``).

    python -m local_platform          # start (or restart) everything; Ctrl-C stops it all
    python -m local_platform stop     # stop a running one from another terminal

Everything lives under the data directory (``HOSTING_DATA_DIR``, default the ``.run`` beside
the virtualenv, ``hosting.settings.local_data_dir``): ``platform.env`` (the settings that
``hostingctl``, the panel and the migrations find there with no environment), a SQLite
database, a host runtime (our supervisord) that runs Redis for the job queue, the panel
(gunicorn) on http://127.0.0.1:8000, the RQ workers, the status poller and one tenant
runtime per app. A demo tenant with an app (a tiny HTTP server as ``app``) plus memcached
is created through the same jobs the panel enqueues. A second start reuses all of it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hosting import db, services
from hosting.job_records import wait_for_job
from hosting.models import App, Host, Tenant, User
from hosting.program_section import program_section
from hosting.queue import enqueue_job
from hosting.settings import REDIS_SOCKET, SETTINGS_FILE, local_data_dir, settings_text
from hosting.validation import format_environment
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from local_platform import leftovers
from supervisor_runtime.ctl.client import connect
from workers.files import atomic_write
from workers.host import (
    HELPER_START_RETRIES,
    HELPER_START_SECONDS,
    PLATFORM_DIR,
    HostConfig,
    render_host_config,
    start_host_runtime,
)
from workers.status import host_apps

# Overridable so that tests can run it beside other servers on this machine.
PANEL_ADDRESS = os.environ.get("PANEL_ADDRESS", "127.0.0.1:8000")
# Threads per panel process: more than its event streams (admin_web.config
# EVENT_STREAMS_MAX, 24), so pages and forms still find a thread with every stream open.
PANEL_THREADS = 32
DEMO_APP_PORT = int(os.environ.get("DEMO_APP_PORT", "8080"))
# Without containers every app shares the host's loopback: memcached then needs a free port.
DEMO_MEMCACHED_PORT = int(os.environ.get("DEMO_MEMCACHED_PORT", "11211"))
QUEUE = "local"
DEMO_TENANT = "Demo Company"
DEMO_EMAIL = "demo@example.com"
ADMIN_EMAIL = "admin@example.com"
DEMO_APP = "demo"
DEMO_APP_SOURCE = '''"""The demo app: a tiny HTTP server on $PORT (8080) that logs each request."""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"Hello from the demo app\\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


port = int(os.environ.get("PORT", "8080"))
print(f"demo app listening on 127.0.0.1:{port}", flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Hello).serve_forever()
'''


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


class StopRequested(Exception):
    """Ctrl-C or `scripts/run stop` arrived while we were waiting for something."""


def wait_until(
    check: Callable[[], Any],
    timeout: float,
    what: str,
    stop: Callable[[], bool] = lambda: False,
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        if stop():
            raise StopRequested
        try:
            result = check()
        except Exception:  # not up yet: connection refused, no socket...
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise SystemExit(f"error: timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.2)


def secret_file(path: Path, make: Callable[[], str]) -> str:
    """A value kept in a 0600 file: made on the first start, reused after."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def runtime_python() -> str | None:
    """An interpreter app users can run, when tenant runtimes run as app users (root)."""
    if os.getuid() != 0:
        return None
    candidate = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    return candidate if candidate and os.access(candidate, os.X_OK) else None


class LocalPlatform:
    def __init__(self, data_dir: Path) -> None:
        self.data = data_dir
        self.redis_socket = data_dir / REDIS_SOCKET
        # Local mode's defaults live here; write_settings_file() records them for the rest.
        self.database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'hosting.db'}"
        self.apps_root = data_dir / "apps"
        self.host_root = data_dir / "host"
        self.settings_file = data_dir / SETTINGS_FILE
        self.pidfile = data_dir / "platform.pid"
        self.stop: Callable[[], bool] = lambda: False  # replaced by start()

    # -- the host runtime and what it runs -----------------------------------------------

    @property
    def redis_password(self) -> str:
        return secret_file(self.data / "redis-password", lambda: secrets.token_hex(16))

    @property
    def redis_url(self) -> str:
        """The platform's Redis: a unix socket in the data directory, with a password."""
        return f"unix://:{self.redis_password}@{self.redis_socket}"

    def write_redis_conf(self) -> Path:
        """Redis's settings, in a file of the platform's own (not on a command line that
        anyone on the machine can read in /proc)."""
        path = self.data / "redis-platform.conf"
        lines = [
            "port 0",
            f"unixsocket {self.redis_socket}",
            "unixsocketperm 700",
            f"dir {self.data}",
            # The queue survives a restart (jobs are also pushed again from the database
            # by the reconciler, whatever Redis kept).
            'save ""',
            "appendonly yes",
            "appendfsync everysec",
            f"requirepass {self.redis_password}",
        ]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        return path

    def write_settings_file(self) -> None:
        """``<data dir>/platform.env`` (0600): where hostingctl, the panel and the migrations
        find this platform (``hosting.settings``), with no environment needed."""
        values = {
            "HOSTING_DATA_DIR": str(self.data),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "APPS_ROOT": str(self.apps_root),
            "HOSTING_HOST_ROOT": str(self.host_root),
        }
        atomic_write(self.settings_file, settings_text(values), 0o600)

    def write_host_config(self) -> HostConfig:
        config = render_host_config(
            str(self.host_root),
            QUEUE,
            redis_url=self.redis_url,
            database_url=self.database_url,
            workers=2,
            runtime_python=runtime_python(),
            front_tcp={DEMO_APP: f"127.0.0.1:{DEMO_APP_PORT}"},
        )
        platform_dir = Path(config.root) / PLATFORM_DIR
        env = {
            "HOSTING_SETTINGS": str(self.settings_file),
            # Plain http on 127.0.0.1 only: secure cookies would never come back.
            "PANEL_ALLOW_HTTP": "1",
        }
        bin_dir = Path(sys.executable).parent
        redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
        redis = [
            (
                "command",
                f"{redis_server} {self.write_redis_conf()}",
            ),
            ("priority", "100"),
            ("startsecs", HELPER_START_SECONDS),
            ("startretries", HELPER_START_RETRIES),
            ("autorestart", "true"),
            ("stdout_logfile", f"{self.host_root}/log/redis.log"),
            ("redirect_stderr", "true"),
        ]
        (platform_dir / "redis.conf").write_text(program_section("redis", redis))
        web = [
            (
                "command",
                f"{shlex.quote(str(bin_dir / 'gunicorn'))} --bind {PANEL_ADDRESS} "
                # gthread: an open event stream (admin_web.live) holds a thread, not a
                # whole worker; a short graceful stop, as browsers reconnect by themselves.
                f"--workers 2 --worker-class gthread --threads {PANEL_THREADS} "
                "--graceful-timeout 5 --access-logfile - 'admin_web:create_app()'",
            ),
            ("environment", format_environment(env)),
            ("directory", str(self.data)),
            ("priority", "500"),
            ("startsecs", HELPER_START_SECONDS),
            ("startretries", HELPER_START_RETRIES),
            ("autorestart", "true"),
            ("stopwaitsecs", "10"),
            ("stdout_logfile", f"{self.host_root}/log/web.log"),
            ("stdout_logfile_maxbytes", "2MB"),
            ("stdout_logfile_backups", "2"),
            ("redirect_stderr", "true"),
        ]
        (platform_dir / "web.conf").write_text(program_section("web", web))
        return config

    def start(self) -> int:
        # What the platform writes is its own: the database, secrets, logs, sockets.
        os.umask(0o077)
        self.data.mkdir(parents=True, exist_ok=True)
        self.data.chmod(0o711)  # tenants pass through to their roots, and see nothing else
        self.apps_root.mkdir(parents=True, exist_ok=True)
        self.apps_root.chmod(0o711)
        check_reachable_by_app_users(self.apps_root)
        if (other := self.running_pid()) is not None:
            raise SystemExit(
                f"error: the platform is already running (pid {other}); "
                "stop it with: scripts/run stop"
            )
        self.stop = _stop_flag()  # first: a stop request must always end in a clean stop
        self.pidfile.write_text(f"{os.getpid()}\n")
        runtime = None
        try:
            self.write_settings_file()
            say(f"settings {self.settings_file}; database {self.database_url}")
            db.upgrade(self.database_url)
            say("host runtime: Redis, panel, workers")
            config = self.write_host_config()
            say_containers(config)
            runtime = start_host_runtime(config)
            self._serve(config, runtime)
        except StopRequested:
            pass
        finally:
            if runtime is not None:
                self._stop_runtime(config, runtime)
            self.pidfile.unlink(missing_ok=True)
        return 0

    def _serve(self, config: HostConfig, runtime: subprocess.Popen[bytes]) -> None:
        stop = self.stop
        wait_until(lambda: self._all_running(config), 60, "the host runtime's programs", stop)
        say("demo tenant, users and app")
        summary = self.ensure_demo()
        wait_until(lambda: _http_ok(f"http://{PANEL_ADDRESS}/login"), 60, "the panel", stop)
        print(summary, flush=True)
        while not stop() and runtime.poll() is None:
            time.sleep(0.5)
        if runtime.poll() is not None:
            say(f"the host runtime exited ({runtime.returncode}); see {config.root}/log")

    def _all_running(self, config: HostConfig) -> bool:
        with connect(config.serverurl, timeout=5) as proxy:
            infos = proxy.supervisor.getAllProcessInfo()
        return bool(infos) and all(
            info["statename"] == "RUNNING"
            for info in infos
            if not info["group"].startswith("tenant-")
        )

    def _stop_runtime(self, config: HostConfig, runtime: subprocess.Popen[bytes]) -> None:
        if runtime.poll() is None:
            say("stopping: apps, workers, panel, Redis")
            runtime.send_signal(signal.SIGTERM)
            try:
                runtime.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(runtime.pid, signal.SIGKILL)
                runtime.wait()
                say(f"the host runtime did not stop in 120 s and was killed; see {config.root}/log")
        # Checked, not assumed: anything of ours still running is killed, or named.
        found, survivors = leftovers.end(self._leftover_marks(config, runtime.pid))
        say(leftovers.report(found, survivors))

    def _leftover_marks(self, config: HostConfig, session: int) -> leftovers.Marks:
        """What marks a process as this platform's (local_platform.leftovers)."""
        marks = leftovers.Marks(session=session, roots=[config.root, str(self.apps_root)])
        engine = db.make_engine(self.database_url)
        try:
            for app in host_apps(db.make_session_factory(engine), config):
                marks.add_app(app.name, app.user, config.containers)
        finally:
            engine.dispose()
        return marks

    def running_pid(self) -> int | None:
        """The launcher's pid from the pidfile, if that process is still this launcher."""
        try:
            pid = int(self.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"local_platform" in cmdline else None

    # -- demo data ---------------------------------------------------------------------

    def ensure_demo(self) -> str:
        def password() -> str:
            return secrets.token_urlsafe(12)

        admin_password = secret_file(self.data / "admin-password", password)
        demo_password = secret_file(self.data / "demo-password", password)
        engine = db.make_engine(self.database_url)
        sessions = db.make_session_factory(engine)
        with sessions() as session:
            host = self._one(session, Host, Host.name == "local") or services.create_host(
                session, "local", str(self.apps_root), QUEUE
            )
            tenant = self._one(
                session, Tenant, Tenant.name == DEMO_TENANT
            ) or services.create_tenant(session, DEMO_TENANT)
            if self._one(session, User, User.email == ADMIN_EMAIL) is None:
                services.create_user(session, ADMIN_EMAIL, admin_password, is_admin=True)
            demo = self._one(session, User, User.email == DEMO_EMAIL)
            if demo is None:
                demo = services.create_user(session, DEMO_EMAIL, demo_password)
                services.add_member(session, tenant, demo)
            app = self._one(session, App, App.name == DEMO_APP)
            new_app = app is None
            if app is None:
                app = services.create_app(
                    session, tenant, host, DEMO_APP, "custom", "python3 server.py"
                )
                services.update_service(
                    session, services.service_named(session, app, "app"), {"port": DEMO_APP_PORT}
                )
                isolated = HostConfig.load(self.host_root).containers
                settings = {} if isolated else {"port": DEMO_MEMCACHED_PORT}
                services.add_service(session, app, "memcached", settings=settings)
            session.commit()
            token = self._api_token(session, demo)
            if new_app:
                # The program file first: create_app starts the tenant runtime and its app.
                source = Path(app.root) / "app" / "server.py"
                source.parent.mkdir(parents=True, exist_ok=True)
                source.write_text(DEMO_APP_SOURCE)
                source.chmod(0o644)  # the app's user reads it
                self._run_job(sessions, session, "create_app", host, app, demo)
                self._run_job(sessions, session, "apply_services", host, app, demo)
            root = app.root
        engine.dispose()
        return (
            "\n"
            f"  Panel:      http://{PANEL_ADDRESS}/\n"
            f"  Customer:   {DEMO_EMAIL} / {demo_password}\n"
            f"  Operator:   {ADMIN_EMAIL} / {admin_password}\n"
            f"  API token:  {token}\n"
            f"  API:        curl -H 'Authorization: Bearer {token}' "
            f"http://{PANEL_ADDRESS}/api/v1/apps\n"
            f"  Demo app:   {root}  (its app answers on http://127.0.0.1:{DEMO_APP_PORT}/)\n"
            f"  SSH-style:  {self._ssh_style(root)}\n"
            "\n  Ctrl-C (or `scripts/run stop` elsewhere) stops everything.\n"
        )

    def _ssh_style(self, root: str) -> str:
        """How to act as the demo tenant, as an SSH login would."""
        if HostConfig.load(self.host_root).containers:
            hostingctl = Path(sys.executable).parent / "hostingctl"
            return f"{hostingctl} exec {DEMO_APP} -- supervisorctl status"
        supervisorctl = Path(sys.executable).parent / "supervisorctl"
        return f"{supervisorctl} -c {root}/conf/supervisord.conf status"

    def _api_token(self, session: Session, user: User) -> str:
        from hosting.tokens import create_token, verify_token

        path = self.data / "demo-api-token"
        if path.exists():
            token = path.read_text(encoding="utf-8").strip()
            if verify_token(session, token) is not None:
                return token
            path.unlink()
        _, token = create_token(session, user, "demo (scripts/run)")
        session.commit()
        return secret_file(path, lambda: token)

    def _run_job(
        self,
        sessions: sessionmaker[Session],
        session: Session,
        kind: str,
        host: Host,
        app: App,
        user: User,
    ) -> None:
        from redis import Redis

        job = enqueue_job(
            session,
            Redis.from_url(self.redis_url),
            kind=kind,
            host=host,
            app=app,
            user=user,
            actor="scripts/run",
        )
        say(f"job {kind}: queued")
        timeout = 180
        job = wait_for_job(
            sessions,
            job.id,
            timeout=timeout,
            on_change=lambda row: say(f"job {kind}: {row.status}"),
            cancelled=self.stop,
        )
        if job.status == "failed":
            raise SystemExit(f"error: {kind} failed: {job.error}\n{job.log_tail or ''}")
        if not job.finished:
            if self.stop():
                raise StopRequested
            raise SystemExit(f"error: timed out after {timeout:g}s waiting for the {kind} job")

    @staticmethod
    def _one(session: Session, model: Any, condition: Any) -> Any:
        return session.scalars(select(model).where(condition)).first()


def say_containers(config: HostConfig) -> None:
    if config.containers:
        say("tenants run in containers (bubblewrap, own network, PID namespace and cgroup)")
        return
    bar = "!" * 78
    print(
        f"{bar}\n!! tenants run WITHOUT containers: {config.containers_off}\n"
        "!! they share this machine's network, processes and files; fine for a try-out,\n"
        "!! never for customers. Run scripts/run as root to keep them apart.\n"
        f"{bar}",
        flush=True,
    )


def check_reachable_by_app_users(path: Path) -> None:
    """As root, each app's runtime runs as the app's own user, who must be able to reach
    its root: every directory above the apps root must be searchable by others."""
    if os.getuid() != 0:
        return
    for directory in [path, *path.parents]:
        if not os.stat(directory).st_mode & 0o001:
            raise SystemExit(
                f"error: {directory} is not searchable by other users, so the apps' own "
                f"users cannot reach {path}; use another HOSTING_DATA_DIR or "
                f"`chmod o+x {directory}`"
            )


def _http_ok(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own panel
        return bool(response.status == 200)


def _stop_flag() -> Callable[[], bool]:
    """Ctrl-C and SIGTERM only set a flag: the main loop then stops everything in order."""
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return lambda: stopping


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs="?", default="run", choices=["run", "stop"])
    args = parser.parse_args(argv)
    data_dir = Path(os.environ.get("HOSTING_DATA_DIR") or local_data_dir()).absolute()
    platform = LocalPlatform(data_dir)
    if args.command == "stop":
        pid = platform.running_pid()
        if pid is None:
            print("the platform is not running")
            return 0
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: platform.running_pid() is None, 150, "the platform to stop")
        print("stopped")
        return 0
    return platform.start()


if __name__ == "__main__":
    raise SystemExit(main())
