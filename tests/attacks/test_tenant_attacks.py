"""A hostile tenant, inside its own container, against the other tenant and the platform.

``alpha`` (tenant acme) is the attacker, ``beta`` (tenant umbrella) the victim; both run an
app, Redis and memcached on the seeds' ports. Every attack is a shell command run through
``hostingctl exec alpha -- sh -c ...`` (alpha's user, alpha's namespaces), and, where the
attack is a trap, a platform job on alpha afterwards.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import socket
import stat
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hosting import services
from hosting.log_reads import LogUnavailable
from hosting.models import App
from hosting.queue import job_queue
from hosting.status import read_app_status

from tests.attacks.conftest import Ledger, hostingctl
from tests.workers.fixtures import Platform, wait_until
from workers.container import probe
from workers.host import host_runtime, program_safe
from workers.runtime import Runtime

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(os.geteuid() != 0, reason="tenant containers need root"),
]
APP_PORT = 8080
SECRET = "beta-secret-4711"


@dataclass
class World:
    platform: Platform
    alpha: int
    beta: int

    @property
    def host_root(self) -> Path:
        return self.platform.hosts["h1"].path

    def sh(self, script: str, app: str = "alpha", timeout: float = 60) -> str:
        done = hostingctl(self.host_root, app, "--", "sh", "-c", script, timeout=timeout)
        return done.stdout + done.stderr

    def root(self, app_id: int) -> Path:
        return self.platform.app_root(app_id)

    def app_name(self, app_id: int) -> str:
        with self.platform.sessions() as session:
            return session.get(App, app_id).name


def _app(platform: Platform, name: str, tenant: str) -> int:
    with platform.sessions() as session:
        from hosting.models import Host, Tenant

        tenant_row = session.query(Tenant).filter_by(slug=tenant).one_or_none()
        if tenant_row is None:
            tenant_row = services.create_tenant(session, tenant.title(), tenant)
        host = session.query(Host).filter_by(name="h1").one()
        command = f"python3 -m http.server --bind 127.0.0.1 {APP_PORT}"
        app = services.create_app(session, tenant_row, host, name, "custom", command)
        services.add_service(session, app, "redis", settings={"snapshots": False})
        services.add_service(session, app, "memcached")
        session.commit()
        return app.id


@pytest.fixture
def world(platform: Platform) -> World:
    reason = probe.why_not()
    if reason is not None:
        pytest.skip(f"no containers here: {reason}")
    platform.add_host("h1", tenant_pids=128, tenant_memory_mb=256)
    alpha, beta = _app(platform, "alpha", "acme"), _app(platform, "beta", "umbrella")
    for app_id in (alpha, beta):
        platform.run("create_app", app_id)
    made = World(platform, alpha, beta)
    # The victim's data: a Redis key, a memcached key, a file, a log line.
    with platform.app_socket(beta, 6379) as sock:
        sock.sendall(f"SET secret {SECRET}\r\n".encode())
        assert sock.recv(100).startswith(b"+OK")
    with platform.app_socket(beta, 11211) as sock:
        sock.sendall(f"set secret 0 0 {len(SECRET)}\r\n{SECRET}\r\n".encode())
        assert sock.recv(100).startswith(b"STORED")
    beta_root = made.root(beta)
    for where in ("var/secret.txt", f"app/{SECRET}"):
        (beta_root / where).write_text(SECRET)
        (beta_root / where).chmod(0o644)
    wait_until(lambda: platform.http_get(beta, APP_PORT, f"/{SECRET}"), 10, "a log line")
    return made


def _probe_port(port: int, request: bytes) -> str:
    return (
        "python3 - <<'EOF'\n"
        "import socket\n"
        "try:\n"
        f"    s = socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
        f"    s.sendall({request!r}); print(s.recv(200))\n"
        "except OSError as e:\n"
        "    print('refused', e)\n"
        "EOF"
    )


def test_the_other_tenants_ports_files_socket_and_logs(world: World, ledger: Ledger) -> None:
    beta_root = world.root(world.beta)
    # Its own Redis and memcached answer on the seeds' ports, and hold nothing of beta's.
    redis = world.sh(_probe_port(6379, b"GET secret\r\n"))
    ledger.attempt("beta's Redis key", SECRET in redis)
    assert "$-1" in redis  # alpha's own Redis: no such key
    cache = world.sh(_probe_port(11211, b"get secret\r\n"))
    ledger.attempt("beta's memcached key", SECRET in cache)
    assert "END" in cache
    # beta's root, socket, logs and data, by their host paths and by guessing.
    for path in (
        beta_root / "var" / "secret.txt",
        beta_root / "log" / "app.log",
        beta_root / "run" / "supervisor.sock",
        beta_root.parent,
    ):
        out = world.sh(f"cat {path} 2>&1; ls -la {path} 2>&1")
        ledger.attempt(f"read {path}", SECRET in out or "No such file or directory" not in out)
    out = world.sh("grep -rs beta-secret /srv /tmp /run /var /opt /home /root 2>/dev/null; echo .")
    ledger.attempt("find beta's data anywhere in the view", SECRET in out)
    out = world.sh(
        "ls /srv/.. /proc/1/root/.. 2>&1; cat /proc/*/cmdline 2>/dev/null | tr '\\0' ' '"
    )
    ledger.attempt("see beta through /proc or ..", "beta" in out)
    # The host's loopback: a server there is out of reach (here: a listener of the test's).
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        out = world.sh(_probe_port(port, b"hello"))
        ledger.attempt("a service on the host's loopback", "refused" not in out)
    finally:
        listener.close()


def test_the_platform_is_out_of_reach(world: World, ledger: Ledger) -> None:
    platform = world.platform
    database = Path(platform.database_url.removeprefix("sqlite:///"))
    redis_socket = Path(platform.redis_url.removeprefix("unix://"))
    assert stat.S_IMODE(database.stat().st_mode) & 0o007 == 0
    for path in (
        database,
        redis_socket,
        world.host_root / "conf" / "host.json",
        world.host_root / "run" / "supervisor.sock",
    ):
        out = world.sh(f"ls -la {path} 2>&1; head -c 200 {path} 2>&1")
        ledger.attempt(f"reach {path}", "No such file or directory" not in out)
    out = world.sh(_probe_port(6379, b"INFO server\r\n"))
    ledger.attempt("the platform's Redis as 127.0.0.1:6379", str(redis_socket) in out)
    # No process of the container carries anything of the platform's environment.
    env = world.sh("cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | sort -u")
    for marker in ("DATABASE_URL", "REDIS_URL", "HOSTING_", "SECRET_KEY", str(platform.base)):
        ledger.attempt(f"{marker} in a process's environment", marker in env)
    assert "HOME=/srv" in env


def test_a_swapped_socket_is_refused_and_costs_only_its_own_app(
    world: World, ledger: Ledger
) -> None:
    platform = world.platform
    beta_socket = world.root(world.beta) / "run" / "supervisor.sock"
    host_socket = world.host_root / "run" / "supervisor.sock"
    for target in (beta_socket, host_socket):
        world.sh(
            f"mv /srv/run/supervisor.sock /srv/run/real.sock; "
            f"ln -s {target} /srv/run/supervisor.sock"
        )
        try:
            platform.read_log(world.alpha, "app")
        except LogUnavailable as exc:
            refusal = str(exc)
            crossed = SECRET in refusal or "beta" in refusal
        else:
            refusal, crossed = "", True
        ledger.attempt(f"a log read through a link to {target.name}", crossed)
        assert "not its runtime's" in refusal, refusal
        job = platform.wait_job(
            platform.enqueue("program_action", world.alpha, action="stop", program="all")
        )
        text = json.dumps(job.result) + (job.error or "")
        crossed = job.status == "done" or SECRET in text or "beta" in text
        ledger.attempt(f"program_action through a link to {target.name}", crossed)
        assert "not its runtime's" in (job.error or ""), job.error
        world.sh("rm /srv/run/supervisor.sock; mv /srv/run/real.sock /srv/run/supervisor.sock")
    # The victim carried on.
    beta_status = wait_until(lambda: read_app_status(platform.redis, world.beta), 10, "beta")
    ledger.attempt(
        "beta's programs stopped",
        any(p["statename"] != "RUNNING" for p in beta_status["processes"]),
    )
    platform.read_log(world.alpha, "app")  # its own socket works again


def test_swapped_logs_and_configs_are_never_followed(world: World, ledger: Ledger) -> None:
    platform = world.platform
    beta_log = world.root(world.beta) / "log" / "app.log"
    # Its log as a link to beta's: the runtime reads it inside alpha's view, where the link
    # leads nowhere.
    world.sh(f"rm -f /srv/log/app.log; ln -s {beta_log} /srv/log/app.log")
    try:
        answer = platform.read_log(world.alpha, "app")
    except LogUnavailable as exc:
        answer = str(exc)
    ledger.attempt("beta's log through alpha's log", SECRET in answer)
    # A managed program file swapped for a link to a file of root's: the platform writes
    # nothing through it. (A file of the test's own: /etc/shadow changes whenever another
    # test adds a user.)
    target = platform.base / "roots-file"
    target.write_text("root's own\n")
    before = (target.read_text(), target.stat().st_mtime_ns, target.stat().st_mode)
    world.sh(
        f"rm -f /srv/conf/supervisor.d/app.conf; ln -s {target} /srv/conf/supervisor.d/app.conf"
    )
    job = platform.wait_job(platform.enqueue("apply_services", world.alpha))
    after = (target.read_text(), target.stat().st_mtime_ns, target.stat().st_mode)
    ledger.attempt("a write through conf/supervisor.d/app.conf", after != before)
    assert job.status == "failed" and "was not written by the platform" in job.error
    assert str(world.root(world.alpha)) not in job.error  # no host path in what it reads
    world.sh("rm /srv/conf/supervisor.d/app.conf")
    # A data directory swapped for a link to /etc: no chown, no chmod of /etc.
    etc = os.stat("/etc")
    world.sh("rm -rf /srv/var/redis; ln -s /etc /srv/var/redis")
    job = platform.wait_job(platform.enqueue("apply_services", world.alpha))
    now = os.stat("/etc")
    ledger.attempt(
        "a chown of /etc through var/redis", (now.st_uid, now.st_mode) != (etc.st_uid, etc.st_mode)
    )
    assert job.status == "failed" and "var/redis" in job.error


def test_environment_and_path_probes_reveal_nothing(world: World, ledger: Ledger) -> None:
    platform = world.platform
    probes = {
        "env": "startsecs=%(ENV_SUPERVISOR_SERVER_URL)s",
        "db": "startsecs=%(ENV_DATABASE_URL)s",
        "exists": f"stdout_logfile={platform.base}/hosting.db",
        "missing": f"stdout_logfile={platform.base}/no-such-file",
    }
    errors = {}
    for name, line in probes.items():
        world.sh(
            f"printf '[program:probe]\\ncommand=/bin/true\\n{line}\\n' > "
            "/srv/conf/supervisor.d/probe.conf"
        )
        job = platform.wait_job(platform.enqueue("apply_services", world.alpha))
        # The runtime sets the tenant's broken file aside ([include] skip_broken): the apply
        # goes through, and what the tenant learns is its own runtime's notice about it.
        assert job.status == "done", job.error
        seen = world.sh("supervisorctl status")
        assert "notice:" in seen and "probe.conf" in seen, seen
        errors[name] = seen[seen.index("notice:") :] + (job.error or "") + json.dumps(job.result)
        for secret in (str(world.host_root), platform.redis_url, "sqlite:", "REDIS", "DATABASE"):
            ledger.attempt(
                f"{name}: {secret} in the job error",
                secret
                in errors[name]
                .replace(f"{platform.base}/hosting.db", "")
                .replace(f"{platform.base}/no-such-file", ""),
            )
    # Whether a host path exists cannot be told apart: both are outside the view.
    same = errors["exists"].replace("hosting.db", "X") == errors["missing"].replace(
        "no-such-file", "X"
    )
    ledger.attempt("a host path's existence told by the error", not same)
    world.sh("rm /srv/conf/supervisor.d/probe.conf")


def test_a_fork_bomb_and_a_memory_hog_stay_inside(world: World, ledger: Ledger) -> None:
    bomb = (
        "python3 -c 'import os,time\n"
        "n=0\n"
        "try:\n"
        "    while n < 1000:\n"
        "        if os.fork()==0: time.sleep(5); os._exit(0)\n"
        "        n+=1\n"
        "except OSError: pass\n"
        'print("forked", n)\''
    )
    out = world.sh(bomb)
    forked = int(out.split("forked")[1].split()[0])
    ledger.attempt("fork past the tasks limit (128)", forked >= 128)
    hog = "python3 -c 'x = bytearray(600 * 1024 * 1024); print(\"allocated\")'; echo rc=$?"
    out = world.sh(hog)
    ledger.attempt("600 MiB past the 256 MiB limit", "allocated" in out)
    assert "rc=137" in out  # SIGKILL, from the OOM killer inside alpha's cgroup
    # beta, and alpha's own runtime, carry on.
    assert world.platform.http_get(world.beta, APP_PORT)
    wait_until(lambda: "RUNNING" in world.sh("supervisorctl status app"), 30, "alpha's app")


def test_kill_9_of_the_runtime(world: World, ledger: Ledger) -> None:
    platform = world.platform
    # From inside, PID 1 cannot be killed.
    out = world.sh("kill -9 1; sleep 0.5; supervisorctl pid")
    ledger.attempt("kill -9 of its runtime from inside", out.strip() != "1")
    # From the host (an OOM kill, an operator): nothing of the container survives, the host
    # runtime starts it again, and one copy of each program runs.
    init = platform.container_init(world.alpha)
    os.kill(init, 9)
    wait_until(
        lambda: _init_or_none(platform, world.alpha) not in (None, init),
        30,
        "the container to be back",
    )
    wait_until(lambda: world.sh("supervisorctl status").count("RUNNING") == 3, 30, "3 RUNNING")
    count = world.sh("ps -eo args | grep -c '^python3 -m http.server'").strip()
    ledger.attempt("a second copy of the app", count != "1")
    assert platform.http_get(world.alpha, APP_PORT)


def _init_or_none(platform: Platform, app_id: int) -> int | None:
    try:
        return platform.container_init(app_id)
    except Exception:
        return None


def test_a_deleted_apps_files_are_out_of_a_new_apps_reach(world: World, ledger: Ledger) -> None:
    platform = world.platform
    old_root = world.root(world.beta)
    old_uid = os.stat(old_root / "var").st_uid
    platform.run("delete_app", world.beta)
    # A new app of the same name, on the same host.
    with platform.sessions() as session:
        from hosting.models import Host, Tenant

        tenant = session.query(Tenant).filter_by(slug="acme").one()
        host = session.query(Host).filter_by(name="h1").one()
        command = f"python3 -m http.server --bind 127.0.0.1 {APP_PORT}"
        new = services.create_app(session, tenant, host, "beta", "custom", command).id
        session.commit()
    assert new > world.beta  # the id was not handed out again
    platform.run("create_app", new)
    new_uid = os.stat(world.root(new) / "var").st_uid
    ledger.attempt("the deleted app's user handed out again", new_uid == old_uid)
    out = world.sh(
        f"ls -la /srv/var; cat /srv/var/secret.txt 2>&1; ls {old_root.parent.parent}/.deleted 2>&1",
        app="beta",
    )
    ledger.attempt("the deleted app's files seen by the new one", SECRET in out)


def test_a_slow_socket_only_marks_its_own_app(world: World, ledger: Ledger) -> None:
    from workers.layout import AppLayout
    from workers.status import APP_SECONDS, AppRef, read_app

    platform = world.platform
    # As the tenant: a server of its own in place of its runtime's socket, one byte a second.
    slow = (
        "mv /srv/run/supervisor.sock /srv/run/real.sock; "
        "nohup python3 -c 'import socket,time\n"
        's=socket.socket(socket.AF_UNIX); s.bind("/srv/run/supervisor.sock"); s.listen(8)\n'
        "while True:\n"
        "    c,_=s.accept()\n"
        '    for b in b"HTTP/1.1 200 OK\\r\\n" * 100: c.send(bytes([b])); time.sleep(1)\n'
        "' >/dev/null 2>&1 &"
    )
    world.sh(slow)
    host = platform.hosts["h1"]
    layout = AppLayout(world.root(world.alpha))
    app = AppRef(world.alpha, "alpha", f"{platform.user_prefix}{world.alpha}", layout)
    began = time.monotonic()
    state, _processes, why, _notices = read_app(host, app)
    ledger.attempt("hold the poller past its deadline", time.monotonic() - began > APP_SECONDS + 1)
    assert state == "down" and why
    # The status feeder, connecting anew (restarted), refuses alpha's own server (not its
    # container's PID 1) before a byte is sent, and goes on pushing beta's changes.
    program = f"status-{program_safe(host.queue)}"
    with host_runtime(host) as runtime:
        runtime.call("stopProcess", f"{program}:{program}")
        runtime.call("startProcess", f"{program}:{program}")

    def alpha_down() -> dict[str, Any] | None:
        status = read_app_status(platform.redis, world.alpha) or {}
        return status if status.get("runtime") == "down" else None

    status = wait_until(alpha_down, 15, "alpha down for the feeder")
    ledger.attempt("the feeder reads alpha's own server", bool(status["processes"]))
    with Runtime(platform.app_serverurl(world.beta), timeout=20) as beta:
        beta.call("stopProcess", "app:app")

    def beta_pushed() -> bool:
        status = read_app_status(platform.redis, world.beta) or {}
        states = {p["name"]: p["statename"] for p in status.get("processes", [])}
        return states.get("app") == "STOPPED"

    pushed = wait_until(beta_pushed, 10, "beta's change pushed")
    ledger.attempt("beta's status held up", not pushed)


def test_a_foreign_job_in_the_queue_never_runs_code(
    world: World, ledger: Ledger, tmp_path: Path
) -> None:
    """Even a write into the platform's Redis (which no tenant can reach) cannot run code:
    the workers read jobs as JSON (a pickled job is refused, not unpickled) and run only the
    platform's job function (a job naming os.system is refused)."""
    from rq import Queue
    from rq.registry import FailedJobRegistry

    marker = tmp_path / "pwned"
    name = world.platform.hosts["h1"].queue
    pickled = Queue(name, connection=world.platform.redis)  # rq's default: pickle
    as_json = job_queue(name, world.platform.redis)
    failed = FailedJobRegistry(queue=as_json)
    for what, rq_job in (
        ("a pickled job", pickled.enqueue(os.system, f"touch {marker}-pickle")),
        ("a JSON job naming os.system", as_json.enqueue("os.system", f"touch {marker}-json")),
    ):
        wait_until(lambda job=rq_job: job.id in failed.get_job_ids(), 30, f"{what} refused")
    for suffix in ("pickle", "json"):
        ledger.attempt(f"a foreign {suffix} job ran", Path(f"{marker}-{suffix}").exists())


