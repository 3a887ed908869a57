"""The host-level runtime: our supervisord supervising every tenant runtime and the workers.

A host root holds ``conf/supervisord.conf`` (rendered here), ``conf/host.json`` (this host's
settings, read by its workers and status poller), ``conf/apps.d/<app>.conf`` (one
``[program:tenant-<app>]`` per app), ``run/supervisor.sock`` and ``log/``. The host runtime
runs:

- ``worker-<queue>``: the RQ workers of the host's queue (the rq docs' supervisor recipe:
  numprocs, ``%(process_num)02d``, stopsignal TERM so the current job finishes, stopwaitsecs
  above the job timeout); none when ``workers`` is 0 (a host that only serves the panel);
- ``status-<queue>``: the status feeder (``workers.feeder``, pushed by each tenant runtime's
  state stream) or, with ``status_mode`` "poll", the poller (``workers.status``), unless
  ``status_poller`` is off;
- ``reconcile-<queue>``: the job reconciler (``workers.reconciler``), with the workers: it
  pushes again the jobs Redis lost and retries lost attempts;
- ``usage-<queue>``: the CPU and memory sampler (``workers.usage``), with the workers,
  unless ``usage_interval`` is 0;
- ``front-<queue>``: the way in to each app's port (``workers.front``), with containers;
- ``metrics-<queue>``: the workers' Prometheus metrics (``workers.metrics``), only when
  ``metrics_listen`` is set;
- ``tenant-<app>``: each app's runtime, in its container (``workers.tenants``), restarted if
  it ever exits.

Containers are used when this host can make them (``workers.container.probe``): the host's
settings say which, and why not, and the panel warns when a host runs without.

``render_host_config`` is the only writer of the host runtime's config: ``hostingctl
create-host --host-root``, the one-machine launcher and the Ansible role (through
``hostingctl host-config``) all call it, and every ``[program:x]`` in it comes from
``hosting.program_section``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hosting import validation as v
from hosting.program_section import program_section
from hosting.queue import DEFAULT_JOB_TIMEOUT
from hosting.rendering import MANAGED_HEADER, runtime_base_sections

from workers import tenant_runtime
from workers.container import probe
from workers.files import ConfigRefused, atomic_write, text_differs, validate_conf_dir
from workers.runtime import Runtime

HOST_CONF = "conf/supervisord.conf"
HOST_SETTINGS = "conf/host.json"
APPS_DIR = "conf/apps.d"
PLATFORM_DIR = "conf/platform.d"
BIN_DIR = Path(sys.executable).parent
HOST_ROOT_ENV = "HOSTING_HOST_ROOT"
# The host's own programs (workers, poller, front): one that exits within a second did not
# start; it is retried with a growing delay (1, 2 ... 10 s) and then left FATAL, instead
# of respawning many times a second while shown RUNNING (startsecs=0 did that).
HELPER_START_SECONDS = "1"
HELPER_START_RETRIES = "10"
STATUS_MODES = ("feed", "poll")
# Tenant containers started at once when the host runtime boots, per core (its
# ``autostart_concurrency``). Each holds its place for its 2 s of startsecs, so the queue
# lets at most STARTS_PER_CORE / 2 starts a second go per core, while a start takes 70 to
# 130 ms of CPU (by machine): 20 per core left a faster machine's cores idle (1,000 in 51 s,
# the queue's own bound of 50 s), 30 keep them busy (37.9 s) and 40 only pile starts up
# (40.0 s). README, *Goals at 1,000 tenants*.
STARTS_PER_CORE = 30


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
    # App users are named <prefix><app id>; None: a prefix made from the platform's own
    # instance id (hosting.identities), so two platforms on one machine never share users.
    user_prefix: str | None = None
    # Tenant runtimes run in containers (workers.container); containers_off says why not.
    containers: bool = False
    containers_off: str | None = None
    tenant_python: str = "/usr/bin/python3"  # the system Python that containers run
    tenant_memory_mb: int = 1024
    tenant_pids: int = 512
    tenant_cpu_weight: int = 100
    # Apps the front also serves on a TCP address of the host ("127.0.0.1:8080"), besides
    # their unix socket: scripts/run's demo app, for a browser.
    front_tcp: dict[str, str] = field(default_factory=dict)
    # Without containers: the interpreter of tenant runtimes (our supervisord from source),
    # e.g. when ours lives where apps' users may not read it (a pyenv under /root).
    runtime_python: str | None = None
    # Which supervisord runs each app (workers.tenant_runtime): "ours", or "stock"
    # (supervisor 4.3.0, installed by the operator in the virtualenv of stock_python).
    tenant_runtime: str = "ours"
    stock_python: str | None = None
    status_interval: float = 2.0
    status_poller: bool = True
    # How status-<queue> learns the tenants' states: "feed" (workers.feeder: each tenant
    # runtime's state stream, pushed) or "poll" (workers.status: every status_interval).
    status_mode: str = "feed"
    # Seconds between CPU and memory samples of every app (workers.usage); 0: none taken.
    usage_interval: int = 10
    # The umask of the workers and the host's other helpers, e.g. "007" on a real host: they
    # run as root, and the panel (the service account, same group) must be able to write the
    # database files any of them creates (the first to open a new SQLite file makes it).
    worker_umask: str | None = None
    # "127.0.0.1:9464": the loopback address the host's metrics program serves on
    # (workers.metrics, docs/METRICS.md); None (the default) runs no such program.
    metrics_listen: str | None = None
    # How many programs the host runtime starts at once when it boots (its
    # ``autostart_concurrency``): None, STARTS_PER_CORE per core of this host; 0, all at
    # once. Starts asked for after the boot (a click, an update) never wait for them.
    start_concurrency: int | None = None

    def boot_concurrency(self) -> int:
        """The host runtime's ``autostart_concurrency`` (0: no limit)."""
        if self.start_concurrency is not None:
            return self.start_concurrency
        return STARTS_PER_CORE * (os.cpu_count() or 1)

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
    containers: bool | None = None,
    **settings: Any,
) -> HostConfig:
    """A host's settings with its root made absolute, checked; nothing is written.
    ``containers``: None uses them where this host can make them (and records why not);
    False never does. Other settings are HostConfig's fields."""
    workers, umask = settings.get("workers", 2), settings.get("worker_umask")
    if workers < 0:
        raise ConfigRefused(f"workers must be 0 or more, not {workers}")
    usage = settings.get("usage_interval", 10)
    if not 0 <= usage <= 300:
        raise ConfigRefused(f"usage interval must be from 0 to 300 seconds, not {usage}")
    if umask is not None and not re.fullmatch(r"0?[0-7]{3}", umask):
        raise ConfigRefused(f"worker umask {umask!r} is not an octal mode like 007")
    mode = settings.get("status_mode", "feed")
    if mode not in STATUS_MODES:
        raise ConfigRefused(f"status mode must be one of {', '.join(STATUS_MODES)}, not {mode!r}")
    try:
        tenant_runtime.check_setting(
            settings.get("tenant_runtime", "ours"), settings.get("stock_python")
        )
    except tenant_runtime.TenantRuntimeError as exc:
        raise ConfigRefused(str(exc)) from None
    if settings.get("metrics_listen") is not None:
        parse_listen(settings["metrics_listen"])
    starts = settings.get("start_concurrency")
    if starts is not None and (
        isinstance(starts, bool) or not isinstance(starts, int) or starts < 0
    ):
        raise ConfigRefused(f"start concurrency must be 0 (no limit) or more, not {starts!r}")
    reason = probe.why_not() if containers is not False else "turned off by the operator"
    return HostConfig(
        root=v.app_root(str(Path(host_root).absolute())),
        queue=queue,
        redis_url=redis_url,
        database_url=database_url,
        containers=reason is None,
        containers_off=reason,
        **settings,
    )


