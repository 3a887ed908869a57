"""The host-level runtime: our supervisord supervising every tenant runtime and the workers.

A host root holds ``conf/supervisord.conf`` (rendered here), ``conf/host.json`` (this host's
settings, read by its workers and status poller), ``conf/apps.d/<app>.conf`` (one
``[program:tenant-<app>]`` per app), ``run/supervisor.sock`` and ``log/``. The host runtime
runs:

- ``worker-<queue>``: the RQ workers of the host's queue (the rq docs' supervisor recipe:
  numprocs, ``%(process_num)02d``, stopsignal TERM so the current job finishes, stopwaitsecs
  above the job timeout);
- ``status-<queue>``: the status poller (``workers.status``);
- ``tenant-<app>``: ``supervisord -n -c <app root>/conf/supervisord.conf`` for each app, as
  the app's own user when the host runs as root, restarted if it ever exits.

Registering an app writes its ``apps.d`` file (validated with the whole host config first)
and applies just that program to the running host runtime.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hosting import validation as v
from hosting.queue import DEFAULT_JOB_TIMEOUT
from hosting.rendering import MANAGED_HEADER, runtime_base_sections

from workers.files import ConfigRefused, atomic_write, fsync_dir, remove_file, validate_conf_dir
from workers.layout import DEFAULT_USER_PREFIX, AppLayout, Owner
from workers.runtime import Runtime

HOST_CONF = "conf/supervisord.conf"
HOST_SETTINGS = "conf/host.json"
APPS_DIR = "conf/apps.d"
PLATFORM_DIR = "conf/platform.d"
BIN_DIR = Path(sys.executable).parent
HOST_ROOT_ENV = "HOSTING_HOST_ROOT"


def program_safe(text: str) -> str:
    """A queue or app name as part of a program name ([a-z0-9_-])."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())


@dataclass(frozen=True)
class HostConfig:
    """One host's settings, kept in ``<root>/conf/host.json``."""

    root: str
    queue: str
    redis_url: str
    database_url: str
    workers: int = 2
    job_timeout: int = DEFAULT_JOB_TIMEOUT
    wait_timeout: float = 60.0  # how long a job waits for programs to reach their state
    user_prefix: str = DEFAULT_USER_PREFIX
    # Run tenant runtimes with this interpreter (``-m supervisor_runtime.cli.supervisord``)
    # instead of our supervisord script, e.g. when our interpreter lives where apps' users
    # may not read it (a pyenv under /root). The runtime needs only the standard library.
    runtime_python: str | None = None
    status_interval: float = 2.0

    @property
    def path(self) -> Path:
        return Path(self.root)

    @property
    def socket(self) -> Path:
        return self.path / "run" / "supervisor.sock"

    @property
    def serverurl(self) -> str:
        return f"unix://{self.socket}"

    @property
    def conf(self) -> Path:
        return self.path / HOST_CONF

    @property
    def apps_dir(self) -> Path:
        return self.path / APPS_DIR

    def save(self) -> None:
        atomic_write(self.path / HOST_SETTINGS, json.dumps(asdict(self), indent=2) + "\n", 0o600)

    @classmethod
    def load(cls, root: str | os.PathLike[str] | None = None) -> HostConfig:
        root = root or os.environ.get(HOST_ROOT_ENV)
        if not root:
            raise ConfigRefused(f"no host root: pass one or set {HOST_ROOT_ENV}")
        data = json.loads((Path(root) / HOST_SETTINGS).read_text(encoding="utf-8"))
        return cls(**data)


def _program(name: str, options: list[tuple[str, str]]) -> str:
    return "\n".join([f"[program:{name}]", *(f"{key}={value}" for key, value in options)])


def _environment(values: dict[str, str]) -> str:
    return v.format_environment(values)


def render_host_config(
    host_root: str,
    queue: str,
    *,
    redis_url: str,
    database_url: str,
    workers: int = 2,
    job_timeout: int = DEFAULT_JOB_TIMEOUT,
    wait_timeout: float = 60.0,
    user_prefix: str = DEFAULT_USER_PREFIX,
    runtime_python: str | None = None,
    status_interval: float = 2.0,
) -> HostConfig:
    """Write the host runtime's config and settings under ``host_root`` (validated first);
    returns the settings. Running it again with the same values changes nothing."""
    root = Path(v.app_root(str(Path(host_root).absolute())))
    config = HostConfig(
        root=str(root),
        queue=queue,
        redis_url=redis_url,
        database_url=database_url,
        workers=workers,
        job_timeout=job_timeout,
        wait_timeout=wait_timeout,
        user_prefix=user_prefix,
        runtime_python=runtime_python,
        status_interval=status_interval,
    )
    for relative in ("conf", APPS_DIR, PLATFORM_DIR, "run", "log"):
        (root / relative).mkdir(parents=True, exist_ok=True, mode=0o700)
    text = host_config_text(config)
    validate_conf_dir(root / "conf", {"supervisord.conf": text})
    if not config.conf.exists() or config.conf.read_text(encoding="utf-8") != text:
        atomic_write(config.conf, text, 0o600)
    config.save()
    return config


