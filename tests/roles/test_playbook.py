"""Real ansible-playbook runs of roles/site.yml against localhost into a temporary prefix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hosting.program_section import program_section

from tests.prometheus_text import get, parse, value
from tests.roles.playbook import (
    ANSIBLE_LINT,
    REPO,
    ROLES,
    Install,
    check_pinned,
    free_port,
    http_status,
    mode,
    processes_mentioning,
    redis_call,
    running,
    sha256,
    tcp_listeners,
    wait_ready,
    wait_until_gone,
)

pytestmark = pytest.mark.timeout(600)
METRICS_TOKEN = "site-test-metrics-token"


def host_settings(install: Install) -> dict[str, object]:
    """conf/host.json as workers.host loads it."""
    code = (
        "import json, sys; from dataclasses import asdict; from workers.host import HostConfig;"
        "print(json.dumps(asdict(HostConfig.load(sys.argv[1]))))"
    )
    loaded = subprocess.run(
        [str(install.venv_bin / "python"), "-c", code, str(install.host_home)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(loaded.stdout)


def check_redis_is_private(install: Install) -> None:
    """The job queue's Redis: a password, a unix socket in a directory only the platform's
    user enters, and no TCP port at all."""
    password = install.redis_password()
    assert len(password) >= 32
    assert mode(install.redis_password_file) == 0o600
    assert mode(install.redis_socket.parent) == 0o750
    assert mode(install.redis_socket) & 0o007 == 0
    assert redis_call(install.redis_socket, "PING").startswith(b"-NOAUTH")
    answer = redis_call(install.redis_socket, f"AUTH {password}", "PING", "CONFIG GET port")
    assert answer.startswith(b"+OK\r\n+PONG\r\n*2\r\n$4\r\nport\r\n$1\r\n0\r\n"), answer
    # The queue survives a restart of Redis (an append-only file).
    durable = redis_call(install.redis_socket, f"AUTH {password}", "CONFIG GET appendonly")
    assert b"*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n" in durable, durable
    pid = int(install.ctl(install.host_conf, "pid", "hosting-redis").stdout.strip())
    assert pid > 0
    assert tcp_listeners(pid) == []
    # Given to every program through files, never on a command line.
    assert processes_mentioning(password) == set()


def check_metrics(install: Install, metrics_port: int) -> None:
    """Both endpoints as deployed (docs/METRICS.md), parsed by prometheus_client's parser."""
    panel = f"http://127.0.0.1:{install.web_port}/metrics"
    assert get(panel)[0] == 401  # the token reached the panel's environment
    status, _type, body = get(panel, token=METRICS_TOKEN)
    assert status == 200, body[:500]
    samples = parse(body)[1]
    readyz = {"endpoint": "health.readyz", "method": "GET", "status": "200"}
    assert value(samples, "hosting_http_requests_total", **readyz) >= 1
    status, _type, body = get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert status == 200, body[:500]
    assert value(parse(body)[1], "hosting_queue_depth", queue="localhost") == 0


