"""``hostingctl``: the operator's command line. It runs the same commands as the panel
(``hosting.commands``), as an operator: no User row, recorded as ``cli:<login>``, every app.

Settings are the platform's (``hosting.settings``: the environment over the settings file
that scripts/run or the roles write, found with no environment at all), or
``--database-url`` / ``--redis-url``; commands that need neither (program-file, exec, enter)
read none. Commands that enqueue a job wait for it and show its
progress (queued -> running -> done/failed, with the error and log tail on failure) unless
``--no-wait`` is given. Exit status: 0 done, 1 failed, 2 bad input, 3 timed out waiting.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hosting import commands, db, services
from hosting.app_spec import AppSpec, read_spec, spec_of, spec_text
from hosting.catalog import TECHS
from hosting.commands import TOGGLE_KINDS, Actor
from hosting.errors import HostingError, InvalidInput, NotFound
from hosting.job_records import wait_for_job
from hosting.log_reads import MAX_LOG_BYTES, LogUnavailable
from hosting.models import Job, Tenant
from hosting.queue import waits_for_redis
from hosting.settings import Settings, load_settings
from redis.exceptions import RedisError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

EXIT_FAILED, EXIT_INPUT, EXIT_TIMEOUT = 1, 2, 3


class Cli:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.actor = Actor.operator(f"cli:{getpass.getuser()}")
        self._engine: Engine | None = None
        self._settings: Settings | None = None

    def settings(self) -> Settings:
        """The platform's settings, read on first use, the options over them."""
        if self._settings is None:
            given = {"DATABASE_URL": self.args.database_url, "REDIS_URL": self.args.redis_url}
            self._settings = load_settings(given=given)
        return self._settings

    @property
    def database_url(self) -> str:
        return self.settings().database_url

    @property
    def redis_url(self) -> str:
        return self.settings().redis_url

    def sessions(self) -> Session:
        """A new session; the engine is made on first use (host-config needs no database)."""
        if self._engine is None:
            self._engine = db.make_engine(self.database_url)
        return db.make_session_factory(self._engine)()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def redis(self) -> Any:
        from redis import Redis

        return Redis.from_url(self.redis_url)

    def out(self, text: str) -> None:
        print(text, flush=True)

    # -- jobs --------------------------------------------------------------------------

    def follow(self, job: Job) -> int:
        """Say the job is queued, then wait for it unless --no-wait. When Redis did not
        take it, say so at once: waiting would only run out the timeout."""
        app = job.app
        unreachable = waits_for_redis(job)
        if unreachable is not None:
            print(
                f"hostingctl: the platform's Redis does not answer: {unreachable}; job {job.id} "
                "stays queued and runs once it answers (`hostingctl jobs`)",
                file=sys.stderr,
            )
            return EXIT_FAILED
        self.out(f"job {job.id} {job.kind} {app.host.name}/{app.name}: queued")
        if self.args.no_wait:
            return 0
        return self.wait(job.id)

    def wait(self, job_id: str) -> int:
        job = wait_for_job(
            self.sessions, job_id, timeout=self.args.timeout, on_change=self.progress
        )
        if job.finished:
            return self.report(job)
        self.out(
            f"job {job_id}: still {job.status} after {self.args.timeout:g}s; see `hostingctl jobs`"
        )
        return EXIT_TIMEOUT

    def progress(self, job: Job) -> None:
        note = f" (attempt {job.attempts})" if job.status == "running" else ""
        if job.status == "queued" and job.error:
            note = f" ({job.error})"  # the reason of a coming retry
        self.out(f"job {job.id}: {job.status}{note}")

    def report(self, job: Job) -> int:
        if job.status == "failed":
            self.out(f"error: {job.error}")
            if job.log_tail:
                self.out("--- log tail ---")
                self.out(job.log_tail.rstrip("\n"))
            return EXIT_FAILED
        if job.result is not None:
            self.out(json.dumps(job.result, indent=2, sort_keys=True))
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

            config = render_host_config(a.host_root, queue, **self._host_settings())
            self.out(f"host runtime config: {config.conf}")
            self.out("start it with: " + " ".join(host_runtime_command(config)))
        return 0

    def _host_settings(self) -> dict[str, Any]:
        """The host options given; the others keep ``workers.host.host_config``'s defaults."""
        given = {name: getattr(self.args, name) for name in HOST_OPTIONS}
        settings = {name: value for name, value in given.items() if value is not None}
        return {"redis_url": self.redis_url, "database_url": self.database_url, **settings}

    def cmd_host_config(self) -> int:
        """Write the host runtime's config and host.json (what the Ansible role runs): one
        line per file, ``changed <path>`` or ``unchanged <path>``; --check writes nothing."""
        from workers.files import ConfigRefused
        from workers.host import HOST_CONF, HOST_SETTINGS, host_config, write_host_config

        a = self.args
        try:
            config = host_config(a.host_root, a.queue, **self._host_settings())
            changed = write_host_config(config, check=a.check)
        except ConfigRefused as exc:
            raise InvalidInput("host-config", str(exc)) from None
        for path in (HOST_CONF, HOST_SETTINGS):
            self.out(f"{'changed' if path in changed else 'unchanged'} {path}")
        if a.check:
            self.out("check only: nothing was written")
        return 0

    def cmd_program_file(self) -> int:
        """Write one [program:x] file through ``hosting.program_section`` (what the roles
        run): ``changed <path>`` or ``unchanged <path>``; --check writes nothing."""
        from workers import program_file as pf

        a = self.args
        if a.options_stdin:
            options = pf.options_from_json(sys.stdin.read())
        else:
            options = pf.options_from_arguments(a.option)
        changed = pf.program_file(
            a.path,
            a.name,
            options,
            comments=a.comment,
            mode=pf.parse_mode(a.mode),
            owner=pf.parse_owner(a.owner) if a.owner else None,
            check=a.check,
        )
        self.out(f"{'changed' if changed else 'unchanged'} {a.path}")
        if a.check:
            self.out("check only: nothing was written")
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
            _app, job = commands.create_app(
                session,
                self.redis(),
                self.actor,
                name=a.name,
                tech=a.tech,
                tenant_ref=a.tenant,
                host_ref=a.host,
                custom_command=a.command,
            )
            return self.follow(job)

    def _toggle(self, enabled: bool) -> int:
        a = self.args
        with self.sessions() as session:
            app = commands.find_app(session, self.actor, a.app)
            _service, job = commands.set_service_enabled(
                session, self.redis(), self.actor, app, a.kind, enabled
            )
            return self.follow(job)

    def cmd_enable(self) -> int:
        return self._toggle(True)

    def cmd_disable(self) -> int:
        return self._toggle(False)

    def _action(self, action: str) -> int:
        with self.sessions() as session:
            app = commands.find_app(session, self.actor, self.args.app)
            job = commands.program_action(
                session, self.redis(), self.actor, app, self.args.program, action
            )
            return self.follow(job)

    def cmd_restart(self) -> int:
        return self._action("restart")

    def cmd_start(self) -> int:
        return self._action("start")

    def cmd_stop(self) -> int:
        return self._action("stop")

    def cmd_apply(self) -> int:
        """``apply APP``: the app's services again. ``apply -f FILE [APP]``: make the app
        what its app file says, after showing the changes and asking (or ``--yes``)."""
        a = self.args
        if a.file is None:
            if a.app is None or a.dry_run or a.yes:
                raise InvalidInput("apply", "give an app, or -f FILE (--dry-run, --yes need -f)")
            with self.sessions() as session:
                app = commands.find_app(session, self.actor, a.app)
                return self.follow(commands.apply_services(session, self.redis(), self.actor, app))
        if a.file == "-" and not (a.yes or a.dry_run):
            raise InvalidInput("yes", "the file is standard input, so no answer can be read: --yes")
        spec = load_spec_file(a.file)
        with self.sessions() as session:
            app = commands.find_app(session, self.actor, self._app_of(spec))
            shown = commands.preview_spec(app, spec).lines()
            label = f"{app.host.name}/{app.name}"
        if not shown:
            self.out(f"{label}: nothing to change")
            return 0
        self.out(f"{label}: {a.file} changes")
        for line in shown:
            self.out(f"  {line}")
        if a.dry_run:
            return 0
        if not a.yes and not confirm(f"Apply these changes to {label}? [y/N] "):
            self.out("not applied")
            return EXIT_INPUT
        with self.sessions() as session:
            app = commands.find_app(session, self.actor, self._app_of(spec))
            # What was confirmed, or nothing: the app may have changed while we asked.
            if commands.preview_spec(app, spec).lines() != shown:
                raise InvalidInput("apply", f"{label} changed meanwhile; run apply again")
            _plan, job = commands.apply_spec(session, self.redis(), self.actor, app, spec)
            assert job is not None  # the plan had changes
            return self.follow(job)

    def _app_of(self, spec: AppSpec) -> str:
        """The app named on the command line, else the file's ``[host/]name``."""
        if self.args.app:
            return self.args.app
        if spec.name is None:
            raise InvalidInput("app", f"{spec.source} has no name; name the app: apply -f FILE APP")
        return f"{spec.host}/{spec.name}" if spec.host else spec.name

    def cmd_export(self) -> int:
        """The app as an app file: apply it again and nothing changes."""
        with self.sessions() as session:
            app = commands.find_app(session, self.actor, self.args.app)
            sys.stdout.write(spec_text(spec_of(app)))
        return 0

    def cmd_delete_app(self) -> int:
        with self.sessions() as session:
            app = commands.find_app(session, self.actor, self.args.app)
            return self.follow(commands.delete_app(session, self.redis(), self.actor, app))

    def cmd_logs(self) -> int:
        """Read by the app's host like the panel's (no job: nothing changes)."""
        a = self.args
        with self.sessions() as session:
            app = commands.find_app(session, self.actor, a.app)
            channel = "stderr" if a.stderr else "stdout"
            try:
                text = commands.read_log(
                    session, self.redis(), self.actor, app, a.program, channel, a.bytes
                )
            except LogUnavailable as exc:
                self.out(f"error: {exc}")
                return EXIT_FAILED
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0

    def cmd_jobs(self) -> int:
        with self.sessions() as session:
            statement = select(Job).order_by(Job.created_at.desc()).limit(self.args.limit)
            if self.args.app:
                app = commands.find_app(session, self.actor, self.args.app)
                statement = statement.where(Job.app_id == app.id)
            for job in session.scalars(statement):
                app = job.app.name if job.app is not None else "-"
                when = job.created_at.strftime("%Y-%m-%d %H:%M:%S")
                title = commands.job_title(job)
                line = f"{when}  {job.id}  {title:<28} {app:<20} {job.status:<8} {job.actor}"
                self.out(line)
                if job.status == "failed" and job.error:
                    self.out(f"    error: {job.error.splitlines()[0]}")
        return 0

    def cmd_exec(self) -> int:
        """Run a command in an app's container, as the app's user (operators, as root)."""
        from workers.container.launch import LaunchError
        from workers.tenant_shell import ShellRefused, exec_app

        command = list(self.args.argv)
        if command[:1] == ["--"]:
            command = command[1:]
        try:
            return exec_app(self._host_root(), self.args.app, command)
        except (ShellRefused, LaunchError) as exc:
            raise InvalidInput("exec", str(exc)) from None

    def cmd_enter(self) -> int:
        """A tenant's SSH login, through sudo: its own app's container, nothing else."""
        from workers.container.launch import LaunchError
        from workers.tenant_shell import ShellRefused, enter_as_caller, shell_command

        try:
            command = shell_command(self.args.ssh_command)
            return enter_as_caller(self._host_root(), command, os.environ)
        except (ShellRefused, LaunchError) as exc:
            raise InvalidInput("enter", str(exc)) from None

    def _host_root(self) -> Path:
        return Path(self.args.host_root or self.settings().host_root)

    def cmd_run_host(self) -> int:
        from workers.host import HostConfig, host_runtime_command

        command = host_runtime_command(HostConfig.load(self.args.host_root))
        os.execv(command[0], command)
        return 0  # not reached


