"""How a host runs each app's runtime, and how the platform reaches it.

On a host with containers (``HostConfig.containers``), the host runtime's ``tenant-<app>``
program is the container launcher (``workers.container.launch``) on a spec kept in the host
root; the app's config names paths as the runtime sees them, under /srv; the front relays
the app's port (``workers.front``); and the app's config is validated inside the tenant's
own view. Without containers (not root, no bubblewrap), the runtime is a plain process of
the app's user with an emptied environment, and the config names the host's paths.

Either way, the platform reaches the runtime through the socket in the app's run/, checking
that the peer is the app's runtime before it sends a byte (``connect``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import shlex
import socket
import sys
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hosting.program_section import program_section
from hosting.rendering import MANAGED_HEADER

from supervisor_runtime.rpc.faults import FaultCode
from workers import tenant_runtime
from workers.container import assets, cgroups, netns
from workers.container.spec import APP_ROOT, DEFAULT_PATH, ContainerSpec, Limits
from workers.container.validate import check_config, prepare_scratch
from workers.files import (
    ConfigCheck,
    atomic_write,
    fsync_dir,
    parse_here,
    remove_file,
    text_differs,
    validate_conf_dir,
)
from workers.front import route_path
from workers.host import BIN_DIR, HostConfig, host_runtime, program_safe
from workers.layout import AppLayout, Owner
from workers.peer import expect_runtime
from workers.redact import tenant_safe
from workers.runtime import (
    POLL_SECONDS,
    RPC_TIMEOUT,
    RUNNING_STATES,
    ProgramFailed,
    Runtime,
    RuntimeUnavailable,
)

CONTAINERS_DIR = "conf/containers"
ASSETS_DIR = "container"
STOP_SECONDS = 60
# A runtime that exits within START_SECONDS did not boot: the host runtime retries it after
# 1, 2, 3 s (BACKOFF) and then leaves it FATAL, shown as down with its last words, instead
# of respawning it many times a second while calling it RUNNING (startsecs=0 did that).
START_SECONDS = 2
START_RETRIES = 3
# Down until someone starts it again (EXITED only lasts until autorestart acts).
DOWN_STATES = frozenset({"FATAL", "EXITED"})
CAUSE_BYTES = 2048  # of the end of its log under the host runtime
CAUSE_LINES = 10
# supervisord's spawnerr for a program that kept exiting within startsecs: its own words
# (the cause) are in its log.
EXITED_EARLY = "Exited too quickly"
FEW_APPS = 8  # host_views asks about this many apps one by one


def tenant_program(app_name: str) -> str:
    return f"tenant-{program_safe(app_name)}"


def runtime_root(config: HostConfig, layout: AppLayout) -> str:
    """The app's root as its runtime sees it: /srv in a container, else the host's path."""
    return APP_ROOT if config.containers else str(layout.root)


def spec_path(host_root: HostConfig | Path, app_name: str) -> Path:
    root = host_root.path if isinstance(host_root, HostConfig) else host_root
    return root / CONTAINERS_DIR / f"{program_safe(app_name)}.json"


def container_spec(
    config: HostConfig, app_name: str, layout: AppLayout, owner: Owner, key: str
) -> ContainerSpec:
    """What the app's container is made of (the assets are installed when missing)."""
    if owner.user is None:
        raise ValueError("containers need the app's own user (the workers run as root)")
    stock = tenant_runtime.stock_source(config.tenant_runtime, config.stock_python)
    installed = assets.install(config.path / ASSETS_DIR, config.tenant_python, stock)
    return ContainerSpec(
        app=app_name,
        key=key,
        user=owner.user,
        uid=owner.uid,
        gid=owner.gid,
        root=str(layout.root),
        assets=str(installed),
        python=config.tenant_python,
        limits=Limits(config.tenant_memory_mb, config.tenant_pids, config.tenant_cpu_weight),
    )


def plain_environment(layout: AppLayout, owner: Owner) -> dict[str, str]:
    """A runtime without a container gets this environment and nothing of the platform's."""
    env = {"PATH": DEFAULT_PATH.split(":", 1)[1], "HOME": str(layout.root), "LANG": "C.UTF-8"}
    if owner.user is not None:
        env.update(USER=owner.user, LOGNAME=owner.user)
    return env


