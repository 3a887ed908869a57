"""``hostingctl``: the operator's command line. It enqueues the same jobs as the panel.

Settings come from the environment (``hosting.settings``: DATABASE_URL, REDIS_URL, ...) or
``--database-url`` / ``--redis-url``. Commands that enqueue a job wait for it and show its
progress (queued -> running -> done/failed, with the error and log tail on failure) unless
``--no-wait`` is given. Exit status: 0 done, 1 failed, 2 bad input, 3 timed out waiting.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from hosting import db, services
from hosting.catalog import TECHS
from hosting.errors import HostingError, InvalidInput, NotFound
from hosting.job_records import get_job
from hosting.models import App, Host, Job, Service, Tenant
from hosting.queue import enqueue_job
from hosting.settings import load_settings
from sqlalchemy import select
from sqlalchemy.orm import Session

EXIT_FAILED, EXIT_INPUT, EXIT_TIMEOUT = 1, 2, 3
TOGGLE_KINDS = ("memcached", "redis")


class Cli:
    def __init__(self, args: argparse.Namespace) -> None:
        settings = load_settings()
        self.args = args
        self.database_url = args.database_url or settings.database_url
        self.redis_url = args.redis_url or settings.redis_url
        self.engine = db.make_engine(self.database_url)
        self.sessions = db.make_session_factory(self.engine)
        self.actor = f"cli:{getpass.getuser()}"

    def redis(self) -> Any:
        from redis import Redis

        return Redis.from_url(self.redis_url)

    def out(self, text: str) -> None:
        print(text, flush=True)

    # -- lookups -----------------------------------------------------------------------

    def find_app(self, session: Session, name: str) -> App:
        """``app`` or ``host/app``."""
        host_name, _, app_name = name.rpartition("/")
        statement = select(App).join(Host).where(App.name == app_name)
        if host_name:
            statement = statement.where(Host.name == host_name)
        apps = list(session.scalars(statement))
        if not apps:
            raise NotFound(f"no app {name!r}")
        if len(apps) > 1:
            hosts = ", ".join(f"{app.host.name}/{app.name}" for app in apps)
            raise InvalidInput("app", f"{name!r} is on several hosts; say which: {hosts}")
        return apps[0]

    # -- jobs --------------------------------------------------------------------------

    def enqueue(self, session: Session, kind: str, app: App, **arguments: Any) -> int:
        job = enqueue_job(
            session,
            self.redis(),
            kind=kind,
            host=app.host,
            app=app,
            actor=self.actor,
            arguments=arguments or None,
        )
        self.out(f"job {job.id} {kind} {app.host.name}/{app.name}: queued")
        if self.args.no_wait:
            return 0
        return self.wait(job.id)

    def wait(self, job_id: str) -> int:
        deadline = time.monotonic() + self.args.timeout
        seen: tuple[Any, ...] = ("queued", 0, None)
        while True:
            with self.sessions() as session:
                job = get_job(session, job_id)
                retry_note = job.error if job.status == "queued" else None
                state = (job.status, job.attempts, retry_note)
                if state != seen:
                    note = f" (attempt {job.attempts})" if job.status == "running" else ""
                    note = f" ({retry_note})" if retry_note else note
                    self.out(f"job {job.id}: {job.status}{note}")
                    seen = state
                if job.finished:
                    return self.report(job)
            if time.monotonic() > deadline:
                self.out(
                    f"job {job_id}: still {seen[0]} after {self.args.timeout:g}s;"
                    " see `hostingctl jobs`"
                )
                return EXIT_TIMEOUT
            time.sleep(0.2)

    def report(self, job: Job) -> int:
        if job.status == "failed":
            self.out(f"error: {job.error}")
            if job.log_tail:
                self.out("--- log tail ---")
                self.out(job.log_tail.rstrip("\n"))
            return EXIT_FAILED
        result = job.result
        if isinstance(result, dict) and "text" in result:
            sys.stdout.write(result["text"])
            sys.stdout.flush()
        elif result is not None:
            self.out(json.dumps(result, indent=2, sort_keys=True))
        return 0

    # -- commands ----------------------------------------------------------------------

    def cmd_db_upgrade(self) -> int:
        db.upgrade(self.database_url)
        self.out(f"database at {db.current_revision(self.database_url)}")
        return 0

    def cmd_create_host(self) -> int:
        a = self.args
        with self.sessions() as session:
            host = services.create_host(session, a.name, a.apps_root, a.queue)
            session.commit()
            self.out(f"host {host.name}: queue {host.queue}, apps in {host.apps_root}")
            queue = host.queue
        if a.host_root:
            from workers.host import host_runtime_command, render_host_config

            config = render_host_config(
                a.host_root,
                queue,
                redis_url=self.redis_url,
                database_url=self.database_url,
                workers=a.workers,
                runtime_python=a.runtime_python,
            )
            self.out(f"host runtime config: {config.conf}")
            self.out("start it with: " + " ".join(host_runtime_command(config)))
        return 0

    def cmd_create_tenant(self) -> int:
        with self.sessions() as session:
            tenant = services.create_tenant(session, self.args.name, self.args.slug)
            session.commit()
            self.out(f"tenant {tenant.slug} ({tenant.name}), id {tenant.id}")
        return 0

    def _password(self) -> str:
        if self.args.password_stdin:
            return sys.stdin.readline().rstrip("\n")
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise InvalidInput("password", "the two passwords differ")
        return first

    def cmd_create_user(self) -> int:
        a = self.args
        password = self._password()
        with self.sessions() as session:
            user = services.create_user(session, a.email, password, is_admin=a.admin)
            if a.tenant:
                tenant = session.scalars(select(Tenant).where(Tenant.slug == a.tenant)).first()
                if tenant is None:
                    raise NotFound(f"no tenant {a.tenant!r}")
                services.add_member(session, tenant, user, a.role)
            session.commit()
            self.out(f"user {user.email}, id {user.id}{' (admin)' if user.is_admin else ''}")
        return 0

    def cmd_create_app(self) -> int:
        a = self.args
        with self.sessions() as session:
            tenant = session.scalars(select(Tenant).where(Tenant.slug == a.tenant)).first()
            host = session.scalars(select(Host).where(Host.name == a.host)).first()
            if tenant is None:
                raise NotFound(f"no tenant {a.tenant!r}")
            if host is None:
                raise NotFound(f"no host {a.host!r}")
            app = services.create_app(session, tenant, host, a.name, a.tech, a.command)
            session.commit()
            return self.enqueue(session, "create_app", app)

    def _toggle(self, enabled: bool) -> int:
        a = self.args
        with self.sessions() as session:
            app = self.find_app(session, a.app)
            service = session.scalars(
                select(Service).where(Service.app_id == app.id, Service.kind == a.kind)
            ).first()
            if service is None and enabled:
                services.add_service(session, app, a.kind)
            elif service is not None:
                services.set_service_enabled(session, service, enabled)
            session.commit()
            return self.enqueue(session, "apply_services", app)

    def cmd_enable(self) -> int:
        return self._toggle(True)

    def cmd_disable(self) -> int:
        return self._toggle(False)

    def _action(self, action: str) -> int:
        with self.sessions() as session:
            app = self.find_app(session, self.args.app)
            return self.enqueue(
                session, "program_action", app, action=action, program=self.args.program
            )

    def cmd_restart(self) -> int:
        return self._action("restart")

    def cmd_start(self) -> int:
        return self._action("start")

    def cmd_stop(self) -> int:
        return self._action("stop")

    def cmd_apply(self) -> int:
        with self.sessions() as session:
            return self.enqueue(session, "apply_services", self.find_app(session, self.args.app))

    def cmd_delete_app(self) -> int:
        with self.sessions() as session:
            return self.enqueue(session, "delete_app", self.find_app(session, self.args.app))

    def cmd_logs(self) -> int:
        a = self.args
        with self.sessions() as session:
            app = self.find_app(session, a.app)
            channel = "stderr" if a.stderr else "stdout"
            return self.enqueue(
                session, "read_log", app, program=a.program, channel=channel, bytes=a.bytes
            )

    def cmd_jobs(self) -> int:
        with self.sessions() as session:
            statement = select(Job).order_by(Job.created_at.desc()).limit(self.args.limit)
            if self.args.app:
                statement = statement.where(Job.app_id == self.find_app(session, self.args.app).id)
            for job in session.scalars(statement):
                app = job.app.name if job.app is not None else "-"
                when = job.created_at.strftime("%Y-%m-%d %H:%M:%S")
                line = f"{when}  {job.id}  {job.kind:<15} {app:<20} {job.status:<8} {job.actor}"
                self.out(line)
                if job.status == "failed" and job.error:
                    self.out(f"    error: {job.error.splitlines()[0]}")
        return 0

    def cmd_run_host(self) -> int:
        from workers.host import HostConfig, host_runtime_command

        command = host_runtime_command(HostConfig.load(self.args.host_root))
        os.execv(command[0], command)
        return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostingctl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="default $DATABASE_URL")
    parser.add_argument("--redis-url", help="default $REDIS_URL")
    parser.add_argument("--no-wait", action="store_true", help="enqueue and return")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for a job")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help)
        sub.set_defaults(handler="cmd_" + name.replace("-", "_"))
        return sub

    dbp = commands.add_parser("db", help="database schema")
    dbp.add_subparsers(dest="db_command", required=True).add_parser(
        "upgrade", help="migrate to the newest revision"
    ).set_defaults(handler="cmd_db_upgrade")

    sub = command("create-host", "add a host (and write its host runtime config)")
    sub.add_argument("name")
    sub.add_argument("--apps-root", required=True, help="where its apps' roots live")
    sub.add_argument("--queue", help="its RQ queue (default host.<name>)")
    sub.add_argument("--host-root", help="write the host runtime's config here")
    sub.add_argument("--workers", type=int, default=2, help="RQ worker processes")
    sub.add_argument("--runtime-python", help="interpreter for tenant runtimes")

    sub = command("run-host", "run a host runtime in the foreground")
    sub.add_argument("--host-root", help="default $HOSTING_HOST_ROOT")

    sub = command("create-tenant", "add a tenant (a customer company)")
    sub.add_argument("name")
    sub.add_argument("--slug")

    sub = command("create-user", "add a user (password asked, or read from stdin)")
    sub.add_argument("email")
    sub.add_argument("--admin", action="store_true")
    sub.add_argument("--tenant", help="make the user a member of this tenant (slug)")
    sub.add_argument("--role", default="member", choices=("owner", "member"))
    sub.add_argument("--password-stdin", action="store_true")

    sub = command("create-app", "add an app and create it on its host")
    sub.add_argument("tenant", help="tenant slug")
    sub.add_argument("host", help="host name")
    sub.add_argument("name")
    sub.add_argument("--tech", required=True, choices=TECHS)
    sub.add_argument("--command", help="the command of a custom app")

    for name, doc in (("enable", "enable a service"), ("disable", "disable a service")):
        sub = command(name, f"{doc} and apply")
        sub.add_argument("app", help="app or host/app")
        sub.add_argument("kind", choices=TOGGLE_KINDS)

    for name in ("restart", "start", "stop"):
        sub = command(name, f"{name} a program (all by default)")
        sub.add_argument("app", help="app or host/app")
        sub.add_argument("program", nargs="?", default="all")

    sub = command("apply", "apply the app's services again")
    sub.add_argument("app")
    sub = command("delete-app", "stop and remove an app (its logs stay)")
    sub.add_argument("app")

    sub = command("logs", "the tail of a program's log")
    sub.add_argument("app", help="app or host/app")
    sub.add_argument("program", nargs="?", default="app")
    sub.add_argument("--stderr", action="store_true")
    sub.add_argument("--bytes", type=int, default=16 * 1024)

    sub = command("jobs", "recent jobs and their results")
    sub.add_argument("--app", help="only this app's")
    sub.add_argument("--limit", type=int, default=30)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli = Cli(args)
    try:
        return getattr(cli, args.handler)()
    except (HostingError, ValueError) as exc:
        print(f"hostingctl: {exc}", file=sys.stderr)
        return EXIT_INPUT
    finally:
        cli.engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