def parse_listen(listen: str) -> tuple[str, int]:
    """("127.0.0.1", 9464) from "127.0.0.1:9464" ("[::1]:9464" for IPv6). Loopback only:
    the numbers are the platform's, and the host's own Prometheus (or its agent, or a
    proxy) reaches loopback; anything wider is the operator's proxy to set up."""
    host, _, port = listen.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigRefused(
            f"metrics listen address {listen!r} is not a loopback address and port,"
            " like 127.0.0.1:9464"
        )
    return host, int(port)


def write_host_config(config: HostConfig, *, check: bool = False) -> list[str]:
    """Write ``conf/supervisord.conf`` (validated with the runtime's parser first) and
    ``conf/host.json``, each only when its text differs; returns the paths (relative to the
    root) that changed. ``check`` validates, writes nothing and returns what would change
    (``hostingctl host-config --check``, Ansible's check mode)."""
    root = config.path
    texts = {HOST_CONF: host_config_text(config), HOST_SETTINGS: config.settings_text()}
    changed = [name for name, text in texts.items() if text_differs(root / name, text)]
    if not check:
        for relative in ("conf", APPS_DIR, PLATFORM_DIR, "run", "log"):
            (root / relative).mkdir(parents=True, exist_ok=True, mode=0o700)
        # Tenants (bubblewrap runs as them) pass through to the runtime's assets in
        # container/; everything else in the root stays 0700.
        root.chmod(0o711 if config.containers else 0o700)
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


