"""Jobs end to end: real redis-server, RQ workers under our supervisord (the host runtime),
tenant runtimes (our supervisord again) running real programs."""

from __future__ import annotations

import os
import pwd
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from hosting import live_events, services
from hosting.models import App, Service
from hosting.status import read_app_status
from rq.job import Job as RqJob

from tests.workers.fixtures import DEBIAN_PYTHON, Platform, free_port, wait_until
from workers.host import host_runtime
from workers.locks import lock_key
from workers.runtime import Runtime

pytestmark = pytest.mark.timeout(120)
ROOT = os.geteuid() == 0
# A program that ignores SIGTERM: stopping it takes stopwaitsecs, which makes a slow job.
STUBBORN = "/bin/sh -c 'trap \"\" TERM && exec sleep 1000'"


def http_get(platform: Platform, app_id: int, port: int) -> bytes:
    return platform.http_get(app_id, port)


def http_answers(platform: Platform, app_id: int, port: int) -> bool:
    try:
        return bool(http_get(platform, app_id, port))
    except OSError:
        return False


def answers(platform: Platform, app_id: int, port: int, request: bytes, expect: bytes) -> bool:
    try:
        with platform.app_socket(app_id, port) as sock:
            sock.sendall(request)
            data = b""
            while expect not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            return expect in data
    except OSError:
        return False


def pids(platform: Platform, app_id: int) -> dict[str, int]:
    with Runtime(platform.app_serverurl(app_id)) as runtime:
        return {name: info["pid"] for name, info in runtime.states().items()}


def add_service(
    platform: Platform,
    app_id: int,
    kind: str,
    name: str | None = None,
    settings: dict | None = None,
) -> None:
    with platform.sessions() as session:
        services.add_service(session, session.get(App, app_id), kind, name, settings)
        session.commit()


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(directory)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_create_app_runs_under_the_host_runtime(platform: Platform) -> None:
    platform.add_host("h1")
    app_id, port = platform.create_app()
    job = platform.run("create_app", app_id)
    assert job.attempts == 1 and job.actor == "test"

    wait_until(lambda: http_answers(platform, app_id, port), 10, "the app to answer HTTP")
    config = platform.hosts["h1"]
    with host_runtime(config) as runtime:
        # The job ends once the runtime answers; the host calls it RUNNING after startsecs.
        tenant = wait_until(
            lambda: (
                (info := runtime.states()["tenant-web:tenant-web"])["statename"] == "RUNNING"
                and info
            ),
            5,
            "the host runtime to call the tenant runtime RUNNING",
        )
    root = platform.app_root(app_id)
    sock = os.stat(root / "run" / "supervisor.sock")
    assert stat.S_IMODE(sock.st_mode) == 0o700
    if ROOT:
        assert pwd.getpwuid(sock.st_uid).pw_name == f"{platform.user_prefix}{app_id}"
        assert pwd.getpwuid(os.stat(f"/proc/{tenant['pid']}").st_uid).pw_name.startswith(
            platform.user_prefix
        )
    assert (root / "conf/supervisor.d/app.conf").read_text().startswith("; managed")

    # Pushed by the feeder once it reaches the new runtime.
    status = wait_until(
        lambda: (s := read_app_status(platform.redis, app_id)) and s["runtime"] == "up" and s,
        10,
        "an up status",
    )
    assert [p["name"] for p in status["processes"]] == ["app"]

    # The host runtime brings a crashed tenant runtime back. In a container nothing of the
    # old one survives its SIGKILL; without one (as with stock supervisord) its children
    # outlive it, and the old app is killed by hand here.
    if config.containers:
        os.kill(platform.container_init(app_id), signal.SIGKILL)
    else:
        old_app = pids(platform, app_id)["app:app"]
        os.kill(tenant["pid"], signal.SIGKILL)
        os.kill(old_app, signal.SIGKILL)
    with host_runtime(config) as runtime:
        wait_until(
            lambda: runtime.states()["tenant-web:tenant-web"]["pid"] not in (0, tenant["pid"]),
            10,
            "the tenant runtime to be restarted",
        )
    Runtime(platform.app_serverurl(app_id)).wait_up(10)
    wait_until(lambda: http_answers(platform, app_id, port), 15, "the app to answer again")

    # Idempotent: a finished job run again changes nothing; applying again neither.
    before = pids(platform, app_id)
    from workers.job_handlers import Context, execute

    context = Context(config, platform.redis, platform.sessions, platform.sessions)
    assert execute(context, job.id) == job.result
    assert platform.job(job.id).attempts == 1
    again = platform.run("apply_services", app_id)
    assert again.result["files"] == {"written": [], "removed": []}
    assert again.result["update"] == {"added": [], "changed": [], "removed": []}
    assert pids(platform, app_id) == before


