"""A rollout of two hosts with roles/site.yml (serial: 1, any_errors_fatal) and its health
gate: a good release rolls both, a bad one stops at the first host and the second keeps its
release, then a good one rolls both again.

The two hosts are two aliases of this machine (ansible_connection=local), each a whole
platform in its own prefix with its own panel port. The releases are the session's project
wheel and copies of it under higher versions (tests/roles/releases.py), so each rollout
after the first replaces only the project in the virtualenvs (the dependencies are there).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from supervisor_runtime.ctl.client import connect
from tests.roles.playbook import (
    Install,
    Recap,
    free_port,
    parse_recaps,
    run_playbook,
    tear_down,
    wait_ready,
)
from tests.roles.releases import release, replace_once

# Three rollouts, the first a fresh install of two hosts (measured: see roles/README.md).
pytestmark = pytest.mark.timeout(1200)
PLAYBOOK_SECONDS = 600
HOSTS = ("rollout-a", "rollout-b")  # rolled out in this order (the inventory's)
# The bad release's gate gives up after this long (its panel must come alive within it, on a
# loaded machine too; the default, 120 s, only makes the test slower).
BAD_GATE_DEADLINE = 30

# The bad release: its panel opens Redis's socket without the password. Every process starts
# and stays RUNNING; only /readyz sees it (Redis answers NOAUTH).
PANEL_LOSES_REDIS_PASSWORD = {
    "admin_web/extensions.py": replace_once(
        'redis.Redis.from_url(app.config["REDIS_URL"])',
        'redis.Redis(unix_socket_path=app.config["REDIS_URL"].rpartition("@")[2])',
    )
}


@dataclass
class Fleet:
    """Two prefix installs on this machine, rolled out together by one inventory."""

    workdir: Path
    hosts: dict[str, Install]

    def inventory(self) -> Path:
        """Both hosts in both groups (each a whole platform), with their prefix and port."""
        host_vars = {
            name: {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "prefix": str(inst.prefix),
                "platform_web_bind": f"127.0.0.1:{inst.web_port}",
            }
            for name, inst in self.hosts.items()
        }
        members = {"hosts": dict.fromkeys(self.hosts)}
        path = self.workdir / "inventory.json"  # JSON is YAML to Ansible's yaml plugin
        groups = {"web": members, "app_hosts": members}
        path.write_text(json.dumps({"all": {"hosts": host_vars, "children": groups}}), "utf-8")
        return path

    def roll_out(
        self, wheel: Path, **more_vars: object
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, Recap]]:
        extra_vars = {
            "supervisor_runtime_source": str(wheel),
            "supervisor_runtime_python": sys.executable,
            "platform_web_gunicorn_workers": 1,
            "platform_host_worker_numprocs": 1,
            **more_vars,
        }
        proc, _ = run_playbook(self.workdir, self.inventory(), extra_vars, timeout=PLAYBOOK_SECONDS)
        return proc, parse_recaps(proc.stdout)


@pytest.fixture
def fleet(project_wheel: Path) -> Iterator[Fleet]:
    workdir = Path(tempfile.mkdtemp(prefix="rollout-", dir="/tmp"))  # short socket paths
    hosts = {name: Install(workdir / name, project_wheel, web_port=free_port()) for name in HOSTS}
    for inst in hosts.values():
        inst.prefix.mkdir(parents=True)
    try:
        yield Fleet(workdir, hosts)
    finally:
        left = tear_down(list(hosts.values()), workdir)
        assert not left, f"processes left running after the init scripts' stop: {sorted(left)}"


def installed_version(inst: Install) -> str:
    """The project's version in the host's virtualenv (-I: not the checkout's egg-info in
    the working directory)."""
    code = "import importlib.metadata as m; print(m.version('hosting-platform'))"
    done = subprocess.run(
        [str(inst.venv_bin / "python"), "-I", "-c", code],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def program_pids(inst: Install) -> dict[str, int]:
    """Each program of the host runtime (panel, Redis, workers, poller, reconciler, front)
    and the host runtime itself -> its pid, from `supervisorctl status`."""
    found = {}
    for conf in (inst.system_conf, inst.host_conf):
        status = inst.ctl(conf, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        for line in status.stdout.splitlines():
            name, state, *rest = line.split(None, 2)
            assert state == "RUNNING", status.stdout
            found[name] = int(re.search(r"pid (\d+),", rest[0])[1])
    return found


def check_serves(inst: Install, version: str) -> dict[str, int]:
    """The host runs ``version``, its panel is ready; its programs' pids."""
    assert installed_version(inst) == version
    assert wait_ready(inst.web_port) == 200
    return program_pids(inst)


