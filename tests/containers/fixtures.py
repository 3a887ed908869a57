"""Real tenant containers for tests: a system user, an app root, a spec, the launcher.

Nothing here is faked: ``useradd`` makes the tenant, the launcher (workers.container.launch)
runs as root and becomes bwrap, the app's programs run under our runtime as PID 1. Each
container is torn down with its cgroup, network namespace and user.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.harness import wait_until
from workers.container import assets, cgroups, netns, probe
from workers.container.enter import container_init, enter_argv
from workers.container.spec import ContainerSpec, Limits

SYSTEM_PYTHON = "/usr/bin/python3"
BASE_CONF = """[unix_http_server]
file=/srv/run/supervisor.sock
chmod=0700

[supervisord]
logfile=/srv/log/supervisord.log
pidfile=/srv/run/supervisord.pid
childlogdir=/srv/log
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix:///srv/run/supervisor.sock

[include]
files = supervisor.d/*.conf
"""


def needs_containers() -> None:
    reason = probe.why_not()
    if reason is not None:
        pytest.skip(f"tenant containers cannot run here: {reason}")


def program(name: str, command: str, **options: str) -> str:
    lines = [
        f"[program:{name}]",
        f"command={command}",
        "directory=/srv/app",
        f"stdout_logfile=/srv/log/{name}.log",
        "redirect_stderr=true",
        "startsecs=0",
    ]
    lines += [f"{key}={value}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Container:
    spec: ContainerSpec
    spec_path: Path
    launcher: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=Path)

    @property
    def root(self) -> Path:
        return Path(self.spec.root)

    def write_program(self, name: str, text: str) -> None:
        path = self.root / "conf" / "supervisor.d" / f"{name}.conf"
        path.write_text(text)
        os.chown(path, self.spec.uid, self.spec.gid)

    def start(self) -> None:
        self.launcher = subprocess.Popen(
            [sys.executable, "-m", "workers.container.launch", str(self.spec_path)],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(
            lambda: (
                (self.root / "run" / "supervisor.sock").exists() or self.launcher.poll() is not None
            ),
            30,
            "the tenant runtime's socket",
        )
        assert self.launcher.poll() is None, self.log.read_text()

    def init_pid(self) -> int:
        return container_init(self.spec)

    def run(
        self, *command: str, timeout: float = 60, check: bool = False, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``command`` inside the container as the tenant (what hostingctl exec does)."""
        argv = [
            sys.executable,
            "-c",
            "import sys; from workers.container.spec import load_spec; "
            "from workers.container.enter import enter; "
            "sys.exit(enter(load_spec(sys.argv[1]), sys.argv[2:]))",
            str(self.spec_path),
            *command,
        ]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, input=input, check=False
        )
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("supervisorctl", *args)

    def stop(self) -> None:
        if self.launcher is not None and self.launcher.poll() is None:
            os.killpg(self.launcher.pid, signal.SIGTERM)
            try:
                self.launcher.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.launcher.pid, signal.SIGKILL)
                self.launcher.wait(10)


class Tenants:
    """Makes containers for one test and removes every trace of them after."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.assets = assets.install(base / "host" / "container", SYSTEM_PYTHON)
        self.containers: list[Container] = []

    def make(
        self,
        app: str = "demo",
        limits: Limits | None = None,
        programs: dict[str, str] | None = None,
    ) -> Container:
        user = f"hct{secrets.token_hex(3)}"
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/bin/sh", user],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(user)
        root = self.base / "apps" / f"{app}-{user}" / "srv"
        root.mkdir(parents=True)
        for directory in (root.parent, root):
            directory.chmod(0o711)
        conf = root / "conf"
        conf.mkdir()
        os.chown(conf, 0, entry.pw_gid)
        conf.chmod(0o750)
        (conf / "supervisord.conf").write_text(BASE_CONF)
        os.chown(conf / "supervisord.conf", 0, entry.pw_gid)
        (conf / "supervisord.conf").chmod(0o640)
        for name in ("conf/supervisor.d", "log", "run", "app", "var"):
            path = root / name
            path.mkdir()
            os.chown(path, entry.pw_uid, entry.pw_gid)
            path.chmod(0o700)
        spec = ContainerSpec(
            app=app,
            key=user,
            user=user,
            uid=entry.pw_uid,
            gid=entry.pw_gid,
            root=str(root),
            assets=str(self.assets),
            python=SYSTEM_PYTHON,
            limits=limits or Limits(),
        )
        spec_dir = self.base / "host" / "conf" / "containers"
        spec_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        spec_path = spec_dir / f"{user}.json"
        spec_path.write_text(spec.to_json())
        spec_path.chmod(0o600)
        container = Container(spec, spec_path, log=self.base / f"{user}.launch.log")
        for name, text in (programs or {}).items():
            container.write_program(name, text)
        self.containers.append(container)
        return container

    def cleanup(self) -> None:
        for container in self.containers:
            container.stop()
            cgroups.remove_app(container.spec.key)
            netns.remove(container.spec.netns)
            subprocess.run(["userdel", container.spec.user], capture_output=True, check=False)
            subprocess.run(["groupdel", container.spec.user], capture_output=True, check=False)


@pytest.fixture
def tenants() -> Iterator[Tenants]:
    needs_containers()
    base = Path(tempfile.mkdtemp(prefix="ct-", dir="/tmp"))
    base.chmod(0o711)
    (base / "host").mkdir(mode=0o711)
    made = Tenants(base)
    try:
        yield made
    finally:
        made.cleanup()
        shutil.rmtree(base, ignore_errors=True)


__all__ = ["Container", "Tenants", "enter_argv", "program", "tenants", "wait_until"]