def test_enable_redis_and_memcached_then_disable(platform: Platform) -> None:
    platform.add_host("h1")
    app_id, port = platform.create_app()
    platform.run("create_app", app_id)
    app_pid = pids(platform, app_id)["app:app"]

    redis_port, memcached_port = free_port(), free_port()
    add_service(platform, app_id, "redis", settings={"port": redis_port, "snapshots": False})
    add_service(platform, app_id, "memcached", settings={"port": memcached_port})
    job = platform.run("apply_services", app_id)
    assert sorted(job.result["update"]["added"]) == ["memcached", "redis"]

    wait_until(
        lambda: answers(platform, app_id, redis_port, b"PING\r\n", b"+PONG"), 10, "redis PING"
    )
    wait_until(
        lambda: answers(platform, app_id, memcached_port, b"stats\r\n", b"END\r\n"),
        10,
        "memcached stats",
    )
    assert answers(platform, app_id, memcached_port, b"stats\r\n", b"STAT pid ")
    assert pids(platform, app_id)["app:app"] == app_pid  # unchanged programs keep their PID

    with platform.sessions() as session:
        service = services.service_named(session, session.get(App, app_id), "memcached")
        services.disable_service(session, service)
        session.commit()
    job = platform.run("apply_services", app_id)
    assert job.result["update"]["removed"] == ["memcached"]
    root = platform.app_root(app_id)
    assert not (root / "conf/supervisor.d/memcached.conf").exists()
    assert sorted(pids(platform, app_id)) == ["app:app", "redis:redis"]
    assert pids(platform, app_id)["app:app"] == app_pid
    wait_until(
        lambda: not answers(platform, app_id, memcached_port, b"stats\r\n", b"END"),
        10,
        "memcached gone",
    )


def test_restart_app_and_read_its_log(platform: Platform) -> None:
    platform.add_host("h1")
    app_id, port = platform.create_app()
    platform.run("create_app", app_id)
    wait_until(lambda: http_answers(platform, app_id, port), 10, "the app to answer HTTP")
    before = pids(platform, app_id)["app:app"]

    # The app's live pages hear of the job as it changes (claimed, then done), and of the
    # new pid from the status poller.
    listener = platform.redis.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(live_events.app_channel(app_id))
    job = platform.run("program_action", app_id, action="restart", program="app")
    heard: dict[str, int] = {"job": 0, "status": 0}
    deadline = time.monotonic() + 15
    while (heard["job"] < 2 or not heard["status"]) and time.monotonic() < deadline:
        message = listener.get_message(timeout=0.5)
        if message is not None:
            event = live_events.parse_event(message["data"])
            assert event["app"] == app_id
            heard[event["kind"]] = heard.get(event["kind"], 0) + 1
    listener.close()
    assert heard["job"] == 2 and heard["status"] >= 1, heard
    after = job.result["processes"]["app:app"]
    assert after["state"] == "RUNNING" and after["pid"] not in (0, before)
    wait_until(lambda: http_answers(platform, app_id, port), 10, "the restarted app to answer")

    job = platform.run("program_action", app_id, action="stop", program="all")
    assert pids(platform, app_id)["app:app"] == 0
    job = platform.run("program_action", app_id, action="start", program="all")
    assert pids(platform, app_id)["app:app"] > 0

    wait_until(lambda: http_answers(platform, app_id, port), 10, "the app to answer HTTP")
    assert '"GET / HTTP/1.1" 200' in platform.read_log(app_id, "app", "stdout", 2000)


def test_a_program_that_cannot_start_fails_the_job_with_its_log(platform: Platform) -> None:
    platform.add_host("h1")
    app_id, _port = platform.create_app()
    platform.run("create_app", app_id)
    add_service(
        platform,
        app_id,
        "custom",
        "broken",
        {"command": "/bin/sh -c 'echo no database here && exit 3'"},
    )
    job = platform.wait_job(platform.enqueue("apply_services", app_id))
    assert job.status == "failed"
    assert "broken:broken is FATAL" in job.error or "broken:broken" in job.error
    assert "no database here" in job.log_tail
    assert job.attempts == 1  # a permanent failure is not retried


def _slow_app(platform: Platform) -> int:
    app_id, _port = platform.create_app()
    add_service(platform, app_id, "custom", "stubborn", {"command": STUBBORN, "stopwaitsecs": 3})
    platform.run("create_app", app_id)
    return app_id


