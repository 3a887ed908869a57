"""A real platform host with N tenants: our runtime against stock supervisord 4.3.0.

    .venv/bin/python -m bench.tenants --quick          # 100 tenants (root: containers)
    .venv/bin/python -m bench.tenants --tenants 1000   # the full run (estimate memory first)
    .venv/bin/python -m bench.tenants --tenants 10 --idle 10 --restarts 5   # a first try

A host is built as tests/workers builds one (``tests.workers.fixtures.Platform``): a host
runtime (ours) with RQ workers, the status program, the reconciler and the front; Redis on a
unix socket; SQLite; and the panel (gunicorn, idle, for its CPU; Flask's test client for
server times). Each tenant is an app created through the platform's own job: its main
program (``sleep``, so the runtime's cost is not hidden behind an app's) and Debian's
memcached (8 MiB, 32 connections), in its container. The same run is made once with each
tenant runtime (``HostConfig.tenant_runtime``: ours, then stock), and reported side by side:

- create: all N apps through ``create_app`` jobs (the platform's path, not a goal);
- click -> RUNNING at 1 tenant, then at N: the panel's restart of ``app`` (its POST, the
  job, the worker) until the status the panel shows has the new pid RUNNING; median, p99;
- stop: SIGTERM to the host runtime until it has exited with every tenant stopped;
- start: from that cold host (no runtime running) until the status of every app shows
  ``app`` and ``memcached`` RUNNING (the status program's interval is its resolution);
- memory, after the start has settled: USS of each tenant runtime (``smaps_rollup``
  Private_*), each container in all (its cgroup's memory.current), and the host's
  MemAvailable drop from before the host runtime started;
- idle CPU over ``--idle`` seconds, by part (% of one core): the tenant runtimes, the
  containers in all, the status program, the workers (with the reconciler and the front),
  the host runtime, the panel, Redis;
- the panel's app list and an app page at N apps: server time, median of 10.

Everything made (users, containers, cgroups, network namespaces, files, processes) is
removed at the end, also on Ctrl-C or SIGTERM. The machine's load average is recorded with
each run: on a shared machine the numbers are noisy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hosting import db, services
from hosting.models import FINISHED_JOB_STATUSES, App, Host, Job, Tenant, User
from hosting.status import status_key
from hosting.tokens import create_token

from bench.containers import uss_mib
from bench.harness import wait_for
from bench.run import machine_description
from tests.rpc.conftest import UnixConnection
from tests.stock import REPO_ROOT
from tests.web.redis_server import RedisServer, start_redis
from tests.workers.fixtures import Platform, _delete_users, _remove_containers
from workers.container import cgroups, probe
from workers.container.enter import NotRunning, container_init
from workers.container.spec import load_spec
from workers.host import HostConfig, host_runtime, start_host_runtime, write_host_config
from workers.layout import find_owner
from workers.runtime import Runtime
from workers.status import host_apps
from workers.tenants import connect, spec_path

Metrics = dict[str, float]
HOST = "h1"
TENANT = "bench"
APP_COMMAND = "/bin/sleep infinity"
MEMCACHED = {"memory_mb": 8, "max_connections": 32}
PASSWORD = "a bench password, long enough"
STOCK_PYTHON = REPO_ROOT / ".venv-stock" / "bin" / "python"
PROGRAMS = {"app", "memcached"}
SETTLE_SECONDS = 10
FIXED_HELPERS = ("worker", "reconciler", "front", "metrics")  # their start does not grow with N
# Their work grows with N, their own start (the imports: about 0.8 s of CPU each) does not.
GROWING_HELPERS = ("feeder", "usage")
CLEANUP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(Exception):
    """SIGTERM or SIGHUP: end the run, cleaning up as for Ctrl-C."""


def _interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(f"signal {signum}")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def mem_available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def process_cpu(pid: int) -> float:
    """CPU seconds of ``pid``'s threads so far, to the nanosecond (schedstat): utime and
    stime count 10 ms ticks, too coarse for a process that uses a few ms a minute at idle
    (a hundred runtimes each below one tick read as 0)."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):  # a thread that just ended
            continue
    return total / 1e9


def tree_cpu(root: int) -> dict[str, float]:
    """CPU seconds of the process tree under the host runtime ``root``, by part: the host
    runtime itself, each tenant's launch chain (its program's process: launcher, nsenter,
    setpriv, bwrap, and what they waited for, such as ``ip``), what runs in the containers,
    and the host's helpers (workers, status, front...). Each process's own CPU to the
    nanosecond (its threads' schedstat, which an exec keeps), plus its reaped children's
    (cutime + cstime), so nothing that ran in the tree is missed. Not utime + stime: they
    are whole ticks (10 ms), each cut down, and a container's four processes each lost up
    to two ticks: the tree found half of a cold start's CPU (42 of 75 s at 1,000)."""
    parent_of: dict[int, int] = {}
    cpu: dict[int, float] = {}
    comm: dict[int, str] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        head, tail = text.rsplit(")", 1)
        fields = tail.split()
        pid = int(entry.name)
        parent_of[pid] = int(fields[1])
        comm[pid] = head.split("(", 1)[1]
        own = max(process_cpu(pid), (int(fields[11]) + int(fields[12])) / ticks)
        cpu[pid] = own + (int(fields[13]) + int(fields[14])) / ticks
    kids: dict[int, list[int]] = {}
    for pid, parent in parent_of.items():
        kids.setdefault(parent, []).append(pid)

    def subtree(pid: int) -> float:
        return cpu.get(pid, 0.0) + sum(subtree(kid) for kid in kids.get(pid, []))

    parts = {"host runtime": cpu.get(root, 0.0), "launch": 0.0, "containers": 0.0}
    for child in kids.get(root, []):
        if comm.get(child) == "bwrap":
            parts["launch"] += cpu[child]
            parts["containers"] += subtree(child) - cpu[child]
        else:
            name = f"helper {_module_of(child)}"
            parts[name] = parts.get(name, 0.0) + subtree(child)
    return parts