def config_check(
    config: HostConfig, spec: ContainerSpec | None, layout: AppLayout, owner: Owner
) -> ConfigCheck:
    """How an app's config is validated: inside its own view as the tenant, or (without
    containers) here with the environment its runtime gets."""
    if spec is None:
        return parse_here(plain_environment(layout, owner))

    def check(conf: Path) -> str | None:
        prepare_scratch(conf, spec.gid)
        return check_config(spec, conf)

    return check


def _plain_command(config: HostConfig, layout: AppLayout, owner: Owner) -> str:
    conf = shlex.quote(str(layout.base_conf))
    env = " ".join(shlex.quote(f"{k}={val}") for k, val in plain_environment(layout, owner).items())
    stock = tenant_runtime.plain_runtime(
        config.tenant_runtime, config.stock_python, config.runtime_python
    )
    if stock is not None:
        runtime = shlex.join(stock)
    elif config.runtime_python:
        runtime = from_source(config.runtime_python, "supervisor_runtime.cli.supervisord")
    else:
        runtime = shlex.quote(str(BIN_DIR / "supervisord"))
    # env -i: the host runtime's environment (the platform's) stops here.
    return f"/usr/bin/env -i {env} {runtime} -n -c {conf}"


def from_source(python: str, module: str, *flags: str) -> str:
    """A command running ``module``'s ``main()`` from this platform's own source directory
    (root's, like the rest of its install) with ``python -I`` (nothing from the environment
    or the working directory) and ``flags``."""
    source = json.dumps(str(Path(__file__).resolve().parent.parent))
    # With -S the path is the standard library alone: ours goes after it, so nothing in
    # our directory (site-packages, for a wheel) can stand in for a standard module.
    # Otherwise first, before whatever that Python has installed.
    add = f"sys.path.append({source})" if "-S" in flags else f"sys.path.insert(0, {source})"
    code = f"import sys; {add}; from {module} import main; sys.exit(main())"
    return shlex.join([python, "-I", *flags, "-c", code])


def tenant_program_text(
    config: HostConfig, app_name: str, layout: AppLayout, owner: Owner, spec: ContainerSpec | None
) -> str:
    if spec is not None:
        # -I: root's interpreter takes nothing from the environment or the directory it
        # starts in; -S: nor site-packages (the launcher imports only the standard library
        # and this package; site and an editable install's import hook were a third of its
        # start). The digest names the spec's content: a changed spec is a changed
        # program, which `update` restarts, even when the job that wrote it died halfway.
        launch = from_source(sys.executable, "workers.container.launch", "-S")
        spec_file = shlex.quote(str(spec_path(config, app_name)))
        digest = hashlib.sha256(spec.to_json().encode()).hexdigest()[:16]
        options = [
            ("command", f"{launch} {spec_file} --digest {digest}"),
            # TERM to the group: bwrap ignores it, the runtime stops its programs and exits.
            ("stopasgroup", "true"),
            ("killasgroup", "true"),
        ]
    else:
        options = [("command", _plain_command(config, layout, owner))]
        if owner.user is not None:
            options.append(("user", owner.user))
        options.append(("directory", str(layout.root)))
    options += [
        ("autostart", "true"),
        ("autorestart", "true"),
        ("startsecs", str(START_SECONDS)),
        ("startretries", str(START_RETRIES)),
        ("stopsignal", "TERM"),
        ("stopwaitsecs", str(STOP_SECONDS)),
        ("stdout_logfile", f"{config.root}/log/{tenant_program(app_name)}.log"),
        ("stdout_logfile_maxbytes", "2MB"),
        ("stdout_logfile_backups", "2"),
        ("redirect_stderr", "true"),
    ]
    return f"{MANAGED_HEADER}\n{program_section(tenant_program(app_name), options)}"


def _write_if_changed(path: Path, text: str, mode: int) -> bool:
    if not text_differs(path, text):
        return False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, text, mode)
    return True


def write_front_route(
    config: HostConfig,
    app_name: str,
    spec: ContainerSpec,
    port: int,
    listen: list[str] | None = None,
) -> bool:
    """Tell the front where the app listens (its port in its network namespace)."""
    route = {"netns": str(netns.path_of(spec.netns)), "port": port, "listen": listen or []}
    text = json.dumps(route, indent=2, sort_keys=True) + "\n"
    return _write_if_changed(route_path(config.path, program_safe(app_name)), text, 0o600)