def test_a_worker_killed_mid_job_is_retried_and_the_jobs_behind_it_run(
    platform: Platform,
) -> None:
    # One worker: the jobs behind the killed one wait in Redis for the worker that the
    # host runtime starts again. Jobs run in the worker's own process (no work horse), so
    # the lock's holder is the worker itself.
    platform.add_host("h1", workers=1)
    app_id = _slow_app(platform)
    before = pids(platform, app_id)["stubborn:stubborn"]

    job_id = platform.enqueue("program_action", app_id, action="restart", program="stubborn")
    behind = platform.enqueue("program_action", app_id, action="restart", program="stubborn")
    holder = wait_until(lambda: platform.redis.get(lock_key(app_id)), 10, "the job to start")
    worker = int(holder.decode().split(":")[1])  # <host>:<pid>:<start>:<job id>:<random>
    wait_until(lambda: platform.job(job_id).status == "running", 5, "the job to be running")
    time.sleep(0.5)  # well inside the 3 s the stop takes
    os.kill(worker, signal.SIGKILL)

    job, second = platform.wait_job(job_id, 60), platform.wait_job(behind, 60)
    assert job.status == "done", job.error
    assert job.attempts == 2
    assert second.status == "done", second.error
    assert second.attempts == 1
    after = pids(platform, app_id)["stubborn:stubborn"]
    assert after not in (0, before)
    rq_job = RqJob.fetch(job_id, connection=platform.redis)
    wait_until(lambda: rq_job.get_status() == "finished", 10, "RQ to see the job finished")


def test_two_jobs_on_one_app_serialize(platform: Platform) -> None:
    platform.add_host("h1", workers=2)
    app_id = _slow_app(platform)
    first = platform.enqueue("program_action", app_id, action="restart", program="stubborn")
    second = platform.enqueue("program_action", app_id, action="restart", program="stubborn")
    jobs = [platform.wait_job(job_id, 60) for job_id in (first, second)]
    assert [job.status for job in jobs] == ["done", "done"]
    a, b = sorted(jobs, key=lambda job: job.started_at)
    assert a.finished_at <= b.started_at, "the two jobs' running intervals overlap"
    # Both were picked up at once by the two workers: the second one waited for the lock.
    rq_jobs = [RqJob.fetch(job.id, connection=platform.redis) for job in (a, b)]
    assert rq_jobs[0].worker_name != rq_jobs[1].worker_name
    assert rq_jobs[1].started_at.timestamp() < a.finished_at.timestamp()


def test_a_bad_setting_is_refused_before_any_file_changes(platform: Platform) -> None:
    platform.add_host("h1")
    app_id, _port = platform.create_app()
    platform.run("create_app", app_id)
    redis_port = free_port()
    add_service(platform, app_id, "redis", settings={"port": redis_port, "snapshots": False})
    root = platform.app_root(app_id)
    conf = root / "conf"
    before_files = snapshot(conf)
    before_pids = pids(platform, app_id)

    # A value the catalog refuses, stored behind the enqueue side's back.
    with platform.sessions() as session:
        service = services.service_named(session, session.get(App, app_id), "redis")
        service.settings = {"port": redis_port, "maxmemory_mb": "lots\n[program:evil]"}
        session.commit()
    job = platform.wait_job(platform.enqueue("apply_services", app_id))
    assert job.status == "failed" and "maxmemory_mb" in job.error
    assert snapshot(conf) == before_files
    assert pids(platform, app_id) == before_pids  # the runtime was not touched

    # A tenant's own broken file does not stop the platform's apply: the app's runtime sets
    # it aside ([include] skip_broken), so the apply goes on and the rest is updated.
    with platform.sessions() as session:
        service = session.query(Service).filter_by(app_id=app_id, name="redis").one()
        service.settings = {"port": redis_port, "snapshots": False}
        session.commit()
    own = conf / "supervisor.d" / "mine.conf"
    own.write_text("[program:mine]\ncommand=/bin/true\nnumprocs=2\n")  # needs process_num
    job = platform.run("apply_services", app_id)
    assert job.result["update"]["added"] == ["redis"]
    assert "mine" not in pids(platform, app_id)
    assert own.read_text().startswith("[program:mine]")  # the tenant's file is left alone