def _module_of(pid: int) -> str:
    """The ``-m`` module a helper of the host runtime runs (workers.feeder...), or its name."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "?"
    return args[args.index("-m") + 1] if "-m" in args[:-1] else Path(args[0]).name


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy (not idle or iowait) since boot."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


class ApiClient:
    """The JSON API (/api/v1) through the panel's gunicorn, with a bearer token."""

    def __init__(self, socket_path: Path, token: str) -> None:
        self.socket_path = socket_path
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        connection = UnixConnection(str(self.socket_path))
        try:
            connection.request(method, f"/api/v1{path}", headers=self.headers)
            answer = connection.getresponse()
            return answer.status, json.loads(answer.read() or b"{}")
        finally:
            connection.close()

    def program(self, app_id: int, name: str = "app") -> tuple[int | None, str]:
        """(pid, state) of the app's program ``name`` in ``GET /apps/<id>/status``."""
        status, body = self.call("GET", f"/apps/{app_id}/status")
        if status != 200:
            raise RuntimeError(f"the API answered {status} for the status of app {app_id}")
        for row in body["processes"]:
            if row["name"] == name:
                return row.get("pid"), row["state"]
        return None, "MISSING"


def running(raw: bytes | None, since: float) -> bool:
    """An app's status (hosting.status, as stored) written after ``since`` (time.time()),
    with its programs RUNNING."""
    if not raw or b'"RUNNING"' not in raw:  # not decoded: most polls of a start say no
        return False
    status = json.loads(raw)
    if status.get("updated", 0) < since:
        return False
    states = {p["name"] for p in status["processes"] if p.get("statename") == "RUNNING"}
    return states == PROGRAMS