# The host runtime's settings (``workers.host.HostConfig``); unset ones keep its defaults.
HOST_OPTIONS = (
    "workers",
    "job_timeout",
    "wait_timeout",
    "user_prefix",
    "runtime_python",
    "tenant_runtime",
    "stock_python",
    "status_interval",
    "status_poller",
    "status_mode",
    "usage_interval",
    "worker_umask",
    "metrics_listen",
    "containers",
    "tenant_python",
    "tenant_memory_mb",
    "tenant_pids",
    "tenant_cpu_weight",
    "start_concurrency",
)


def load_spec_file(path: str) -> AppSpec:
    """The app file at ``path`` ("-": standard input)."""
    if path == "-":
        return read_spec(sys.stdin.read(), "<stdin>")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("file", f"{path}: cannot read it: {exc}") from None
    return read_spec(text, path)


def confirm(question: str) -> bool:
    """A yes from standard input (no answer, end of input: no)."""
    print(question, end="", flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def number(low: float, high: float, kind: type = int) -> Callable[[str], Any]:
    """An argparse type: a whole (or, with ``kind=float``, decimal) number from ``low`` to
    ``high``. Every number on the command line has bounds: past them it ends in a clear
    usage error (exit 2), not in an overflow deep inside (a database, a sleep)."""
    what = "a whole number" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        # float() takes "nan" and "inf"; no comparison is true for nan.
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low:g} to {high:g}, not {text}")
        return value

    return parse