def check_rolled(proc: subprocess.CompletedProcess[str], recaps: dict[str, Recap]) -> None:
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert set(recaps) == set(HOSTS)
    assert all(r.failed == 0 and r.unreachable == 0 for r in recaps.values()), recaps


# Kept running through a new release: the host runtime upgrades itself in place (so the
# tenants' runtimes it runs are never restarted), and Redis is not the project's code.
IN_PLACE = {"hosting-host", "hosting-redis"}


def generation(inst: Install) -> int:
    """How many live upgrades the host runtime went through (runtime.getDaemonInfo)."""
    proxy = connect(f"unix://{inst.host_home}/run/supervisor.sock", timeout=30)
    return int(proxy.runtime.getDaemonInfo()["generation"])


def rolled(inst: Install, before: dict[str, int], after: dict[str, int], was: int) -> None:
    """The host took the new release: the platform's programs run again in new processes
    (they loaded it), and the host runtime re-executed itself with it, pid unchanged."""
    assert after.keys() == before.keys()
    assert {name for name in after if after[name] == before[name]} == IN_PLACE
    assert generation(inst) == was + 1


def test_bad_release_stops_at_the_first_host_and_a_good_one_rolls_both(
    fleet: Fleet, tmp_path: Path
) -> None:
    first, second = (fleet.hosts[name] for name in HOSTS)
    installed = first.wheel.name.split("-")[1]
    major_minor, patch = installed.rsplit(".", 1)
    bad_version = f"{major_minor}.{int(patch) + 1}"
    good_version = f"{major_minor}.{int(patch) + 2}"

    # A good release on two fresh hosts, one at a time.
    check_rolled(*fleet.roll_out(first.wheel))
    pids = {name: check_serves(inst, installed) for name, inst in fleet.hosts.items()}
    upgrades = {name: generation(inst) for name, inst in fleet.hosts.items()}
    assert "hosting-web" in pids[HOSTS[0]] and "hosting-host" in pids[HOSTS[0]]

    # A bad release: the first host gets it, fails the health gate, and the rollout stops.
    bad = release(first.wheel, bad_version, tmp_path, PANEL_LOSES_REDIS_PASSWORD)
    proc, recaps = fleet.roll_out(bad, platform_web_gate_deadline=BAD_GATE_DEADLINE)
    assert proc.returncode != 0, proc.stdout[-6000:]
    assert recaps[HOSTS[0]].failed == 1, recaps
    url = f"http://127.0.0.1:{first.web_port}/readyz"
    gate = re.search(rf"{HOSTS[0]}: health gate failed.*", proc.stdout)
    assert gate, proc.stdout[-6000:]
    message = gate[0]
    assert f"{url} answered 503 after {BAD_GATE_DEADLINE} s, not ok: redis, workers" in message
    assert "AuthenticationError" in message  # what /readyz said about Redis
    # The second host was never touched: no task ran there, it runs the old release in the
    # same processes, and its panel is ready.
    assert HOSTS[1] not in recaps and f"[{HOSTS[1]}]" not in proc.stdout
    assert not (second.prefix / "opt/hosting/dist" / bad.name).exists()
    assert check_serves(second, installed) == pids[HOSTS[1]]
    # The first host did get the new release: its programs were restarted on it.
    assert installed_version(first) == bad_version
    rolled(first, pids[HOSTS[0]], after_bad := program_pids(first), upgrades[HOSTS[0]])
    pids[HOSTS[0]], upgrades[HOSTS[0]] = after_bad, upgrades[HOSTS[0]] + 1

    # A good release with a higher version rolls both hosts.
    good = release(first.wheel, good_version, tmp_path)
    check_rolled(*fleet.roll_out(good))
    for name, inst in fleet.hosts.items():
        rolled(inst, pids[name], check_serves(inst, good_version), upgrades[name])