def wall(moment: datetime) -> float:
    """A database time as time.time() (SQLite gives them back without their zone: UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def wait_api(
    api: ApiClient, app_id: int, done: Callable[[int | None, str], bool], timeout: float
) -> float:
    """Read the API's status of ``app`` as fast as it answers until ``done(pid, state)``;
    returns time.monotonic() then."""
    deadline = time.monotonic() + timeout
    while True:
        pid, state = api.program(app_id)
        now = time.monotonic()
        if done(pid, state):
            return now
        if now > deadline:
            raise TimeoutError(f"app {app_id}: {state} (pid {pid}) after {timeout:g} s")


class BenchHost:
    """One platform with one host, its apps, and everything needed to remove it all."""

    def __init__(self, runtime: str, status_mode: str | None, workers: int) -> None:
        self.runtime = runtime
        self.base = Path(tempfile.mkdtemp(prefix="pb-", dir="/tmp"))
        self.base.chmod(0o711)
        self.redis_server: RedisServer | None = None
        self.platform: Platform | None = None
        self.panel_process: subprocess.Popen[bytes] | None = None
        self.app_ids: list[int] = []
        self.status_mode = status_mode
        self.workers = workers
        self.client: Any = None
        self.start_cpu: dict[str, float] = {}
        self.wait_cpu: dict[str, float] = {}

    # -- set-up and tear-down -------------------------------------------------------------

    def open(self) -> None:
        self.redis_server = start_redis()
        database = self.base / "hosting.db"
        url = f"sqlite:///{database}"
        db.upgrade(url)
        engine = db.make_engine(url)
        self.platform = Platform(
            base=self.base,
            database_url=url,
            redis_url=self.redis_server.url,
            sessions=db.make_session_factory(engine),
            redis=self.redis_server.client(),
            user_prefix=f"pb{secrets.token_hex(3)}-",
        )
        with self.platform.sessions() as session:
            services.create_tenant(session, TENANT.title(), TENANT)
            session.commit()
        self.platform.add_user("admin@bench.example", PASSWORD, tenant=None, is_admin=True)

    def close(self) -> None:
        if self.panel_process is not None:
            self.panel_process.terminate()
            self.panel_process.wait(30)
        if self.platform is not None:
            self.platform.stop_hosts()
            _remove_containers(self.platform.user_prefix)
            left = _delete_users(self.platform.user_prefix)
            if left:
                print(f"  killed {len(left)} leftover processes of the bench's users", flush=True)
            self.platform.redis.close()
        if self.redis_server is not None:
            self.redis_server.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    @property
    def p(self) -> Platform:
        assert self.platform is not None
        return self.platform

    @property
    def config(self) -> HostConfig:
        return self.p.hosts[HOST]

    def start_host(self) -> None:
        settings: dict[str, Any] = {
            "tenant_runtime": self.runtime,
            # The defaults of a real host, not the tests' quick ones.
            "job_timeout": 600,
            "wait_timeout": 120.0,
            "status_interval": 2.0,
            "runtime_python": None,
        }
        if self.runtime == "stock":
            settings["stock_python"] = str(STOCK_PYTHON)
        fields = {f.name for f in dataclasses.fields(HostConfig)}
        if self.status_mode is not None:
            if "status_mode" not in fields:
                print("  (this branch has no HostConfig.status_mode: --status-mode ignored)")
            else:
                settings["status_mode"] = self.status_mode
        self.p.add_host(HOST, workers=self.workers, **settings)

    def start_panel(self) -> None:
        """The panel as it runs on a host (gunicorn, 2 workers), idle: for its CPU."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DATABASE_URL": self.p.database_url,
            "REDIS_URL": self.p.redis_url,
            "HOSTING_DATA_DIR": str(self.base),
            "SECRET_KEY": secrets.token_hex(16),
            "PANEL_ALLOW_HTTP": "1",
        }
        gunicorn = Path(sys.executable).parent / "gunicorn"
        bind = f"unix:{self.base / 'panel.sock'}"
        self.panel_process = subprocess.Popen(
            [str(gunicorn), "--bind", bind, "--workers", "2", "admin_web:create_app()"],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=(self.base / "panel.log").open("wb"),
            start_new_session=True,
        )
        wait_for(lambda: (self.base / "panel.sock").exists(), 60, "the panel", poll=0.1)
        self.client = self.p.panel(SECRET_KEY="bench", WTF_CSRF_ENABLED=False).test_client()
        answer = self.client.post(
            "/login", data={"email": "admin@bench.example", "password": PASSWORD}
        )
        if answer.status_code not in (200, 302):
            raise RuntimeError(f"the panel refused the bench's login: {answer.status_code}")

    # -- apps -------------------------------------------------------------------------------

    def create_apps(self, count: int) -> float:
        """``count`` more apps, each through its create_app job; returns the seconds."""
        first = len(self.app_ids)
        new: list[int] = []
        with self.p.sessions() as session:
            tenant = session.query(Tenant).filter_by(slug=TENANT).one()
            host = session.query(Host).filter_by(name=HOST).one()
            for index in range(first, first + count):
                app = services.create_app(
                    session, tenant, host, f"t{index:04d}", "custom", APP_COMMAND
                )
                services.add_service(session, app, "memcached", None, dict(MEMCACHED))
                session.flush()
                new.append(app.id)
            session.commit()
        began = time.monotonic()
        jobs = [self.p.enqueue("create_app", app_id) for app_id in new]
        timeout = 120 + 10 * count

        def all_done() -> bool:
            with self.p.sessions() as session:
                rows = session.query(Job).filter(Job.id.in_(jobs)).all()
                failed = [job for job in rows if job.finished and job.status != "done"]
                if failed:
                    raise RuntimeError(f"create_app failed: {failed[0].error}")
                return all(job.finished for job in rows)

        wait_for(all_done, timeout, f"{count} create_app jobs", poll=0.5)
        self.app_ids += new
        return time.monotonic() - began

    def all_running_since(self, since: float, seen: set[int] | None = None) -> bool:
        """Every app's status, written after ``since`` (time.time()), has its programs
        RUNNING. ``seen`` (kept by the caller between calls): the apps already found so;
        only the others are read, until all were seen, then every one once more (so the
        answer is still about one moment). Reading and decoding all N statuses at every
        poll took the machine's CPU from the start it measures (0.25 s apart, at 1,000
        apps half started: 3 % of a core, the bench's and Redis's)."""
        seen = set() if seen is None else seen
        rest = [app_id for app_id in self.app_ids if app_id not in seen]
        if rest:
            raws = self.p.redis.mget([status_key(app_id) for app_id in rest])
            seen.update(app for app, raw in zip(rest, raws, strict=True) if running(raw, since))
            if len(seen) < len(self.app_ids):
                return False
        raws = self.p.redis.mget([status_key(app_id) for app_id in self.app_ids])
        gone = {app for app, raw in zip(self.app_ids, raws, strict=True) if not running(raw, since)}
        seen -= gone
        return not gone

    def app_pid_in_status(self, app_id: int) -> int | None:
        raw = self.p.redis.get(status_key(app_id))
        if raw is None:
            return None
        for process in json.loads(raw)["processes"]:
            if process["name"] == "app" and process.get("statename") == "RUNNING":
                return int(process["pid"])
        return None

    # -- measurements -------------------------------------------------------------------------

    def click_to_running(self, app_id: int) -> tuple[float, float]:
        """The panel's restart of ``app``: (seconds until its job is done, until the status
        the panel shows has the new pid RUNNING)."""
        old = wait_for(lambda: self.app_pid_in_status(app_id), 60, "a status to start from", 0.05)
        began = time.monotonic()
        answer = self.client.post(f"/apps/{app_id}/control/app/restart")
        if answer.status_code not in (200, 202, 302):
            raise RuntimeError(f"the panel refused the restart: {answer.status_code}")
        job_done = None
        deadline = began + 120
        while True:
            now = time.monotonic()
            if job_done is None and self._last_job_finished(app_id):
                job_done = now - began
            pid = self.app_pid_in_status(app_id)
            if pid is not None and pid != old:
                return (job_done if job_done is not None else now - began), now - began
            if now > deadline:
                raise TimeoutError(f"app {app_id} did not show RUNNING again within 120 s")
            time.sleep(0.01)

    def _last_job_finished(self, app_id: int) -> bool:
        with self.p.sessions() as session:
            job = (
                session.query(Job)
                .filter(Job.app_id == app_id)
                .order_by(Job.created_at.desc())
                .first()
            )
            return job is not None and job.finished and job.kind == "program_action"

    def _app_jobs_finished(self, app_id: int) -> bool:
        with self.p.sessions() as session:
            jobs = session.query(Job).filter(Job.app_id == app_id)
            return not jobs.filter(Job.status.not_in(FINISHED_JOB_STATUSES)).count()

    def clicks(self, app_ids: list[int], rounds: int) -> Metrics:
        jobs, shown = [], []
        for index in range(rounds):
            job_s, shown_s = self.click_to_running(app_ids[index % len(app_ids)])
            jobs.append(job_s)
            shown.append(shown_s)
        return {
            "job_median_s": statistics.median(jobs),
            "job_p99_s": percentile(jobs, 0.99),
            "shown_median_s": statistics.median(shown),
            "shown_p99_s": percentile(shown, 0.99),
        }

    # -- through the JSON API (issue 17) ----------------------------------------------------

    def api(self) -> ApiClient:
        """A client of the API served by the panel's gunicorn, with a new token of the
        bench's admin."""
        with self.p.sessions() as session:
            user = session.query(User).filter_by(email="admin@bench.example").one()
            _token, plaintext = create_token(session, user, "bench")
            session.commit()
        return ApiClient(self.base / "panel.sock", plaintext)

    def api_click(self, api: ApiClient, app_id: int) -> Metrics:
        """``POST /apps/<id>/programs/app/restart``, then ``GET /apps/<id>/status`` as fast
        as it answers: seconds until a new pid shows, until that pid is RUNNING, and where
        the time went (the job row's created_at and started_at, the same clock)."""
        old = wait_for(lambda: self.api_running_pid(api, app_id), 60, "app RUNNING", 0.05)
        # A click on a settled app: the previous click's job may still hold the app's lock
        # for a moment after the API shows RUNNING (it records its end); a click then would
        # measure that queue, not a click.
        wait_for(lambda: self._app_jobs_finished(app_id), 60, "the app's jobs finished", 0.01)
        began, began_wall = time.monotonic(), time.time()
        status, body = api.call("POST", f"/apps/{app_id}/programs/app/restart")
        answered = time.monotonic()
        if status != 202:
            raise RuntimeError(f"the API refused the restart: {status} {body}")
        new_pid = wait_api(api, app_id, lambda pid, _state: pid not in (None, old), 60)
        running = wait_api(
            api, app_id, lambda pid, state: pid not in (None, old) and state == "RUNNING", 60
        )
        with self.p.sessions() as session:
            job = session.get(Job, body["job"]["id"])
            assert job is not None and job.started_at is not None
            created, started = wall(job.created_at), wall(job.started_at)
        return {
            "newpid": new_pid - began,
            "running": running - began,
            "post": answered - began,
            "to_created": created - began_wall,
            "pickup": started - created,
            "claimed_newpid": new_pid - began - (started - began_wall),
        }

    def api_running_pid(self, api: ApiClient, app_id: int) -> int | None:
        pid, state = api.program(app_id)
        return pid if state == "RUNNING" else None

    def api_clicks(self, api: ApiClient, app_ids: list[int], rounds: int) -> Metrics:
        runs = [self.api_click(api, app_ids[index % len(app_ids)]) for index in range(rounds)]
        metrics: Metrics = {}
        for key in runs[0]:
            values = [run[key] for run in runs]
            metrics[f"{key}_median_s"] = statistics.median(values)
            if key in ("newpid", "running"):
                metrics[f"{key}_p99_s"] = percentile(values, 0.99)
        return metrics

    def tenant_runtime(self, app_id: int) -> Runtime:
        """The app's own runtime, reached as its tenant's ``supervisorctl`` reaches it (its
        socket), the peer checked as the platform checks it."""
        app = next(ref for ref in host_apps(self.p.sessions, self.config) if ref.id == app_id)
        owner = find_owner(app.user)
        assert owner is not None, f"app {app_id} has no system user"
        return connect(self.config, app.name, app.layout, owner, app.user)

    def behind_back(self, api: ApiClient, app_id: int) -> tuple[float, float]:
        """The tenant's own ``supervisorctl stop app`` (``stopProcess`` on its runtime's
        socket, not through the platform), then ``start app``: seconds until the API shows
        each (STOPPED; RUNNING with a new pid)."""
        wait_for(lambda: self.api_running_pid(api, app_id), 60, "app RUNNING", 0.05)
        with self.tenant_runtime(app_id) as runtime:
            began = time.monotonic()
            runtime.call("stopProcess", "app", True)
            stopped = wait_api(api, app_id, lambda _pid, state: state == "STOPPED", 60)
            restarted = time.monotonic()
            runtime.call("startProcess", "app", True)
            running = wait_api(api, app_id, lambda _pid, state: state == "RUNNING", 60)
        return stopped - began, running - restarted

    def behind_backs(self, api: ApiClient, app_ids: list[int], rounds: int) -> Metrics:
        stops, starts = [], []
        for index in range(rounds):
            stop_s, start_s = self.behind_back(api, app_ids[index % len(app_ids)])
            stops.append(stop_s)
            starts.append(start_s)
        return {
            "stop_median_s": statistics.median(stops),
            "stop_p99_s": percentile(stops, 0.99),
            "start_median_s": statistics.median(starts),
        }

    def set_start_concurrency(self, starts: int) -> None:
        """The host's ``start_concurrency`` (its runtime's ``autostart_concurrency``), for
        its next boot."""
        config = dataclasses.replace(self.config, start_concurrency=starts)
        write_host_config(config)
        self.p.hosts[HOST] = config

    def set_status_mode(self, mode: str) -> None:
        """Switch the host's status program (``status_mode``) as a host's operator would:
        its config rewritten, then the host runtime's ``update`` of that group."""
        config = dataclasses.replace(self.config, status_mode=mode)
        write_host_config(config)
        self.p.hosts[HOST] = config
        with host_runtime(config) as runtime:
            runtime.update(only=[g for g in runtime.groups() if g.startswith("status-")])
            wait_for(
                lambda: all(
                    info["statename"] == "RUNNING"
                    for info in runtime.processes()
                    if info["group"].startswith("status-")
                ),
                30,
                "the status program",
                poll=0.1,
            )
        self.status_mode = mode

    def stop_host(self) -> float:
        process = self.p.processes[HOST]
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(600)
        return time.monotonic() - began

    def cold_start(self, timeout: float) -> float:
        since = time.time()
        began = time.monotonic()
        busy = machine_busy()
        assert self.redis_server is not None
        redis_pid = self.redis_server.process.pid
        ours, redis_before = os.times(), process_cpu(redis_pid)
        self.p.processes[HOST] = start_host_runtime(self.config)
        seen: set[int] = set()
        wait_for(
            lambda: self.all_running_since(since, seen), timeout, "every app RUNNING", poll=0.25
        )
        seconds = time.monotonic() - began
        now = os.times()
        # Outside the host's tree: the bench's own wait (its polls of Redis), and Redis.
        self.wait_cpu = {
            "bench wait": now.user + now.system - ours.user - ours.system,
            "redis": process_cpu(redis_pid) - redis_before,
        }
        self.start_cpu = tree_cpu(self.p.processes[HOST].pid)
        self.start_cpu["machine (all of it, others too)"] = machine_busy() - busy
        return seconds

    def create_in_steps(self, count: int, step: int) -> Metrics:
        """``count`` apps in steps of ``step``: apps per minute at each step's start."""
        metrics: Metrics = {}
        root = self.p.processes[HOST].pid
        while len(self.app_ids) < count:
            at = len(self.app_ids)
            size = min(step, count - at)
            before = sum(tree_cpu(root).values())
            seconds = self.create_apps(size)
            # The host's tree: workers with their reaped work horses and config checks,
            # the host runtime, the new containers, the feeder...; not Redis nor SQLite's
            # share of the bench's own process.
            cpu = sum(tree_cpu(root).values()) - before
            metrics[f"create_rate_at_{at}"] = size * 60 / seconds
            metrics[f"create_cpu_per_app_at_{at}_ms"] = cpu * 1000 / size
            print(
                f"  {size} apps at {at}: {size * 60 / seconds:.1f}/min, {cpu / size:.2f} s CPU",
                file=sys.stderr,
            )
        return metrics

    def tenant_inits(self) -> dict[int, int]:
        """app id -> the host PID of its runtime (its container's PID 1)."""
        found = {}
        with self.p.sessions() as session:
            names = {app.id: app.name for app in session.query(App).all()}
        for app_id in self.app_ids:
            try:
                found[app_id] = container_init(load_spec(spec_path(self.config, names[app_id])))
            except NotRunning:
                continue
        return found

    def app_cgroup(self, app_id: int) -> cgroups.Cgroup:
        return cgroups.detect().cgroup(f"{self.p.user_prefix}{app_id}")

    def memory(self, baseline_mib: float) -> Metrics:
        inits = self.tenant_inits()
        uss = [uss_mib(pid) for pid in inits.values()]
        usage = [self.app_cgroup(app_id).memory_usage() or 0 for app_id in self.app_ids]
        return {
            "runtime_uss_median_mib": statistics.median(uss),
            "runtime_uss_mean_mib": statistics.fmean(uss),
            "container_median_mib": statistics.median(usage) / 2**20,
            "containers_sum_mib": sum(usage) / 2**20,
            "host_drop_mib": baseline_mib - mem_available_mib(),
            "runtimes_found": float(len(inits)),
        }

    def parts(self) -> dict[str, Callable[[], float]]:
        """Each part of the host and a function giving its CPU seconds so far."""
        inits = list(self.tenant_inits().values())
        with host_runtime(self.config) as runtime:
            infos = runtime.processes()
        pids: dict[str, list[int]] = {"status": [], "workers": [], "usage": []}
        for info in infos:
            group = info["group"]
            if group.startswith("status-"):
                pids["status"].append(info["pid"])
            elif group.startswith("usage-"):  # the graphs' sampler: not for status
                pids["usage"].append(info["pid"])
            elif group.startswith(("worker-", "reconcile-", "front-")):
                pids["workers"].append(info["pid"])
        host_pid = self.p.processes[HOST].pid
        assert self.panel_process is not None and self.redis_server is not None
        panel = [self.panel_process.pid, *children(self.panel_process.pid)]
        redis_pid = self.redis_server.process.pid
        # Every process of every container (runtime, bwrap, app, memcached), from their
        # cgroups (which only root changes): the same on cgroup v1 and v2.
        in_containers = [pid for app_id in self.app_ids for pid in self.app_cgroup(app_id).pids()]

        def total(group: list[int]) -> Callable[[], float]:
            return lambda: sum(process_cpu(pid) for pid in group)

        return {
            "tenant runtimes": total(inits),
            "containers in all": total(in_containers),
            "status program": total(pids["status"]),
            "usage sampler": total(pids["usage"]),
            "workers, reconciler, front": total(pids["workers"]),
            "host runtime": total([host_pid]),
            "panel": total(panel),
            "redis": total([redis_pid]),
        }

    def idle_cpu(self, seconds: float) -> Metrics:
        parts = self.parts()
        before = {name: read() for name, read in parts.items()}
        began = time.monotonic()
        time.sleep(seconds)  # the measurement window itself: nothing to wait for
        wall = time.monotonic() - began
        return {
            f"idle_cpu_{name}_pct": (read() - before[name]) / wall * 100
            for name, read in parts.items()
        }

    def panel_times(self) -> Metrics:
        def server_time(path: str) -> float:
            times = []
            for _ in range(10):
                began = time.perf_counter()
                answer = self.client.get(path)
                times.append(time.perf_counter() - began)
                if answer.status_code != 200:
                    raise RuntimeError(f"the panel answered {answer.status_code} for {path}")
            return statistics.median(times)

        return {
            "panel_list_s": server_time("/"),
            "panel_app_page_s": server_time(f"/apps/{self.app_ids[len(self.app_ids) // 2]}"),
        }