DAY = 86400


def add_host_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--workers", type=number(0, 64), help="RQ worker processes (default 2; 0: none)"
    )
    sub.add_argument(
        "--job-timeout", type=number(1, DAY), help="longest job, in seconds (default 300)"
    )
    sub.add_argument(
        "--wait-timeout", type=number(0.1, DAY, float), help="seconds a job waits for programs"
    )
    sub.add_argument("--user-prefix", help="apps' system users are <prefix><app id>")
    sub.add_argument("--runtime-python", help="interpreter for tenant runtimes")
    sub.add_argument(
        "--tenant-runtime",
        choices=("ours", "stock"),
        help="the supervisord of each app: ours (default) or stock 4.3.0 (needs --stock-python)",
    )
    sub.add_argument(
        "--stock-python", help="the Python of a virtualenv with supervisor 4.3.0 installed"
    )
    sub.add_argument(
        "--status-interval", type=number(0.1, 3600, float), help="seconds between status polls"
    )
    sub.add_argument(
        "--status-mode",
        choices=("feed", "poll"),
        help="how status-<queue> learns the tenants' states: feed (pushed by each tenant"
        " runtime's state stream, the default) or poll (every --status-interval)",
    )
    sub.add_argument(
        "--no-status-poller",
        dest="status_poller",
        action="store_const",
        const=False,
        help="run no status poller (a host without apps)",
    )
    sub.add_argument(
        "--usage-interval",
        type=number(0, 300),
        help="seconds between CPU and memory samples of the apps (default 10; 0: none)",
    )
    sub.add_argument(
        "--start-concurrency",
        type=number(0, 100000),
        help="programs the host runtime starts at once when it boots (default 30 per core;"
        " 0: all at once)",
    )
    sub.add_argument("--worker-umask", help="the workers' umask, e.g. 007")
    sub.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="serve the workers' Prometheus metrics on this loopback address (default: none)",
    )
    sub.add_argument(
        "--no-containers",
        dest="containers",
        action="store_const",
        const=False,
        help="run tenants without containers even where they could be made (unsafe)",
    )
    sub.add_argument("--tenant-python", help="system Python of containers (/usr/bin/python3)")
    sub.add_argument(
        "--tenant-memory-mb", type=number(16, 2**20), help="memory per app, MiB (default 1024)"
    )
    sub.add_argument("--tenant-pids", type=number(8, 2**22), help="tasks per app (default 512)")
    sub.add_argument(
        "--tenant-cpu-weight", type=number(1, 10000), help="CPU weight per app, 1-10000 (100)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostingctl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="default: the platform's settings")
    parser.add_argument("--redis-url", help="default: the platform's settings")
    parser.add_argument("--no-wait", action="store_true", help="enqueue and return")
    parser.add_argument(
        "--timeout", type=number(0, 7 * DAY, float), default=600, help="seconds to wait for a job"
    )
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
    add_host_options(sub)

    sub = command("host-config", "write the host runtime's config and host.json")
    sub.add_argument("--host-root", required=True, help="the host runtime's root")
    sub.add_argument("--queue", required=True, help="the host's RQ queue")
    add_host_options(sub)
    sub.add_argument("--check", action="store_true", help="say what would change, write nothing")

    sub = command("program-file", "write one [program:x] file (the roles' programs)")
    sub.add_argument("path", help="the file to write")
    sub.add_argument("--name", required=True, help="the program's name: [program:NAME]")
    given = sub.add_mutually_exclusive_group(required=True)
    given.add_argument(
        "--option", action="append", metavar="KEY=VALUE", help="one option, in order (repeat)"
    )
    given.add_argument(
        "--options-stdin",
        action="store_true",
        help='the options as JSON on standard input: {"key": value, ...} or [[key, value], ...]',
    )
    sub.add_argument(
        "--comment", action="append", default=[], help="a '; ' line above the section (repeat)"
    )
    sub.add_argument("--mode", default="0600", help="the file's mode (default 0600)")
    sub.add_argument("--owner", metavar="USER[:GROUP]", help="default: who runs the command")
    sub.add_argument("--check", action="store_true", help="say what would change, write nothing")

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

    sub = command("apply", "apply an app file (-f), or the app's services again")
    sub.add_argument("app", nargs="?", help="app or host/app (with -f: default the file's)")
    sub.add_argument("-f", "--file", help="an app file (docs/APP_FILE.md)")
    sub.add_argument("--dry-run", action="store_true", help="show the changes, apply nothing")
    sub.add_argument("--yes", action="store_true", help="apply without asking")
    sub = command("export", "print an app's app file (what apply -f takes)")
    sub.add_argument("app", help="app or host/app")
    sub = command("delete-app", "stop and remove an app (its logs stay)")
    sub.add_argument("app")

    sub = command("logs", "the tail of a program's log")
    sub.add_argument("app", help="app or host/app")
    sub.add_argument("program", nargs="?", default="app")
    sub.add_argument("--stderr", action="store_true")
    sub.add_argument("--bytes", type=number(1, MAX_LOG_BYTES), default=16 * 1024)

    sub = command("exec", "run a command in an app's container, as its user (root)")
    sub.add_argument("--host-root", help="default $HOSTING_HOST_ROOT or <data dir>/host")
    sub.add_argument("app")
    sub.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="default sh")

    sub = command("enter", "a tenant's SSH login: its own container (through sudo)")
    sub.add_argument("--host-root", help="default $HOSTING_HOST_ROOT or <data dir>/host")
    sub.add_argument("--ssh-command", help="what the login asked for (default: a shell)")

    sub = command("jobs", "recent jobs and their results")
    sub.add_argument("--app", help="only this app's")
    sub.add_argument("--limit", type=number(1, 10000), default=30)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # A job Redis did not take is said once, by follow(); not again by the queue's logger
    # (which, with no handler configured, would print to stderr through logging's last resort).
    logging.getLogger("hosting.queue").addHandler(logging.NullHandler())
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (2, said on stderr) and --help (0)
        return exc.code if isinstance(exc.code, int) else EXIT_INPUT
    cli = Cli(args)
    try:
        return getattr(cli, args.handler)()
    except (HostingError, ValueError) as exc:
        for each in exc.every if isinstance(exc, InvalidInput) else [exc]:
            print(f"hostingctl: {each}", file=sys.stderr)
        return EXIT_INPUT
    except RedisError as exc:  # said at once, not after waiting for a job nobody will run
        print(f"hostingctl: the platform's Redis does not answer: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        cli.close()


if __name__ == "__main__":
    sys.exit(main())
