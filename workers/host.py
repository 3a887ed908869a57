"""The host-level runtime: our supervisord supervising every tenant runtime and the workers.

A host root holds ``conf/supervisord.conf`` (rendered here), ``conf/host.json`` (this host's
settings, read by its workers and status poller), ``conf/apps.d/<app>.conf`` (one
``[program:tenant-<app>]`` per app), ``run/supervisor.sock`` and ``log/``. The host runtime
runs:

- ``worker-<queue>``: the RQ workers of the host's queue (the rq docs' supervisor recipe:
  numprocs, ``%(process_num)02d``, stopsignal TERM so the current job finishes, stopwaitsecs
  above the job timeout); none when ``workers`` is 0 (a host that only serves the panel);
- ``status-<queue>``: the status poller (``workers.status``), unless ``status_poller`` is off;
- ``tenant-<app>``: ``supervisord -n -c <app root>/conf/supervisord.conf`` for each app, as
  the app's own user when the host runs as root, restarted if it ever exits.

Registering an app writes its ``apps.d`` file (validated with the whole host config first)
and applies just that program to the running host runtime.

``render_host_config`` is the only writer of the host runtime's config: ``hostingctl
create-host --host-root``, the one-machine launcher and the Ansible role (through
``hostingctl host-config``) all call it, and every ``[program:x]`` in it comes from
``hosting.program_section``.
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
from hosting.program_section import program_section
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
    workers: int = 2  # RQ worker processes; 0 runs none (a host that only serves the panel)
    job_timeout: int = DEFAULT_JOB_TIMEOUT
    wait_timeout: float = 60.0  # how long a job waits for programs to reach their state
    user_prefix: str = DEFAULT_USER_PREFIX
    # Run tenant runtimes with this interpreter (``-m supervisor_runtime.cli.supervisord``)
    # instead of our supervisord script, e.g. when our interpreter lives where apps' users
    # may not read it (a pyenv under /root). The runtime needs only the standard library.
    runtime_python: str | None = None
    status_interval: float = 2.0
    status_poller: bool = True
    # The workers' umask, e.g. "007" on a real host: they run as root, and the panel (the
    # service account, same group) must be able to write the database files they create.
    worker_umask: str | None = None

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

    def settings_text(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def load(cls, root: str | os.PathLike[str] | None = None) -> HostConfig:
        root = root or os.environ.get(HOST_ROOT_ENV)
        if not root:
            raise ConfigRefused(f"no host root: pass one or set {HOST_ROOT_ENV}")
        data = json.loads((Path(root) / HOST_SETTINGS).read_text(encoding="utf-8"))
        return cls(**data)


def host_config(
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
    status_poller: bool = True,
    worker_umask: str | None = None,
) -> HostConfig:
    """A host's settings with its root made absolute, checked; nothing is written."""
    if workers < 0:
        raise ConfigRefused(f"workers must be 0 or more, not {workers}")
    if worker_umask is not None and not re.fullmatch(r"0?[0-7]{3}", worker_umask):
        raise ConfigRefused(f"worker umask {worker_umask!r} is not an octal mode like 007")
    return HostConfig(
        root=v.app_root(str(Path(host_root).absolute())),
        queue=queue,
        redis_url=redis_url,
        database_url=database_url,
        workers=workers,
        job_timeout=job_timeout,
        wait_timeout=wait_timeout,
        user_prefix=user_prefix,
        runtime_python=runtime_python,
        status_interval=status_interval,
        status_poller=status_poller,
        worker_umask=worker_umask,
    )


def write_host_config(config: HostConfig, *, check: bool = False) -> list[str]:
    """Write ``conf/supervisord.conf`` (validated with the runtime's parser first) and
    ``conf/host.json``, each only when its text differs; returns the paths (relative to the
    root) that changed. ``check`` validates, writes nothing and returns what would change
    (``hostingctl host-config --check``, Ansible's check mode)."""
    root = config.path
    texts = {HOST_CONF: host_config_text(config), HOST_SETTINGS: config.settings_text()}
    changed = [name for name, text in texts.items() if _differs(root / name, text)]
    if not check:
        for relative in ("conf", APPS_DIR, PLATFORM_DIR, "run", "log"):
            (root / relative).mkdir(parents=True, exist_ok=True, mode=0o700)
    # The parser insists that log/ exists: a check of a root not made yet cannot validate.
    if not check or (root / "log").is_dir():
        validate_conf_dir(root / "conf", {"supervisord.conf": texts[HOST_CONF]})
    if check:
        return changed
    for name in changed:
        atomic_write(root / name, texts[name], 0o600)
    return changed


def render_host_config(host_root: str, queue: str, **settings: Any) -> HostConfig:
    """``host_config`` then ``write_host_config``: returns the settings. Running it again
    with the same values changes nothing."""
    config = host_config(host_root, queue, **settings)
    write_host_config(config)
    return config


def _differs(path: Path, text: str) -> bool:
    return not path.exists() or path.read_text(encoding="utf-8") != text


def host_config_text(config: HostConfig) -> str:
    root = config.root
    python = shlex.quote(sys.executable)
    host_arg = f"--host-root {shlex.quote(root)}"
    queue = program_safe(config.queue)
    env = v.format_environment({HOST_ROOT_ENV: root, "PYTHONUNBUFFERED": "1"})
    programs = []
    if config.workers:
        umask = [("umask", config.worker_umask)] if config.worker_umask else []
        worker = [
            ("command", f"{python} -m workers.worker {host_arg}"),
            ("process_name", "%(program_name)s-%(process_num)02d"),
            ("numprocs", str(config.workers)),
            ("directory", root),
            ("environment", env),
            *umask,
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
        ]
        programs.append(program_section(f"worker-{queue}", worker))
    if config.status_poller:
        status = [
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
        ]
        programs.append(program_section(f"status-{queue}", status))
    head = "\n".join([MANAGED_HEADER, *runtime_base_sections(root)]) + "\n"
    # apps.d: one tenant runtime per app (written by jobs); platform.d: services the host
    # itself runs beside the workers (Redis, the panel) in one-machine setups and the roles.
    include = "[include]\nfiles = apps.d/*.conf platform.d/*.conf\n"
    return head + "".join(section + "\n" for section in programs) + include


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
        ("environment", v.format_environment(env)),
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
    return f"{MANAGED_HEADER}\n{program_section(tenant_program(app_name), options)}"


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