def register_app(
    config: HostConfig, app_name: str, layout: AppLayout, owner: Owner, spec: ContainerSpec | None
) -> dict[str, Any]:
    """Write the app's container spec and ``apps.d/<app>.conf`` and make the host runtime
    run it (as ``supervisorctl update tenant-<app>`` would): started if new or down,
    restarted if its program or container changed, left alone otherwise; ``wait_tenant_up``
    then waits for it. Returns what was done."""
    program = tenant_program(app_name)
    path = config.apps_dir / f"{program_safe(app_name)}.conf"
    text = tenant_program_text(config, app_name, layout, owner, spec)
    if spec is not None:  # first: the program names its digest
        _write_if_changed(spec_path(config, app_name), spec.to_json(), 0o600)
    written = False
    if text_differs(path, text):
        # The host's config with this app's file alone in apps.d: another app's file cannot
        # make this one invalid (each names its own program after its file), and reading
        # all of them made every job slower as the host filled (1,000 apps: 1.5 s a job).
        apps = path.parent.name
        validate_conf_dir(config.path / "conf", {f"{apps}/{path.name}": text}, leave_out=(apps,))
        atomic_write(path, text, 0o600)
        written = True
    with host_runtime(config) as runtime:
        update = runtime.update(only=[program])
        start_on_host(runtime, app_name)  # the caller waits for it (wait_tenant_up)
    return {"program": program, "written": written, "update": update.as_dict()}


def unregister_app(config: HostConfig, app_name: str, key: str | None) -> dict[str, Any]:
    """Stop the app's runtime, remove its program from the host runtime, and (with
    containers) its spec, route, cgroup and network namespace."""
    program = tenant_program(app_name)
    path = config.apps_dir / f"{program_safe(app_name)}.conf"
    removed = path.exists()
    if removed:
        remove_file(path)
    else:
        fsync_dir(config.apps_dir)
    with host_runtime(config) as runtime:
        update = runtime.update(only=[program])
    for leftover in (spec_path(config, app_name), route_path(config.path, program_safe(app_name))):
        if leftover.exists():
            remove_file(leftover)
    if config.containers and key is not None:
        cgroups.remove_app(key)
        netns.remove(netns.name_for(key))
    return {"program": program, "removed": removed, "update": update.as_dict()}


def is_registered(config: HostConfig, app_name: str) -> bool:
    return (config.apps_dir / f"{program_safe(app_name)}.conf").exists()


def connect(
    config: HostConfig,
    app_name: str,
    layout: AppLayout,
    owner: Owner,
    key: str | None,
    timeout: float = RPC_TIMEOUT,
) -> Runtime:
    """The app's runtime, every connection checked to be it (SO_PEERCRED): the socket path
    is in the tenant's own run/, where it could be a link to anything."""
    return Runtime(
        layout.serverurl,
        timeout=timeout,
        label=f"the runtime of app {app_name}",
        check_peer=runtime_peer_check(config, app_name, owner, key),
    )


def runtime_peer_check(
    config: HostConfig, app_name: str, owner: Owner, key: str | None
) -> Callable[[socket.socket], None]:
    """What every connection to the app's socket must pass before a byte is sent: the peer
    is the app's user and, with containers, PID 1 of the app's container."""
    cgroup = host_hierarchy().cgroup(key) if config.containers and key is not None else None
    return expect_runtime(app_name, owner.uid, cgroup)


@functools.cache
def host_hierarchy() -> cgroups.Hierarchy:
    """The host's cgroup hierarchy, found once per process (it does not change while the
    host runs). ``cgroups.detect`` reads /proc/self/mounts, which holds a line per app (its
    network namespace under /run/netns): read at every connection to a runtime, it made
    each one cost more as the host filled (0.5 ms at 200 apps; the feeder makes two per
    app at a cold start)."""
    return cgroups.detect()


# -- an app's runtime as the host runtime sees it ------------------------------------------


@dataclass(frozen=True)
class HostView:
    """The host runtime's state of an app's runtime (its program ``tenant-<app>``) and,
    when it is not running, why: its spawn error or the last lines it wrote (its log
    under the host runtime, in the host root: root's, never a path of the tenant's)."""

    state: str
    cause: str = ""

    @property
    def down(self) -> bool:
        """Down until someone starts it again, or failing to boot for a stated cause."""
        return self.state in DOWN_STATES or (self.state == "BACKOFF" and bool(self.cause))

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "cause": self.cause}