def host_config_text(config: HostConfig) -> str:
    root = config.root
    python = shlex.quote(sys.executable)
    host_arg = f"--host-root {shlex.quote(root)}"
    queue = program_safe(config.queue)
    env = v.format_environment({HOST_ROOT_ENV: root, "PYTHONUNBUFFERED": "1"})
    programs = []
    umask = _umask(config)
    if config.workers:
        worker = [
            ("command", f"{python} -m workers.worker {host_arg}"),
            ("process_name", "%(program_name)s-%(process_num)02d"),
            ("numprocs", str(config.workers)),
            ("directory", root),
            ("environment", env),
            *umask,
            ("autostart", "true"),
            ("autorestart", "true"),
            ("startsecs", HELPER_START_SECONDS),
            ("startretries", HELPER_START_RETRIES),
            # TERM: a warm shutdown, the current job finishes; wait longer than it may take.
            ("stopsignal", "TERM"),
            ("stopwaitsecs", str(config.job_timeout + 30)),
            ("stdout_logfile", f"{root}/log/worker-%(process_num)02d.log"),
            ("stdout_logfile_maxbytes", "2MB"),
            ("stdout_logfile_backups", "5"),
            ("redirect_stderr", "true"),
        ]
        programs.append(program_section(f"worker-{queue}", worker))
        programs.append(
            _helper_program(config, f"reconcile-{queue}", "workers.reconciler", "reconciler")
        )
    if config.status_poller:
        module = "workers.feeder" if config.status_mode == "feed" else "workers.status"
        programs.append(_helper_program(config, f"status-{queue}", module, "status"))
    if config.usage_interval and config.workers:  # a host that runs apps (it has workers)
        programs.append(_helper_program(config, f"usage-{queue}", "workers.usage", "usage"))
    if config.containers and config.workers:  # a host that runs apps (it has workers)
        programs.append(_helper_program(config, f"front-{queue}", "workers.front", "front"))
    if config.metrics_listen:
        programs.append(_helper_program(config, f"metrics-{queue}", "workers.metrics", "metrics"))
    # Ours, opt-in (stock ignores it): the boot starts the tenants a bounded number at once.
    starts = config.boot_concurrency()
    bounded = [f"autostart_concurrency={starts}"] if starts else []
    head = "\n".join([MANAGED_HEADER, *runtime_base_sections(root, *bounded)]) + "\n"
    # apps.d: one tenant runtime per app (written by jobs); platform.d: services the host
    # itself runs beside the workers (Redis, the panel) in one-machine setups and the roles.
    include = "[include]\nfiles = apps.d/*.conf platform.d/*.conf\n"
    return head + "".join(section + "\n" for section in programs) + include


def _umask(config: HostConfig) -> list[tuple[str, str]]:
    return [("umask", config.worker_umask)] if config.worker_umask else []


def _helper_program(config: HostConfig, name: str, module: str, log: str) -> str:
    """A long-running helper of the host's (status poller, reconciler, front): restarted
    if it exits, stopped quickly (it holds no work that must finish)."""
    root = config.root
    options = [
        ("command", f"{shlex.quote(sys.executable)} -m {module} --host-root {shlex.quote(root)}"),
        ("directory", root),
        ("environment", v.format_environment({HOST_ROOT_ENV: root, "PYTHONUNBUFFERED": "1"})),
        *_umask(config),
        ("autostart", "true"),
        ("autorestart", "true"),
        ("startsecs", HELPER_START_SECONDS),
        ("startretries", HELPER_START_RETRIES),
        ("stopwaitsecs", "5"),
        ("stdout_logfile", f"{root}/log/{log}.log"),
        ("stdout_logfile_maxbytes", "2MB"),
        ("stdout_logfile_backups", "2"),
        ("redirect_stderr", "true"),
    ]
    return program_section(name, options)


def host_runtime_command(config: HostConfig) -> list[str]:
    """The command that runs the host runtime in the foreground."""
    return [str(BIN_DIR / "supervisord"), "-n", "-c", str(config.conf)]


def start_host_runtime(config: HostConfig, **popen: Any) -> subprocess.Popen[bytes]:
    """Start the host runtime as a child process (tests, ``hostingctl host run``)."""
    popen.setdefault("stdout", subprocess.DEVNULL)
    popen.setdefault("stderr", subprocess.DEVNULL)
    popen.setdefault("start_new_session", True)
    return subprocess.Popen(host_runtime_command(config), **popen)


def host_runtime(config: HostConfig, timeout: float = 10.0) -> Runtime:
    return Runtime(config.serverurl, timeout=timeout)