INJECT = (
    "import fcntl, os, termios\n"
    "fd = os.open('/dev/tty', os.O_RDWR)\n"
    "for byte in b'echo PWNED-BY-TENANT\\n':\n"
    "    fcntl.ioctl(fd, termios.TIOCSTI, bytes([byte]))\n"
    "print('injected')\n"
)


def test_an_operators_terminal_is_never_the_tenants(world: World, ledger: Ledger) -> None:
    """``hostingctl exec`` from an operator's terminal: the tenant's process pushes keys
    into its terminal (TIOCSTI). They must land in its own pty, never in the operator's,
    where the operator's root shell would read them after the command ends."""
    master, slave = os.openpty()
    command = [
        str(Path(sys.executable).parent / "hostingctl"),
        "exec",
        "--host-root",
        str(world.host_root),
        "alpha",
        "--",
        "python3",
        "-c",
        INJECT,
    ]

    def take_terminal() -> None:  # the operator's shell: a session with this terminal
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        command, stdin=slave, stdout=slave, stderr=slave, preexec_fn=take_terminal
    )
    output = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if process.poll() is not None and b"injected" in output:
            break
    process.wait(30)
    assert b"injected" in output, output  # the tenant's ioctl ran, on some terminal
    # Whatever is now waiting in the operator's terminal's input was typed by no one.
    os.set_blocking(slave, False)
    try:
        pending = os.read(slave, 4096)
    except BlockingIOError:
        pending = b""
    ledger.attempt("keystrokes pushed into the operator's terminal", b"PWNED" in pending)
    os.close(master)
    os.close(slave)