class RuntimeDown(ProgramFailed):
    """The app's runtime cannot start: a permanent failure, with its cause."""

    def __init__(self, app_name: str, view: HostView) -> None:
        lines = view.cause.splitlines()
        # The newest line that says what is wrong ("Error: ..."), not the hint after it.
        errors = [line for line in lines if "error" in line.lower()]
        headline = (errors or lines or [""])[-1]
        message = f"the runtime of app {app_name} is {view.state}"
        super().__init__(f"{message}: {headline}" if headline else message, view.cause or None)
        self.view = view


def host_views(host: Runtime, app_names: list[str]) -> dict[str, HostView]:
    """How the host runtime sees each of ``app_names`` (those it runs), plus one log read
    per app that is not running: a few apps one call each (the feeder asks about one app
    at a time, and every program's info grows with the host: quadratic over a cold start
    of many apps), more in one call."""
    if len(app_names) <= FEW_APPS:
        views = {name: host_view(host, name) for name in app_names}
        return {name: view for name, view in views.items() if view is not None}
    by_program = {tenant_program(name): name for name in app_names}
    views = {}
    for info in host.processes():
        name = by_program.get(info["group"])
        if name is not None:
            views[name] = _view(host, info)
    return views


def host_view(host: Runtime, app_name: str) -> HostView | None:
    """How the host runtime sees ``app_name``'s runtime; None if it does not run it."""
    program = tenant_program(app_name)
    try:
        info = host.call("getProcessInfo", f"{program}:{program}")
    except xmlrpc.client.Fault:
        return None  # not registered (yet, or any more)
    return _view(host, info)


def has_cause(state: str) -> bool:
    """Whether the host runtime's view of an app's runtime in ``state`` has a cause to look
    for (its spawn error, its log); in any other state the view is the state alone."""
    return state in DOWN_STATES or state == "BACKOFF"


def _view(host: Runtime, info: dict[str, Any]) -> HostView:
    state = str(info.get("statename"))
    if not has_cause(state):
        return HostView(state)
    cause = str(info.get("spawnerr") or "")
    if not cause or cause.startswith(EXITED_EARLY):  # the log has the details
        tail = host.log_tail(f"{info['group']}:{info['name']}", nbytes=CAUSE_BYTES)
        lines = [line for line in tail.splitlines() if line.strip()]
        cause = "\n".join(lines[-CAUSE_LINES:])
    return HostView(state, tenant_safe(cause))


def start_on_host(host: Runtime, app_name: str) -> None:
    """The host-level start of the app's runtime (what ``supervisorctl start tenant-<app>``
    does on the host), unless it runs already; returns without waiting."""
    program = tenant_program(app_name)
    full = f"{program}:{program}"
    # Its own info, not every program's (getAllProcessInfo grows with the host's apps).
    if host.call("getProcessInfo", full)["statename"] in RUNNING_STATES:
        return
    try:
        host.call("startProcess", full, False)
    except xmlrpc.client.Fault as exc:
        if exc.faultCode != FaultCode.ALREADY_STARTED:
            raise ProgramFailed(f"{program} cannot start: {exc.faultString}") from None


def wait_tenant_up(
    config: HostConfig, app_name: str, runtime: Runtime, timeout: float, *, revive: bool = False
) -> None:
    """Until the app's runtime answers. Fails at once with RuntimeDown when the host
    runtime says it is down (FATAL, EXITED, or in BACKOFF with a cause), rather than
    waiting out ``timeout``. ``revive``: a runtime that is FATAL or EXITED is started again
    once first (a user's start or restart, after fixing the cause, expects that)."""
    deadline = time.monotonic() + timeout
    revived = not revive
    with host_runtime(config) as host:
        while not runtime.is_up():
            try:
                view = host_view(host, app_name)
            except RuntimeUnavailable:
                view = None  # the host runtime is busy or restarting: keep waiting
            if view is not None and view.down:
                if revived or view.state not in DOWN_STATES:
                    raise RuntimeDown(app_name, view)
                start_on_host(host, app_name)
                revived = True
            if time.monotonic() > deadline:
                raise RuntimeUnavailable(f"{runtime.label} did not answer within {timeout:g}s")
            time.sleep(POLL_SECONDS)