def host_config_text(config: HostConfig) -> str:
    root = config.root
    python = shlex.quote(sys.executable)
    host_arg = f"--host-root {shlex.quote(root)}"
    queue = program_safe(config.queue)
    env = _environment({HOST_ROOT_ENV: root, "PYTHONUNBUFFERED": "1"})
    worker = _program(
        f"worker-{queue}",
        [
            ("command", f"{python} -m workers.worker {host_arg}"),
            ("process_name", "%(program_name)s-%(process_num)02d"),
            ("numprocs", str(config.workers)),
            ("directory", root),
            ("environment", env),
            ("autostart", "true"),
            ("autorestart", "true"),
            ("startsecs", "0"),
            # TERM: a warm shutdown, the current job finishes; wait longer than it may take.
            ("stopsignal", "TERM"),
            ("stopwaitsecs", str(config.job_timeout + 30)),
            ("stdout_logfile", f"{root}/log/worker-%(process_num)02d.log"),
            ("stdout_logfile_maxbytes", "2MB"),
            ("stdout_logfile_backups", "5"),
            ("redirect_stderr", "true"),
        ],
    )
    status = _program(
        f"status-{queue}",
        [
            ("command", f"{python} -m workers.status {host_arg}"),
            ("directory", root),
            ("environment", env),
            ("autostart", "true"),
            ("autorestart", "true"),
            ("startsecs", "0"),
            ("stopwaitsecs", "5"),
            ("stdout_logfile", f"{root}/log/status.log"),
            ("stdout_logfile_maxbytes", "2MB"),
            ("stdout_logfile_backups", "2"),
            ("redirect_stderr", "true"),
        ],
    )
    lines = [
        MANAGED_HEADER,
        *runtime_base_sections(root),
        worker,
        "",
        status,
        "",
        "[include]",
        # apps.d: one tenant runtime per app (written by jobs); platform.d: services the
        # host itself runs beside the workers (Redis, the panel) in one-machine setups.
        "files = apps.d/*.conf platform.d/*.conf",
    ]
    return "\n".join(lines) + "\n"


def host_runtime_command(config: HostConfig) -> list[str]:
    """The command that runs the host runtime in the foreground."""
    return [str(BIN_DIR / "supervisord"), "-n", "-c", str(config.conf)]


def start_host_runtime(config: HostConfig, **popen: Any) -> subprocess.Popen[bytes]:
    """Start the host runtime as a child process (tests, ``hostingctl host run``)."""
    popen.setdefault("stdout", subprocess.DEVNULL)
    popen.setdefault("stderr", subprocess.DEVNULL)
    popen.setdefault("start_new_session", True)
    return subprocess.Popen(host_runtime_command(config), **popen)


# -- tenant runtimes ---------------------------------------------------------------------


def tenant_program(app_name: str) -> str:
    return f"tenant-{program_safe(app_name)}"


def tenant_command(config: HostConfig, layout: AppLayout) -> str:
    conf = shlex.quote(str(layout.base_conf))
    if config.runtime_python:
        python = shlex.quote(config.runtime_python)
        return f"{python} -m supervisor_runtime.cli.supervisord -n -c {conf}"
    return f"{shlex.quote(str(BIN_DIR / 'supervisord'))} -n -c {conf}"


def _runtime_source_dir() -> str:
    """The directory holding the ``supervisor_runtime`` package (for ``runtime_python``)."""
    import supervisor_runtime

    return str(Path(supervisor_runtime.__file__).resolve().parent.parent)


def tenant_program_text(config: HostConfig, app_name: str, layout: AppLayout, owner: Owner) -> str:
    options = [("command", tenant_command(config, layout))]
    if owner.user is not None:
        options.append(("user", owner.user))
    env = {"HOME": str(layout.root)}
    if config.runtime_python:
        env["PYTHONPATH"] = _runtime_source_dir()
    options += [
        ("directory", str(layout.root)),
        ("environment", _environment(env)),
        ("autostart", "true"),
        ("autorestart", "true"),
        ("startsecs", "0"),
        ("startretries", "10"),
        ("stopsignal", "TERM"),
        ("stopwaitsecs", "60"),
        ("stdout_logfile", f"{config.root}/log/{tenant_program(app_name)}.log"),
        ("stdout_logfile_maxbytes", "2MB"),
        ("stdout_logfile_backups", "2"),
        ("redirect_stderr", "true"),
    ]
    return f"{MANAGED_HEADER}\n{_program(tenant_program(app_name), options)}\n"


def host_runtime(config: HostConfig, timeout: float = 10.0) -> Runtime:
    return Runtime(config.serverurl, timeout=timeout)


def register_app(
    config: HostConfig, app_name: str, layout: AppLayout, owner: Owner
) -> dict[str, Any]:
    """Write ``apps.d/<app>.conf`` and make the host runtime run it (as ``supervisorctl
    update tenant-<app>`` would): started if new, restarted if its program changed, left
    alone otherwise. Returns what was done."""
    program = tenant_program(app_name)
    path = config.apps_dir / f"{program_safe(app_name)}.conf"
    text = tenant_program_text(config, app_name, layout, owner)
    written = False
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        validate_conf_dir(config.path / "conf", {f"apps.d/{path.name}": text})
        atomic_write(path, text, 0o600)
        written = True
    with host_runtime(config) as runtime:
        update = runtime.update(only=[program])
        runtime.start([program], timeout=config.wait_timeout)
    return {"program": program, "written": written, "update": update.as_dict()}


def unregister_app(config: HostConfig, app_name: str) -> dict[str, Any]:
    """Stop the app's runtime and remove its program from the host runtime."""
    program = tenant_program(app_name)
    path = config.apps_dir / f"{program_safe(app_name)}.conf"
    removed = path.exists()
    if removed:
        remove_file(path)
    else:
        fsync_dir(config.apps_dir)
    with host_runtime(config) as runtime:
        update = runtime.update(only=[program])
    return {"program": program, "removed": removed, "update": update.as_dict()}


def is_registered(config: HostConfig, app_name: str) -> bool:
    return (config.apps_dir / f"{program_safe(app_name)}.conf").exists()