@pytest.mark.skipif(not ROOT, reason="needs root: apps' own system users")
def test_a_tenant_cannot_reach_another_tenants_runtime(platform: Platform) -> None:
    platform.add_host("h1")
    first, _ = platform.create_app(name="alpha", tenant="acme")
    second, _ = platform.create_app(name="beta", tenant="umbrella")
    platform.run("create_app", first)
    platform.run("create_app", second)
    own_url, other_url = platform.app_serverurl(first), platform.app_serverurl(second)
    other_sock = os.stat(other_url[len("unix://") :])
    user = pwd.getpwnam(f"{platform.user_prefix}{first}")
    assert other_sock.st_uid != user.pw_uid and stat.S_IMODE(other_sock.st_mode) == 0o700

    probe = (
        "import sys\n"
        "from supervisor_runtime.ctl.client import connect\n"
        "try:\n"
        "    print(connect(sys.argv[1], timeout=5).supervisor.getState()['statename'])\n"
        "except OSError as exc:\n"
        "    print('refused', type(exc).__name__, exc.errno)\n"
    )
    import supervisor_runtime

    env = {"PYTHONPATH": str(Path(supervisor_runtime.__file__).parent.parent), "PATH": "/usr/bin"}

    def as_first_tenant(url: str) -> str:
        done = subprocess.run(
            [DEBIAN_PYTHON, "-c", probe, url],
            user=user.pw_uid,
            group=user.pw_gid,
            extra_groups=[],
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
            cwd="/",
        )
        return done.stdout.strip() + done.stderr.strip()

    assert as_first_tenant(own_url) == "RUNNING"  # `supervisorctl restart app` works on its own
    assert as_first_tenant(other_url).startswith("refused")


def test_two_hosts_on_one_machine(platform: Platform) -> None:
    platform.add_host("h1", workers=1)
    platform.add_host("h2", workers=1)
    one, port_one = platform.create_app(host="h1", name="web")
    two, port_two = platform.create_app(host="h2", name="web")  # same name, other host
    jobs = [platform.enqueue("create_app", one), platform.enqueue("create_app", two)]
    done = [platform.wait_job(job_id) for job_id in jobs]
    assert [job.status for job in done] == ["done", "done"], [job.error for job in done]
    wait_until(
        lambda: http_answers(platform, one, port_one) and http_answers(platform, two, port_two),
        10,
        "both apps",
    )

    queues = {name: config.queue for name, config in platform.hosts.items()}
    for job_id, host in zip(jobs, ("h1", "h2"), strict=True):
        worker = RqJob.fetch(job_id, connection=platform.redis).worker_name
        assert worker.startswith(queues[host] + "."), (worker, host)
    for host, app_id in (("h1", one), ("h2", two)):
        with host_runtime(platform.hosts[host]) as runtime:
            assert "tenant-web" in runtime.groups()
        assert str(platform.app_root(app_id)).startswith(str(platform.base / host))
    assert platform.app_root(one) != platform.app_root(two)


def test_delete_app_keeps_its_logs(platform: Platform) -> None:
    platform.add_host("h1")
    app_id, port = platform.create_app()
    platform.run("create_app", app_id)
    wait_until(lambda: http_answers(platform, app_id, port), 10, "the app")
    root = platform.app_root(app_id)
    job = platform.run("delete_app", app_id)
    assert job.result["deleted"] is True and job.app_id is None  # the audit row stays
    with host_runtime(platform.hosts["h1"]) as runtime:
        assert "tenant-web" not in runtime.groups()
    # Kept, but moved out of the apps' reach: a later app of the same name starts afresh.
    kept = root.parent.parent / job.result["kept"]
    assert (kept / "srv" / "log" / "app.log").exists()
    assert stat.S_IMODE(os.stat(kept.parent).st_mode) == 0o700
    assert not root.exists()
    user = f"{platform.user_prefix}{app_id}"
    assert not Path(f"/run/netns/hosting-{user}").exists()  # nothing left to reach
    if ROOT:
        assert pwd.getpwnam(user).pw_shell == "/usr/sbin/nologin"  # kept, never reused


def test_a_host_without_containers_runs_apps_as_plain_processes(platform: Platform) -> None:
    """Where containers cannot be made (or an operator turns them off), apps still run: as
    their own users' plain processes, with an emptied environment, and the host says why."""
    platform.add_host("h1", containers=False)
    config = platform.hosts["h1"]
    assert not config.containers and config.containers_off == "turned off by the operator"
    app_id, port = platform.create_app()
    platform.run("create_app", app_id)
    wait_until(lambda: http_answers(platform, app_id, port), 10, "the app to answer HTTP")
    root = platform.app_root(app_id)
    assert f"directory={root}/app" in (root / "conf/supervisor.d/app.conf").read_text()
    runtime_pid = pids(platform, app_id)["app:app"]
    environ = Path(f"/proc/{runtime_pid}/environ").read_bytes().split(b"\0")
    names = {item.split(b"=", 1)[0] for item in environ if item}
    assert not names & {b"DATABASE_URL", b"REDIS_URL", b"HOSTING_HOST_ROOT"}, names
    # Pushed by the feeder once it reaches the new runtime.
    wait_until(
        lambda: (read_app_status(platform.redis, app_id) or {}).get("runtime") == "up",
        10,
        "an up status",
    )