def files_under(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def test_site_installs_runs_is_idempotent_and_stops(
    install: Install, wheelhouse: Path, no_index: dict[str, str]
) -> None:
    # As a host with no package index installs: from the offline wheelhouse alone (the
    # real-host test installs from the index).
    install.more_vars["supervisor_runtime_wheelhouse"] = str(wheelhouse)
    install.env = no_index
    # Metrics on (off by default): the panel's token and the workers' listener.
    metrics_port = free_port()
    install.more_vars["platform_web_metrics_token"] = METRICS_TOKEN
    install.more_vars["platform_host_metrics_listen"] = f"127.0.0.1:{metrics_port}"
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
    expected = {
        "hosting-redis": "RUNNING",
        "hosting-web": "RUNNING",
        "metrics-localhost": "RUNNING",
        "reconcile-localhost": "RUNNING",
        "status-localhost": "RUNNING",
        "usage-localhost": "RUNNING",
        "worker-localhost:worker-localhost-00": "RUNNING",
    }
    # The front (the way in to tenants' apps) runs where the host makes containers (root,
    # bubblewrap, user namespaces); host-config decides and records it in host.json.
    if host_settings(install)["containers"]:
        expected["front-localhost"] = "RUNNING"
    assert states == expected, host.stdout
    check_redis_is_private(install)
    check_platform_contracts(install)
    assert http_status(install.web_port) in (200, 302)
    assert http_status(install.web_port, "/healthz") == 200
    assert wait_ready(install.web_port) == 200  # database migrated, Redis, a worker seen
    check_metrics(install, metrics_port)

    # The wheelhouse is on the host, and the project's wheel installed is its own (not
    # supervisor_runtime_source's, which the play was also given and must not use); every
    # package in the venv is at its pin.
    shipped = install.prefix / "opt/hosting/wheelhouse"
    assert {p.name: sha256(p) for p in shipped.iterdir()} == {
        p.name: sha256(p) for p in wheelhouse.iterdir()
    }
    ours = next(wheelhouse.glob("hosting_platform-*.whl"))
    assert sha256(install.prefix / "opt/hosting/dist" / ours.name) == sha256(ours)
    assert sha256(ours) != sha256(install.wheel)
    check_pinned(install.prefix / "opt/hosting/venv", wheelhouse / "constraints.txt")
    assert (wheelhouse / "constraints.txt").read_bytes() == (REPO / "constraints.txt").read_bytes()

    # The second run changes nothing, and keeps the generated secrets.
    secret = (install.prefix / "etc/hosting/secret_key").read_text()
    password = install.redis_password()
    second, recap2 = install.playbook()
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    assert recap2.changed == 0, second.stdout[-6000:]
    assert recap2.failed == 0
    assert (install.prefix / "etc/hosting/secret_key").read_text() == secret
    assert install.redis_password() == password
    assert password not in first.stdout + second.stdout
    assert running(install.ctl(install.host_conf, "status").stdout) == states
    check_redis_is_private(install)

    # The SysV script stops everything, and says so.
    pids = install.pids()
    assert len(pids) >= 6
    initd = install.initd
    stop = subprocess.run([str(initd), "stop"], capture_output=True, text=True, timeout=120)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert wait_until_gone(pids, timeout=30) == set()
    status = subprocess.run([str(initd), "status"], capture_output=True, text=True, timeout=30)
    assert status.returncode == 3, status.stdout


def check_platform_contracts(install: Install) -> None:
    """What the roles render is what the platform's code reads (workers.host, init tools)."""
    # host.json loads as workers.host's settings, with the values the role was given: the
    # Redis URL is the socket's, with the password; the user prefix is the platform's own.
    settings = host_settings(install)
    redis_url = f"unix://:{install.redis_password()}@{install.redis_socket}"
    assert settings["queue"] == "localhost"
    assert settings["redis_url"] == redis_url
    assert settings["root"] == str(install.host_home)
    assert settings["user_prefix"] is None
    assert settings["tenant_python"] == "/usr/bin/python3"
    assert (settings["tenant_memory_mb"], settings["tenant_pids"]) == (1024, 512)
    assert settings["tenant_cpu_weight"] == 100
    # The platform's settings, for hostingctl (hosting.settings reads them back as written).
    platform_env = install.prefix / "etc/hosting/platform.env"
    assert mode(platform_env) == 0o640
    python = str(install.venv_bin / "python")
    read_back = subprocess.run(
        [
            python,
            "-c",
            "from hosting.settings import load_settings; s = load_settings();"
            "print(s.redis_url, s.database_url, s.host_root, s.apps_root)",
        ],
        env={"HOSTING_SETTINGS": str(platform_env)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert read_back.returncode == 0, read_back.stderr
    assert read_back.stdout.split() == [
        redis_url,
        f"sqlite:///{install.prefix}/var/lib/hosting/hosting.db",
        str(install.host_home),
        f"{install.prefix}/srv/apps",
    ]
    web_env = (install.prefix / "etc/hosting/web.env").read_text()
    assert f"REDIS_URL={redis_url}\n" in web_env
    assert mode(install.prefix / "etc/hosting/web.env") == 0o640

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
    check_program_files(install)
    check_tenant_ssh_files(install)


def check_program_files(install: Install) -> None:
    """The roles' programs, each written by hostingctl program-file: the managed header, then
    nothing but what hosting.program_section makes of the options, with the role's mode."""
    files = {
        install.prefix / "etc/supervisor.d/hosting-host.conf": 0o644,
        install.host_home / "conf/platform.d/hosting-redis.conf": 0o600,
        install.host_home / "conf/platform.d/hosting-web.conf": 0o600,
    }
    for path, file_mode in files.items():
        assert mode(path) == file_mode, path
        lines = path.read_text().splitlines()
        start = lines.index(f"[program:{path.stem}]")
        assert lines[0] == "; Ansible managed" and start == 2, lines[:3]
        options = [tuple(line.split("=", 1)) for line in lines[start + 1 :]]
        assert "\n".join(lines[start:]) + "\n" == program_section(path.stem, options)
        assert options[0][0] == "command"


def check_tenant_ssh_files(install: Install) -> None:
    """SSH for tenants: sshd's ForceCommand asks sudo for hosting-enter, which enters the
    caller's own container (rendered under the prefix; nothing there uses them)."""
    sbin = install.prefix / "usr/local/sbin"
    enter, ssh = sbin / "hosting-enter", sbin / "hosting-ssh"
    sudoers = install.prefix / "etc/sudoers.d/hosting"
    dropin = install.prefix / "etc/ssh/sshd_config.d/hosting.conf"
    assert (mode(enter), mode(ssh), mode(sudoers), mode(dropin)) == (0o755, 0o755, 0o440, 0o644)

    hostingctl = install.venv_bin / "hostingctl"
    line = f'exec {hostingctl} enter --host-root {install.host_home} --ssh-command="$1"'
    assert line in enter.read_text().splitlines()
    line = f'exec /usr/bin/sudo -n {enter} "$SSH_ORIGINAL_COMMAND"'
    assert line in ssh.read_text().splitlines()
    for script in (enter, ssh):
        assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    rule = f"%hosting-tenants ALL=(root) NOPASSWD: {enter}"
    assert rule in sudoers.read_text().splitlines()
    lines = [line.strip() for line in dropin.read_text().splitlines()]
    block = lines[lines.index("Match Group hosting-tenants") :]
    assert f"ForceCommand {ssh}" in block
    assert {"DisableForwarding yes", "PermitUserRC no", "PermitTunnel no"} <= set(block)
    keys = install.prefix / "etc/ssh/hosting-keys"
    assert f"AuthorizedKeysFile {keys}/%u" in block and mode(keys) == 0o755

    visudo = shutil.which("visudo", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if visudo:
        check = subprocess.run([visudo, "-cf", str(sudoers)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    sshd = shutil.which("sshd", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if sshd and os.geteuid() == 0 and Path("/run/sshd").is_dir():
        check = subprocess.run([sshd, "-t", "-f", str(dropin)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr

    # The tenant's command is only ever the value of --ssh-command: one that looks like an
    # option is refused as a user with no app, not read as an option.
    env = {"PATH": "/usr/bin:/bin", "SUDO_UID": "4000000"}
    tried = subprocess.run(
        [str(enter), "--host-root=/", "--ignored"], env=env, capture_output=True, text=True
    )
    if os.geteuid() == 0:
        assert tried.returncode == 2, tried.stdout + tried.stderr
        assert "your user has no app on this host" in tried.stderr
    else:
        assert "runs through sudo" in tried.stderr


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