@contextmanager
def bench_host(runtime: str, status_mode: str | None, workers: int) -> Iterator[BenchHost]:
    host = BenchHost(runtime, status_mode, workers)
    try:
        host.open()
        yield host
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in CLEANUP_SIGNALS}
        try:
            host.close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_one(runtime: str, args: argparse.Namespace) -> dict[str, Any]:
    """Everything measured for one tenant runtime; see the module's docstring."""
    result: dict[str, Any] = {"load_before": load_average()}
    say = lambda text: print(f"  [{runtime}] {text}", file=sys.stderr, flush=True)  # noqa: E731
    with bench_host(runtime, args.status_mode, args.workers) as host:
        baseline = mem_available_mib()
        host.start_host()
        host.start_panel()
        metrics: Metrics = {}
        metrics["create_first_s"] = host.create_apps(1)
        one = host.clicks(host.app_ids[:1], args.restarts)
        metrics.update({f"click1_{key}": value for key, value in one.items()})
        say(f"click at 1: {one}")
        if args.tenants > 1:
            metrics["create_rest_s"] = host.create_apps(args.tenants - 1)
            say(f"{args.tenants} apps created in {metrics['create_rest_s']:.1f} s")
        metrics["stop_s"] = host.stop_host()
        say(f"stopped in {metrics['stop_s']:.1f} s")
        metrics["start_s"] = host.cold_start(timeout=600 + args.tenants)
        say(f"started from cold in {metrics['start_s']:.1f} s")
        time.sleep(SETTLE_SECONDS)  # a fixed settling time before memory, not a wait
        metrics.update(host.memory(baseline))
        say(f"memory: uss {metrics['runtime_uss_median_mib']:.2f} MiB")
        metrics.update(host.idle_cpu(args.idle))
        many = host.clicks(host.app_ids, args.restarts)
        metrics.update({f"clickN_{key}": value for key, value in many.items()})
        say(f"click at {args.tenants}: {many}")
        metrics.update(host.panel_times())
        result["load_after"] = load_average()
        result["metrics"] = metrics
    return result


