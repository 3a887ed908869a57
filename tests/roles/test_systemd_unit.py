"""The systemd unit the roles install on a real host (prefix "/"), rendered by ansible-playbook
from the role's own template and defaults, checked by systemd's own tools.

systemd is not PID 1 here, but systemd-analyze reads unit files offline: ``verify`` parses
the unit as systemd would load it, ``security --offline`` scores its sandboxing, and
``syscall-filter`` says which system calls a group holds. What the hardening keeps out, and
why, is in roles/README.md ("The systemd unit").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.roles.playbook import ANSIBLE_PLAYBOOK, BIN, ROLES, local_ansible_env

pytestmark = pytest.mark.timeout(120)

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
ROLE = ROLES / "supervisor_runtime"

# Settings that give the service a mount namespace of its own (or a device allow-list, or
# forbid the namespaces containers are made of): each would break the platform (README).
LEFT_OUT = {
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "PrivateMounts",
    "PrivateNetwork",
    "PrivateUsers",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectHostname",
    "ProtectClock",
    "ProtectProc",
    "ProcSubset",
    "ReadOnlyPaths",
    "ReadWritePaths",
    "InaccessiblePaths",
    "TemporaryFileSystem",
    "RestrictNamespaces",
    "MemoryDenyWriteExecute",
    "DeviceAllow",
    "DevicePolicy",
    "IPAddressDeny",
}
# What the platform does as root under the unit: namespaces and mounts (bwrap, nsenter,
# ip netns), cgroups, entering containers (/proc/<pid>/ns), dropping to users, raising
# minfds, a panel and Redis on sockets.
NEEDED_CAPABILITIES = (
    "CAP_SYS_ADMIN",
    "CAP_NET_ADMIN",
    "CAP_SYS_PTRACE",
    "CAP_SETUID",
    "CAP_SETGID",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_KILL",
    "CAP_SYS_RESOURCE",
    "CAP_NET_BIND_SERVICE",
    "CAP_AUDIT_WRITE",
)
NEEDED_SYSCALLS = ("mount", "umount2", "unshare", "setns", "pivot_root", "clone", "clone3")
NEEDED_FAMILIES = ("AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK")


def render_unit(workdir: Path) -> Path:
    """The unit as the role writes it on a real host, through a real ansible-playbook run
    of the role's template with its defaults. Only the virtualenv moves (to this test's),
    so that ExecStart names a supervisord that exists, as it does on a host."""
    if not ANSIBLE_PLAYBOOK.exists():
        pytest.skip(f"ansible-core is not installed ({ANSIBLE_PLAYBOOK}); pip install .[test]")
    unit = workdir / "supervisord.service"
    playbook = workdir / "render.yml"
    play = {
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "tasks": [
            {"ansible.builtin.include_vars": {"file": str(ROLE / "defaults/main.yml")}},
            {
                "ansible.builtin.template": {
                    "src": str(ROLE / "templates/supervisord.service.j2"),
                    "dest": str(unit),
                    "mode": "0644",
                }
            },
        ],
    }
    playbook.write_text(json.dumps([play]), encoding="utf-8")
    extra_vars = {
        "prefix": "/",
        "supervisor_runtime_venv": str(BIN.parent),
        "ansible_python_interpreter": sys.executable,
    }
    env = local_ansible_env(workdir)
    done = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", str(playbook), "-e", json.dumps(extra_vars)],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return unit


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    if SYSTEMD_ANALYZE is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args], capture_output=True, text=True, timeout=60, check=False
    )


def service_settings(unit: Path) -> dict[str, str]:
    """The [Service] section's settings (the last value of a repeated key)."""
    settings: dict[str, str] = {}
    section = ""
    for line in unit.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Service" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings[key] = value
    return settings


@pytest.fixture(scope="module")
def unit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_unit(tmp_path_factory.mktemp("unit"))


def test_the_real_host_unit_passes_systemd_analyze_verify(unit: Path) -> None:
    settings = service_settings(unit)
    assert settings["ExecStart"] == f"{BIN}/supervisord -n -c /etc/supervisord.conf"
    assert settings["RuntimeDirectory"] == "supervisor"
    verified = analyze("verify", str(unit))
    # verify exits 0 on an unknown key or a value it cannot parse ("..., ignoring"), and
    # only says so on stderr: a clean unit says nothing at all.
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == "", verified.stderr


