"""The roles run for real: at prefix "/" against this machine, as an operator rolls out a
host, then used as the platform's users use it.

ansible-playbook installs the apt packages, the system users, the /srv layout and the SysV
script (systemd is not PID 1 here; the unit is checked by test_systemd_unit.py); the operator
registers the host and an admin with hostingctl, as the README says; the admin logs in to the
panel and makes an API token; through the API a tenant and its app are created and Redis
enabled; the tenant logs in over SSH (a real sshd, the roles' drop-in) and restarts its app
with supervisorctl inside its container. A second run changes nothing; --check --diff on the
converged host changes nothing either.

It takes the machine over (/etc, /opt, /srv, /var/lib, Debian's redis-server), so it runs
alone, last: it is deselected by default and scripts/test runs it on its own with
``-m real_host``. It refuses a machine where the platform is already installed, and puts the
machine back as it was afterwards (tests/roles/machine.py), checking that nothing differs.
"""

from __future__ import annotations

import hashlib
import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.roles.machine import Snapshot, installed_packages
from tests.roles.playbook import (
    ANSIBLE_PLAYBOOK,
    Recap,
    free_port,
    http_status,
    mode,
    run_playbook,
    running,
    wait_ready,
)

pytestmark = [pytest.mark.real_host, pytest.mark.timeout(1800)]

VENV = Path("/opt/hosting/venv")
HOSTINGCTL = VENV / "bin/hostingctl"
HOST_CONF = Path("/srv/hosting/conf/supervisord.conf")
INITD = Path("/etc/init.d/supervisord")
# Any of these present: the platform (or a leftover of it) is on this machine already.
OURS = (
    "/etc/supervisord.conf",
    "/etc/supervisor.d",
    "/etc/hosting",
    "/etc/init.d/supervisord",
    "/opt/hosting",
    "/srv/hosting",
    "/srv/apps",
    "/var/lib/hosting",
    "/run/hosting-redis",
)
ADMIN = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery staple"
APP_COMMAND = "python3 -m http.server 8080 --bind 127.0.0.1"


def refusal() -> str | None:
    """Why this machine cannot be taken over, or None."""
    if os.geteuid() != 0:
        return "needs root (it installs system packages, users and services)"
    if not shutil.which("apt-get") or not Path("/etc/debian_version").exists():
        return "needs Debian (the roles install with apt)"
    if Path("/run/systemd/system").is_dir():
        return "systemd runs here: the roles would install the unit into the running systemd"
    if not ANSIBLE_PLAYBOOK.exists():
        return f"ansible-core is not installed ({ANSIBLE_PLAYBOOK}); pip install .[test]"
    taken = [path for path in OURS if os.path.lexists(path)]
    if taken:
        return f"the platform is installed here already ({', '.join(taken)}): not touching it"
    if subprocess.run(["getent", "passwd", "hosting"], capture_output=True).returncode == 0:
        return "a user named hosting exists already: not touching it"
    return None


@dataclass
class RealHost:
    workdir: Path
    wheel: Path
    web_port: int = field(default_factory=free_port)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def playbook(self, *args: str) -> tuple[subprocess.CompletedProcess[str], Recap]:
        """roles/site.yml at prefix "/" (no prefix given) against localhost."""
        inventory = self.workdir / "inventory.ini"
        host = f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}"
        inventory.write_text(f"[web]\n{host}\n\n[app_hosts]\n{host}\n", encoding="utf-8")
        extra_vars = {
            "supervisor_runtime_source": str(self.wheel),
            "platform_web_bind": f"127.0.0.1:{self.web_port}",
            "platform_web_gunicorn_workers": 1,
            "platform_host_worker_numprocs": 1,
        }
        # Alone in CI, but a loaded machine is slow at apt and pip.
        return run_playbook(self.workdir, inventory, extra_vars, None, *args, timeout=900)


@pytest.fixture(scope="module")
def real_host(project_wheel: Path) -> Iterator[RealHost]:
    why_not = refusal()
    if why_not:
        pytest.skip(why_not)
    snapshot = Snapshot.take()
    workdir = Path(tempfile.mkdtemp(prefix="real-host-", dir="/tmp"))
    try:
        yield RealHost(workdir, project_wheel)
    finally:
        if INITD.exists():
            subprocess.run([str(INITD), "stop"], capture_output=True, timeout=300)
        snapshot.restore()
        shutil.rmtree(workdir, ignore_errors=True)
        left = snapshot.differences()
        assert not left, "the machine is not as it was:\n" + "\n".join(left[:50])