def stop_and_cold_start(host: BenchHost, tenants: int) -> Metrics:
    """Stop the host with its N tenants, then start it from cold: the seconds of each, and
    the cold start's CPU by part."""
    metrics: Metrics = {"stop_s": host.stop_host()}
    metrics["start_s"] = host.cold_start(timeout=600 + tenants)
    for part, seconds in host.start_cpu.items():
        metrics[f"start_cpu_{part}_s"] = seconds
    for part, seconds in host.wait_cpu.items():  # not in the host's tree, nor its estimate
        metrics[f"start_cpu_{part}_s"] = seconds
    # The workers, reconciler and front start the same with 1 app or 1,000: a fixed
    # cost; so do the feeder's and the sampler's own starts (their imports, measured
    # apart). The rest (launch chains, containers, the feeder's and sampler's work, host
    # runtime) is counted as growing with N, to estimate 1,000 on 2 cores (perfectly
    # shared).
    fixed = sum(host.start_cpu.get(f"helper workers.{name}", 0.0) for name in FIXED_HELPERS)
    for name in GROWING_HELPERS:
        boot = import_cpu(f"workers.{name}")
        metrics[f"start_cpu_helper workers.{name} boot_s"] = boot
        fixed += min(boot, host.start_cpu.get(f"helper workers.{name}", 0.0))
    tree = sum(v for k, v in host.start_cpu.items() if not k.startswith("machine"))
    metrics["start_cpu_fixed_s"] = fixed
    metrics["start_cpu_per_tenant_ms"] = (tree - fixed) * 1000 / tenants
    metrics["start_cpu_1000_estimate_s"] = (fixed + (tree - fixed) * 1000 / tenants) / 2
    return metrics