def test_verify_would_catch_a_misspelt_hardening_setting(unit: Path, tmp_path: Path) -> None:
    """The check above can fail: the same unit with one setting misspelt does not pass."""
    broken = tmp_path / "supervisord.service"
    text = unit.read_text(encoding="utf-8")
    broken.write_text(text.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"), encoding="utf-8")
    verified = analyze("verify", str(broken))
    assert "Unknown key 'NoNewPrivilege'" in verified.stderr


def test_hardening_is_in_and_what_would_break_the_platform_is_out(unit: Path) -> None:
    settings = service_settings(unit)
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["LockPersonality"] == "yes"
    assert settings["RestrictRealtime"] == "yes"
    assert settings["RestrictSUIDSGID"] == "yes"
    assert settings["SystemCallArchitectures"] == "native"
    assert settings["SystemCallErrorNumber"] == "EPERM"
    assert settings["Type"] == "simple"  # the runtime has no sd_notify
    assert sorted(LEFT_OUT & settings.keys()) == []
    assert settings["RestrictAddressFamilies"].split() == list(NEEDED_FAMILIES)
    dropped = settings["CapabilityBoundingSet"].removeprefix("~").split()
    assert settings["CapabilityBoundingSet"].startswith("~")
    assert [cap for cap in NEEDED_CAPABILITIES if cap in dropped] == []


def test_the_syscall_filter_keeps_what_containers_are_made_with(unit: Path) -> None:
    """systemd's own list of each denied group: none holds a call bwrap, nsenter or
    iproute2 needs to make or enter a container."""
    groups = service_settings(unit)["SystemCallFilter"].removeprefix("~").split()
    assert groups and all(group.startswith("@") for group in groups)
    listed = analyze("syscall-filter", *groups)
    assert listed.returncode == 0, listed.stderr
    denied = {
        word
        for line in listed.stdout.splitlines()
        if not line.lstrip().startswith(("#", "@"))
        for word in line.split()
    }
    assert "settimeofday" in denied and "init_module" in denied  # the list was read
    assert [call for call in NEEDED_SYSCALLS if call in denied] == []


def test_systemd_analyze_security_scores_the_unit_offline(unit: Path) -> None:
    scored = analyze("security", "--offline=yes", str(unit))
    assert scored.returncode == 0, scored.stderr
    lines = {
        match["check"]: match["mark"]
        for match in re.finditer(r"^(?P<mark>[✓✗]) (?P<check>\S+)", scored.stdout, re.MULTILINE)
    }
    for check in (
        "NoNewPrivileges=",
        "CapabilityBoundingSet=~CAP_SYS_MODULE",
        "CapabilityBoundingSet=~CAP_SYS_TIME",
        "SystemCallFilter=~@module",
        "SystemCallArchitectures=",
        "RestrictAddressFamilies=~AF_PACKET",
        "RestrictSUIDSGID=",
        "LockPersonality=",
        "RestrictRealtime=",
    ):
        assert lines.get(check) == "✓", f"{check}: {lines.get(check)}\n{scored.stdout}"
    # What the platform needs is still there, as systemd reads the unit.
    assert lines["CapabilityBoundingSet=~CAP_SYS_ADMIN"] == "✗"
    assert lines["PrivateMounts="] == "✗"
    exposure = re.search(r"Overall exposure level for \S+: (\d+\.\d)", scored.stdout)
    assert exposure, scored.stdout[-2000:]
    # 9.6 ("UNSAFE") before the hardening; 6.8 with it (measured with systemd 252).
    assert float(exposure[1]) <= 7.0, scored.stdout[-2000:]


@pytest.mark.skipif(os.geteuid() != 0, reason="making a network namespace needs root")
def test_a_service_mount_namespace_would_strand_the_apps_networks() -> None:
    """Why no Protect*/Private* setting that makes a mount namespace: an app's network is
    a mount at /run/netns/<name>. Made inside a namespace set up as systemd sets up a
    service's (a slave of the host's, then shared), it is gone with the service, the file
    stays, and the platform's own ``netns.ensure`` cannot bring the app's network back."""
    from workers.container import netns

    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare is None or ip is None:
        pytest.skip("needs util-linux's unshare and iproute2's ip")
    name = f"hosting-unit-test-{os.getpid()}"
    path = Path(netns.path_of(name))
    script = f"mount --make-rshared / && {ip} netns add {name} && {ip} -n {name} link set lo up"
    try:
        inside = subprocess.run(
            [unshare, "--mount", "--propagation", "slave", "sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert inside.returncode == 0, inside.stderr  # it works while the service runs
        assert path.exists()  # the file is on the host's /run, its mount is not
        with pytest.raises(netns.NetnsError, match="Invalid argument"):
            netns.ensure(name)
    finally:
        path.unlink(missing_ok=True)