def hostingctl(*args: str, stdin: str | None = None) -> str:
    """hostingctl as the operator runs it: root, no environment (it reads
    /etc/hosting/platform.env, which the roles wrote)."""
    done = subprocess.run(
        [str(HOSTINGCTL), *args],
        input=stdin,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"hostingctl {args}: {done.stdout}{done.stderr}"
    return done.stdout


class BehindTls(http.cookiejar.DefaultCookiePolicy):
    """The panel's cookies are Secure (it is meant to be behind a TLS proxy); this client
    talks to it on loopback, as that proxy does, so it sends them over plain HTTP."""

    def return_ok_secure(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return True


class Panel:
    """The deployed panel: its HTML forms for a logged-in admin, then its JSON API."""

    def __init__(self, base: str) -> None:
        self.base = base
        cookies = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar(BehindTls()))
        self.browser = urllib.request.build_opener(cookies)
        self.token = ""

    def submit(self, path: str, fields: dict[str, str]) -> str:
        """GET the form at ``path``, then POST it with its CSRF token and ``fields``."""
        page = self.browser.open(self.base + path, timeout=30).read().decode()
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert csrf, page[:2000]
        body = urllib.parse.urlencode({"csrf_token": csrf[1], **fields}).encode()
        return self.browser.open(self.base + path, body, timeout=30).read().decode()

    def log_in_and_make_token(self, email: str, password: str) -> None:
        self.submit("/login", {"email": email, "password": password})
        page = self.submit("/account/tokens", {"name": "real-host test"})
        created = re.search(r"data-new-token>([^<]+)<", page)
        assert created, page[:3000]
        self.token = created[1].strip()

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.base}/api/v1{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def wait_job(self, job: dict[str, Any], timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.api("GET", f"/jobs/{job['id']}")["job"]
            if current["finished"]:
                assert current["status"] == "done", current
                return current
            time.sleep(0.3)
        raise AssertionError(f"job {job['id']} ({job['kind']}) did not finish: {current}")

    def wait_running(self, app_id: int, timeout: float = 60) -> dict[str, dict[str, Any]]:
        """Program name -> process, once every program of the app is RUNNING."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.api("GET", f"/apps/{app_id}/status")
            processes = {p["name"]: p for p in status["processes"]}
            if all(p["state"] == "RUNNING" for p in processes.values()):
                return processes
            if time.monotonic() > deadline:
                raise AssertionError(f"app {app_id} is not RUNNING: {status}")
            time.sleep(0.3)


@dataclass
class Sshd:
    """A second sshd on a free loopback port, with the machine's sshd_config (which
    includes the roles' drop-in)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation
        self.proc = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-p", str(self.port)]
            + ["-o", "ListenAddress=127.0.0.1", "-o", f"PidFile={self.workdir}/sshd.pid"],
            stderr=subprocess.DEVNULL,
        )

    def login(self, user: str, key: Path, command: str) -> subprocess.CompletedProcess[str]:
        """``ssh user@127.0.0.1 command``, retried while sshd is not listening yet."""
        deadline = time.monotonic() + 30
        while True:
            done = subprocess.run(
                ["ssh", "-i", str(key), "-p", str(self.port), "-o", "BatchMode=yes"]
                + ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
                + [f"{user}@127.0.0.1", command],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if done.returncode != 255 or time.monotonic() > deadline:  # 255: ssh's own error
                return done
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def test_roles_deploy_a_working_platform_on_this_host(real_host: RealHost) -> None:
    packages_before = installed_packages()
    first, recap = real_host.playbook()
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
    assert recap.failed == 0 and recap.changed > 0

    check_system_parts(packages_before)
    assert http_status(real_host.web_port, "/healthz") == 200
    assert wait_ready(real_host.web_port) == 200

    # The operator's first steps (README, "The first deploy").
    hostingctl("create-host", "localhost", "--apps-root", "/srv/apps", "--queue", "localhost")
    hostingctl("create-user", ADMIN, "--admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    assert wait_ready(real_host.web_port) == 200  # the registered host's queue has a worker

    panel = Panel(real_host.base)
    panel.log_in_and_make_token(ADMIN, ADMIN_PASSWORD)
    tenant = panel.api("POST", "/tenants", {"name": "Acme", "slug": "acme"})["tenant"]
    assert tenant["slug"] == "acme"
    created = panel.api(
        "POST",
        "/apps",
        {"name": "shop", "tech": "custom", "custom_command": APP_COMMAND}
        | {"tenant": "acme", "host": "localhost"},
    )
    app_id = created["app"]["id"]
    panel.wait_job(created["job"])
    enabled = panel.api("POST", f"/apps/{app_id}/services/redis/enable")
    panel.wait_job(enabled["job"])
    before = panel.wait_running(app_id)
    assert set(before) == {"app", "redis"}

    # The tenant, over SSH: sshd's ForceCommand, sudo, hosting-enter, its own container.
    user = app_user()
    key = real_host.workdir / "tenant_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    keys = Path("/etc/ssh/hosting-keys") / user  # root's, one file per app user
    keys.write_text(key.with_suffix(".pub").read_text(), encoding="utf-8")
    keys.chmod(0o644)
    sshd = Sshd(real_host.workdir)
    sshd.start()
    try:
        inside = sshd.login(user, key, "id -un; supervisorctl restart app")
        escape = sshd.login(user, key, "cat /etc/hosting/platform.env; ls /srv/hosting")
    finally:
        sshd.stop()
    assert inside.returncode == 0, inside.stdout + inside.stderr
    assert inside.stdout.splitlines() == [user, "app: stopped", "app: started"], inside.stdout
    assert escape.returncode != 0 and "REDIS_URL" not in escape.stdout, escape.stdout
    after = panel.wait_running(app_id)
    assert after["app"]["pid"] != before["app"]["pid"]
    assert after["redis"]["pid"] == before["redis"]["pid"]

    # Converged: a second run changes nothing, and neither does --check --diff.
    second, recap2 = real_host.playbook()
    assert second.returncode == 0, second.stdout[-6000:] + second.stderr[-2000:]
    assert (recap2.changed, recap2.failed) == (0, 0), second.stdout[-6000:]
    files = converged_files()
    checked, recap3 = real_host.playbook("--check", "--diff")
    assert checked.returncode == 0, checked.stdout[-6000:] + checked.stderr[-2000:]
    assert (recap3.changed, recap3.failed) == (0, 0), checked.stdout[-6000:]
    assert converged_files() == files
    assert panel.wait_running(app_id)["app"]["pid"] == after["app"]["pid"]

    deleted = panel.api("DELETE", f"/apps/{app_id}")
    panel.wait_job(deleted["job"])


def check_system_parts(packages_before: set[str]) -> None:
    """What a real host gets that a prefix install does not."""
    assert {"bubblewrap", "redis-server", "python3-venv", "sudo"} <= installed_packages()
    assert packages_before <= installed_packages()
    service_user = subprocess.run(["id", "-un", "hosting"], capture_output=True, text=True)
    assert service_user.stdout.strip() == "hosting"
    assert subprocess.run(["getent", "group", "hosting-tenants"]).returncode == 0
    layout = {
        "/srv/apps": 0o711,
        "/srv/hosting/conf": 0o700,
        "/srv/hosting/log": 0o700,
        "/var/lib/hosting": 0o2770,
        "/etc/hosting": 0o750,
        "/etc/hosting/platform.env": 0o640,
        "/etc/sudoers.d/hosting": 0o440,
    }
    assert {path: mode(Path(path)) for path in layout} == layout
    # The database files are the panel's to write too (it runs as the service user).
    for db_file in Path("/var/lib/hosting").glob("hosting.db*"):
        assert mode(db_file) & 0o060 == 0o060, db_file
    # The SysV script runs supervisord and is in the runlevels.
    status = subprocess.run([str(INITD), "status"], capture_output=True, text=True)
    assert status.returncode == 0, status.stdout + status.stderr
    assert list(Path("/etc").glob("rc2.d/S*supervisord"))
    host = subprocess.run(
        [str(VENV / "bin/supervisorctl"), "-c", str(HOST_CONF), "status"],
        capture_output=True,
        text=True,
    )
    states = running(host.stdout)
    assert states.pop("hosting-web") == "RUNNING", host.stdout
    assert set(states.values()) == {"RUNNING"}, host.stdout
    # Debian's redis-server, on the unix socket only.
    redis_conf = Path("/etc/redis/redis.conf").read_text()
    assert re.search(r"^port 0$", redis_conf, re.MULTILINE), "Redis listens on TCP"
    assert Path("/run/hosting-redis/redis.sock").is_socket()


def app_user() -> str:
    """The app's system user: the workers add each app's user to the tenants' group (the one
    sshd sends into containers), and this host has one app."""
    group = subprocess.run(["getent", "group", "hosting-tenants"], capture_output=True, text=True)
    members = [name for name in group.stdout.strip().rsplit(":", 1)[-1].split(",") if name]
    assert len(members) == 1, group.stdout
    return members[0]


def digest(path: Path) -> str:
    return f"{mode(path):o} {hashlib.sha256(path.read_bytes()).hexdigest()}"


def converged_files() -> dict[str, str]:
    """What the roles own on a converged host, by content and mode: a --check run must not
    change any of it."""
    found = {}
    for top in ("/etc/hosting", "/etc/supervisor.d", "/opt/hosting/dist", "/srv/hosting/conf"):
        for path in sorted(Path(top).rglob("*")):
            if path.is_file():
                found[str(path)] = digest(path)
    for path in ("/etc/supervisord.conf", "/etc/init.d/supervisord", "/etc/redis/redis.conf"):
        found[path] = digest(Path(path))
    return found