def import_cpu(module: str) -> float:
    """CPU seconds a fresh interpreter of ours takes to import ``module`` (a helper's start,
    counted once in the 1,000 estimate): the least of three, as others share the machine."""
    runs = []
    for _ in range(3):
        before = os.times()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        after = os.times()
        runs.append(
            after.children_user
            + after.children_system
            - before.children_user
            - before.children_system
        )
    return min(runs)


def run_start(args: argparse.Namespace) -> dict[str, Any]:
    """Goal 1's numbers only, our runtime: creation speed as the host fills, then stop and
    a cold start of all N with where its CPU went."""
    result: dict[str, Any] = {"load_before": load_average()}
    with bench_host("ours", args.status_mode, args.workers) as host:
        host.start_host()
        metrics = host.create_in_steps(args.tenants, args.step)
        if not args.start_concurrency:
            metrics.update(stop_and_cold_start(host, args.tenants))
        for run, concurrency in enumerate(args.start_concurrency, 1):
            # The same apps started from cold once per value, the host's setting rewritten
            # while it runs (the new boot reads it), as an operator's host-config would.
            host.set_start_concurrency(concurrency)
            start = stop_and_cold_start(host, args.tenants)
            suffix = f" @{concurrency} (start {run})"
            metrics.update({f"{key}{suffix}": value for key, value in start.items()})
            print(f"  at {concurrency} at once: {start['start_s']:.1f} s", file=sys.stderr)
    result["load_after"] = load_average()
    result["metrics"] = metrics
    return result


def render_start(result: dict[str, Any], tenants: int) -> str:
    lines = [f"| N = {tenants}, ours | value |", "|---|---|"]
    lines += [f"| {key} | {value:.4g} |" for key, value in result["metrics"].items()]
    loads = f"{result['load_before']} -> {result['load_after']}"
    return "\n".join(lines) + f"\n\nLoad average (1, 5, 15 min): {loads}\n"


