"""Real ansible-playbook runs of roles/site.yml against localhost into a temporary prefix."""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.roles.playbook import ANSIBLE_LINT, ROLES, Install, wait_until_gone

pytestmark = pytest.mark.timeout(600)


def running(status_out: str) -> dict[str, str]:
    """Program name -> state, from `supervisorctl status`."""
    states = {}
    for line in status_out.splitlines():
        words = line.split()
        if len(words) >= 2:
            states[words[0]] = words[1]
    return states


def redis_ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64)


def http_status(port: int) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", method="GET")
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def files_under(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def test_site_installs_runs_is_idempotent_and_stops(install: Install) -> None:
    first, recap = install.playbook()
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert recap.failed == 0 and recap.unreachable == 0
    assert recap.changed > 0

    # The runtime installed in the prefix runs and its supervisorctl answers.
    system = install.ctl(install.system_conf, "status")
    assert system.returncode == 0, system.stdout + system.stderr
    assert running(system.stdout) == {"hosting-host": "RUNNING"}
    host = install.ctl(install.host_conf, "status")
    assert host.returncode == 0, host.stdout + host.stderr
    states = running(host.stdout)
    assert states == {
        "hosting-redis": "RUNNING",
        "hosting-web": "RUNNING",
        "status-localhost": "RUNNING",
        "worker-localhost:worker-localhost-00": "RUNNING",
    }, host.stdout
    assert redis_ping(install.redis_port) == b"+PONG\r\n"
    assert http_status(install.web_port) in (200, 302)

    # The second run changes nothing, and keeps the generated secret.
    secret = (install.prefix / "etc/hosting/secret_key").read_text()
    second, recap2 = install.playbook()
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    assert recap2.changed == 0, second.stdout[-6000:]
    assert recap2.failed == 0
    assert (install.prefix / "etc/hosting/secret_key").read_text() == secret
    assert running(install.ctl(install.host_conf, "status").stdout) == states

    # The SysV script stops everything, and says so.
    pids = install.pids()
    assert len(pids) >= 6
    initd = install.initd
    stop = subprocess.run([str(initd), "stop"], capture_output=True, text=True, timeout=120)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert wait_until_gone(pids, timeout=30) == set()
    status = subprocess.run([str(initd), "status"], capture_output=True, text=True, timeout=30)
    assert status.returncode == 3, status.stdout


def test_installed_files_match_the_platform_contracts(install: Install) -> None:
    """What the roles render is what the platform's code reads (workers.host, init tools)."""
    first, recap = install.playbook()
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]

    # host.json loads as workers.host's settings, with the values the role was given.
    python = str(install.venv_bin / "python")
    code = (
        "import json, sys; from dataclasses import asdict; from workers.host import HostConfig;"
        "print(json.dumps(asdict(HostConfig.load(sys.argv[1]))))"
    )
    loaded = subprocess.run(
        [python, "-c", code, str(install.host_home)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    settings = json.loads(loaded.stdout)
    assert settings["queue"] == "localhost"
    assert settings["redis_url"] == f"redis://127.0.0.1:{install.redis_port}/0"
    assert settings["root"] == str(install.host_home)

    # The host runtime's worker and status programs match workers.host's own rendering.
    code = (
        "import sys; from supervisor_runtime.config import load_config;"
        "from workers.host import HostConfig, host_config_text;"
        "import pathlib, tempfile;"
        "cfg = HostConfig.load(sys.argv[1]);"
        "d = pathlib.Path(tempfile.mkdtemp()); (d / 'ref.conf').write_text(host_config_text(cfg));"
        "progs = lambda c: {g.name: sorted((p.stopsignal.name if hasattr(p.stopsignal, 'name')"
        " else str(p.stopsignal), p.stopwaitsecs) for p in g.processes)"
        " for g in c.groups if not g.name.startswith('hosting-')};"
        "print(progs(load_config(sys.argv[2])) == progs(load_config(str(d / 'ref.conf'))))"
    )
    same = subprocess.run(
        [python, "-c", code, str(install.host_home), str(install.host_conf)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert same.stdout.strip() == "True", same.stdout + same.stderr

    unit = (install.prefix / "etc/systemd/system/supervisord.service").read_text()
    assert "Type=simple" in unit
    assert f"supervisord -n -c {install.system_conf}" in unit
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit
    assert "KillMode=mixed" in unit
    script = install.initd.read_text()
    assert "### BEGIN INIT INFO" in script and "### END INIT INFO" in script
    assert subprocess.run(["sh", "-n", str(install.initd)]).returncode == 0
    conf = install.system_conf.read_text()
    assert f"files = {install.prefix}/etc/supervisor.d/*.conf" in conf


def test_check_mode_on_a_fresh_prefix_changes_nothing(install: Install) -> None:
    before = files_under(install.prefix)
    proc, recap = install.playbook("--check", "--diff")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert recap.failed == 0 and recap.unreachable == 0
    assert files_under(install.prefix) == before == []


@pytest.mark.skipif(not ANSIBLE_LINT.exists(), reason="ansible-lint is not installed")
def test_roles_and_site_pass_ansible_lint_production_profile() -> None:
    proc = subprocess.run(
        [str(ANSIBLE_LINT), "--offline", "--profile", "production", "--nocolor", "site.yml", "."],
        cwd=ROLES,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