def test_a_config_made_to_eat_memory_meets_the_apps_own_limit(world: World, ledger: Ledger) -> None:
    """The platform parses a tenant's config before it lets it near the runtime; a config
    whose expansion takes gigabytes is parsed within the app's memory limit, and refused."""
    # Each process's command is expanded on its own (%(process_num)s): 12 x 4000 x 28 KB,
    # each command short enough for exec (a longer one is refused before it is expanded).
    world.sh(
        "python3 -c \"open('/srv/conf/supervisor.d/bomb.conf', 'w').write(''.join("
        "'[program:bomb%d]\\\\ncommand=/bin/echo %%(process_num)s ' % i + 'x' * 28000 + '\\\\n'"
        "'process_name=%(program_name)s_%(process_num)s\\\\nnumprocs=4000\\\\n'"
        ' for i in range(12)))"'
    )
    assert (world.root(world.alpha) / "conf/supervisor.d/bomb.conf").stat().st_size > 12 * 28_000
    job = world.platform.wait_job(world.platform.enqueue("apply_services", world.alpha))
    ledger.attempt("a config parse past the app's memory", job.status == "done")
    assert job.status == "failed" and "more memory than the app may use" in job.error, job.error
    assert job.attempts == 1  # refused, not retried
    world.sh("rm /srv/conf/supervisor.d/bomb.conf")