def run_live(args: argparse.Namespace) -> dict[str, Any]:
    """Issue 17's numbers, our runtime only: clicks and changes behind the panel's back
    through the JSON API, at 1 app and at N, and the idle CPU for status at N, with the
    feeder and then the poller (switched on the same host, same apps)."""
    result: dict[str, Any] = {"load_before": load_average(), "loads": {}}
    say = lambda text: print(f"  [live] {text}", file=sys.stderr, flush=True)  # noqa: E731
    metrics: Metrics = {}
    with bench_host("ours", "feed", args.workers) as host:
        baseline = mem_available_mib()
        host.start_host()
        host.start_panel()
        api = host.api()
        host.create_apps(1)
        for key, value in host.api_clicks(api, host.app_ids, args.restarts).items():
            metrics[f"feed_click1_{key}"] = value
        for key, value in host.behind_backs(api, host.app_ids, args.restarts).items():
            metrics[f"feed_back1_{key}"] = value
        result["loads"]["at 1"] = load_average()
        say(f"at 1: {metrics} (load {load_average()})")
        if args.tenants > 1 and args.with_start:
            metrics.update(host.create_in_steps(args.tenants, args.step))
        elif args.tenants > 1:
            metrics["create_rest_s"] = host.create_apps(args.tenants - 1)
            say(f"{args.tenants} apps created in {metrics['create_rest_s']:.1f} s")
        if args.with_start:
            metrics.update(stop_and_cold_start(host, args.tenants))
            say(f"cold start of {args.tenants}: {metrics['start_s']:.1f} s")
            time.sleep(SETTLE_SECONDS)  # a fixed settling time before memory, not a wait
            metrics.update(host.memory(baseline))
            say(f"memory: uss {metrics['runtime_uss_median_mib']:.2f} MiB")
        for mode in ("feed",) if args.feed_only else ("feed", "poll"):
            if mode != host.status_mode:
                host.set_status_mode(mode)
            time.sleep(SETTLE_SECONDS)  # a fixed settling time before idle CPU, not a wait
            idle = host.idle_cpu(args.idle)
            for part in ("status program", "tenant runtimes", "redis", "usage sampler"):
                metrics[f"{mode}_idle_{part}_pct"] = idle[f"idle_cpu_{part}_pct"]
            result["loads"][f"{mode} idle"] = load_average()
            clicks = host.api_clicks(api, host.app_ids, args.restarts)
            backs = host.behind_backs(api, host.app_ids, args.restarts)
            metrics.update({f"{mode}_clickN_{key}": value for key, value in clicks.items()})
            metrics.update({f"{mode}_backN_{key}": value for key, value in backs.items()})
            result["loads"][f"{mode} clicks"] = load_average()
            say(f"{mode} at {args.tenants}: {idle} {clicks} {backs} (load {load_average()})")
    result["load_after"] = load_average()
    result["metrics"] = metrics
    return result


LIVE_ROWS = [
    ("click1_newpid_median_s", "click -> new pid in the API at 1 app, median, s"),
    ("click1_newpid_p99_s", "click -> new pid in the API at 1 app, p99, s"),
    ("click1_running_median_s", "click -> RUNNING in the API at 1 app, median, s"),
    ("click1_running_p99_s", "click -> RUNNING in the API at 1 app, p99, s"),
    ("click1_post_median_s", "  of which: the POST's answer (job enqueued), median, s"),
    ("click1_pickup_median_s", "  of which: job created -> claimed by a worker, median, s"),
    ("click1_claimed_newpid_median_s", "  of which: job claimed -> new pid in the API, s"),
    ("back1_stop_median_s", "tenant's own stop -> STOPPED in the API at 1 app, median, s"),
    ("back1_start_median_s", "tenant's own start -> RUNNING in the API at 1 app, median, s"),
    ("clickN_newpid_median_s", "click -> new pid in the API at N, median, s"),
    ("clickN_newpid_p99_s", "click -> new pid in the API at N, p99, s"),
    ("clickN_running_median_s", "click -> RUNNING in the API at N, median, s"),
    ("clickN_running_p99_s", "click -> RUNNING in the API at N, p99, s"),
    ("clickN_post_median_s", "  of which: the POST's answer (job enqueued), median, s"),
    ("clickN_pickup_median_s", "  of which: job created -> claimed by a worker, median, s"),
    ("clickN_claimed_newpid_median_s", "  of which: job claimed -> new pid in the API, s"),
    ("backN_stop_median_s", "tenant's own stop -> STOPPED in the API at N, median, s"),
    ("backN_stop_p99_s", "tenant's own stop -> STOPPED in the API at N, p99, s"),
    ("backN_start_median_s", "tenant's own start -> RUNNING in the API at N, median, s"),
    ("idle_status program_pct", "idle CPU at N: status program, % of a core"),
    ("idle_tenant runtimes_pct", "idle CPU at N: tenant runtimes, % of a core"),
    ("idle_redis_pct", "idle CPU at N: Redis, % of a core"),
    ("idle_usage sampler_pct", "idle CPU at N: usage sampler (graphs, not status), % of a core"),
]


def render_live(result: dict[str, Any], tenants: int) -> str:
    metrics = result["metrics"]
    lines = [f"| N = {tenants}, ours | feed | poll |", "|---|---|---|"]
    for key, label in LIVE_ROWS:
        values = [metrics.get(f"{mode}_{key}") for mode in ("feed", "poll")]
        if all(v is None for v in values):
            continue
        cells = " | ".join("-" if v is None else f"{v:.4g}" for v in values)
        lines.append(f"| {label} | {cells} |")
    # --with-start: creation, start and memory, measured once whatever the status mode.
    once = {k: v for k, v in metrics.items() if not k.startswith(("feed_", "poll_"))}
    if once:
        lines += ["", f"| N = {tenants}, ours, once | value |", "|---|---|"]
        lines += [f"| {key} | {value:.4g} |" for key, value in once.items()]
    loads = "; ".join(f"{when}: {load}" for when, load in result["loads"].items())
    return "\n".join(lines) + f"\n\nLoad average (1, 5, 15 min): {loads}\n"


ROWS = [
    ("runtime_uss_median_mib", "private memory per tenant runtime (USS, median), MiB"),
    ("runtime_uss_mean_mib", "private memory per tenant runtime (USS, mean), MiB"),
    ("container_median_mib", "memory per tenant container (cgroup, median), MiB"),
    ("containers_sum_mib", "all N containers (sum of their cgroups), MiB"),
    ("host_drop_mib", "host memory with N tenants (MemAvailable drop), MiB"),
    ("create_rest_s", "create N-1 apps through jobs, s"),
    ("start_s", "start all N from a cold host, s"),
    ("stop_s", "stop all N (host runtime SIGTERM), s"),
    ("idle_cpu_tenant runtimes_pct", "idle CPU: tenant runtimes, % of a core"),
    ("idle_cpu_containers in all_pct", "idle CPU: containers in all, % of a core"),
    ("idle_cpu_status program_pct", "idle CPU: status program, % of a core"),
    ("idle_cpu_workers, reconciler, front_pct", "idle CPU: workers, reconciler, front, %"),
    ("idle_cpu_host runtime_pct", "idle CPU: host runtime, % of a core"),
    ("idle_cpu_panel_pct", "idle CPU: panel (gunicorn, idle), % of a core"),
    ("idle_cpu_redis_pct", "idle CPU: Redis, % of a core"),
    ("idle_cpu_usage sampler_pct", "idle CPU: usage sampler (graphs), % of a core"),
    ("click1_job_median_s", "click -> job done at 1 tenant, median, s"),
    ("click1_shown_median_s", "click -> RUNNING shown at 1 tenant, median, s"),
    ("click1_shown_p99_s", "click -> RUNNING shown at 1 tenant, p99, s"),
    ("clickN_job_median_s", "click -> job done at N, median, s"),
    ("clickN_shown_median_s", "click -> RUNNING shown at N, median, s"),
    ("clickN_shown_p99_s", "click -> RUNNING shown at N, p99, s"),
    ("panel_list_s", "panel app list at N apps, server time, s"),
    ("panel_app_page_s", "panel app page at N apps, server time, s"),
]


def render(results: dict[str, dict[str, Any]], tenants: int) -> str:
    impls = list(results)
    head = " | ".join(impls)
    ratio = len(impls) == 2
    lines = [
        f"| N = {tenants} | {head} |" + (" ours/stock |" if ratio else ""),
        "|---|" + "---|" * len(impls) + ("---|" if ratio else ""),
    ]
    for key, label in ROWS:
        values = [results[impl]["metrics"].get(key) for impl in impls]
        if all(v is None for v in values):
            continue
        cells = " | ".join("-" if v is None else f"{v:.4g}" for v in values)
        line = f"| {label} | {cells} |"
        if ratio:
            ours, stock = results["ours"]["metrics"].get(key), results["stock"]["metrics"].get(key)
            line += f" {ours / stock:.3g} |" if ours is not None and stock else " - |"
        lines.append(line)
    loads = "; ".join(
        f"{impl}: load {results[impl]['load_before']} -> {results[impl]['load_after']}"
        for impl in impls
    )
    return "\n".join(lines) + f"\n\nLoad average (1, 5, 15 min) {loads}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.tenants", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--tenants", type=int, default=None, help="N (default: 100)")
    parser.add_argument("--quick", action="store_true", help="N = 100")
    parser.add_argument("--full", action="store_true", help="N = 1000")
    parser.add_argument("--restarts", type=int, default=20, help="clicks measured at 1 and N")
    parser.add_argument("--idle", type=float, default=60.0, help="idle CPU window, seconds")
    parser.add_argument("--workers", type=int, default=4, help="RQ workers of the host")
    parser.add_argument(
        "--runtimes", nargs="+", default=["ours", "stock"], choices=["ours", "stock"]
    )
    parser.add_argument(
        "--status-mode",
        choices=["feed", "poll"],
        help="HostConfig.status_mode, where this branch has it (the feeder or the poller)",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="issue 17: clicks and changes behind the panel's back through the JSON API, "
        "idle CPU for status with the feeder and the poller (ours only)",
    )
    parser.add_argument(
        "--feed-only", action="store_true", help="with --live: the feeder only, not the poller"
    )
    parser.add_argument(
        "--start-only",
        action="store_true",
        help="goal 1 only (ours): apps/min while creating in steps, then stop and a cold "
        "start with its CPU by part (host runtime, launch chains, containers, helpers)",
    )
    parser.add_argument(
        "--step", type=int, default=50, help="with --start-only or --with-start: apps a step"
    )
    parser.add_argument(
        "--start-concurrency",
        type=int,
        nargs="+",
        default=[],
        metavar="N",
        help="with --start-only: a cold start for each N, at most N tenants starting at once "
        "(HostConfig.start_concurrency; default: the host's own, 30 per core)",
    )
    parser.add_argument(
        "--with-start",
        action="store_true",
        help="with --live: create in steps, then stop, start from cold and measure memory "
        "before the idle and click rounds (every number of one run at N)",
    )
    args = parser.parse_args(argv)
    args.tenants = args.tenants or (1000 if args.full else 100)
    if os.geteuid() != 0:
        print("bench.tenants needs root (tenant containers)", file=sys.stderr)
        return 2
    reason = probe.why_not()
    if reason is not None:
        print(f"bench.tenants needs tenant containers: {reason}", file=sys.stderr)
        return 2
    if "stock" in args.runtimes and not STOCK_PYTHON.exists():
        print(f"stock supervisor 4.3.0 not found at {STOCK_PYTHON} (scripts/bench makes it)")
        return 2
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    machine = machine_description()
    print(f"machine: {machine}; {args.tenants} tenants", file=sys.stderr, flush=True)
    try:
        if args.live:
            results = {"live": run_live(args)}
        elif args.start_only:
            results = {"start": run_start(args)}
        else:
            results = {runtime: run_one(runtime, args) for runtime in args.runtimes}
    except (Interrupted, KeyboardInterrupt) as exc:
        print(f"interrupted ({exc or 'Ctrl-C'}); everything made was removed", file=sys.stderr)
        return 130
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if args.live:
        table = render_live(results["live"], args.tenants)
        text = f"Machine: {machine}; {when}; {args.restarts} rounds each\n\n{table}"
    elif args.start_only:
        text = f"Machine: {machine}; {when}\n\n{render_start(results['start'], args.tenants)}"
    else:
        table = render(results, args.tenants)
        mode = args.status_mode or "default"
        text = f"Machine: {machine}; {when}; status mode {mode}\n\n{table}"
    print("\n" + text)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    kind = "live" if args.live else "start" if args.start_only else "tenants"
    stem = f"{kind}-{args.tenants}"
    (out / f"{stem}.json").write_text(
        json.dumps({"machine": machine, "when": when, "results": results}, indent=2)
    )
    (out / f"{stem}.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
