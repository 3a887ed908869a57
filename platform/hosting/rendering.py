"""Config text for an app's runtime: its supervisord.conf and one file per service.

Pure functions: they return text and never write files (the workers write atomically, on the
app's host). An optional ``validate(filename, text)`` hook, for instance the runtime's own
config parser, is called on each supervisord config file after our own checks pass; it raises
to refuse. Paths in results are relative to the app root.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hosting import validation as v
from hosting.catalog import ServiceSpec, build_service

MANAGED_HEADER = "; managed by the hosting platform — do not edit, changes are overwritten"
PROGRAM_DIR = "conf/supervisor.d"
BASE_CONF = "conf/supervisord.conf"
# The layout of every app root (as the seeds' /srv).
APP_DIRECTORIES = ("conf", PROGRAM_DIR, "log", "run", "app", "var")
RPC_FACTORY = "supervisor.rpcinterface:make_main_rpcinterface"

Validator = Callable[[str, str], None]


@dataclass(frozen=True)
class RenderedFiles:
    """What one service needs on disk."""

    program_name: str
    program_file: str  # conf/supervisor.d/<name>.conf
    files: Mapping[str, str]  # relative path -> text; includes program_file
    directories: tuple[str, ...]  # relative directories that must exist before it starts
    process_names: tuple[str, ...]  # e.g. ("worker_00", "worker_01") for numprocs=2

    @property
    def program_text(self) -> str:
        return self.files[self.program_file]


def program_file_for(name: str) -> str:
    return f"{PROGRAM_DIR}/{name}.conf"


def is_managed(text: str) -> bool:
    """Whether a file in conf/supervisor.d/ was written by us (tenants' own files are not)."""
    return text.startswith(MANAGED_HEADER)


def render_service(
    app_root: str, service: ServiceSpec | Any, validate: Validator | None = None
) -> RenderedFiles:
    """The files of ``service`` (a ServiceSpec, or a models.Service with its app loaded) for
    an app whose root is ``app_root``. Raises ServiceSettingError on a bad setting, or
    whatever ``validate`` raises."""
    spec = service if isinstance(service, ServiceSpec) else ServiceSpec.of(service)
    built = build_service(spec, str(app_root))
    program_file = program_file_for(built.section.name)
    program_text = f"{MANAGED_HEADER}\n{built.section.text()}"
    if validate is not None:
        validate(program_file, program_text)
    return RenderedFiles(
        program_name=built.section.name,
        program_file=program_file,
        files={program_file: program_text, **built.extra_files},
        directories=built.directories,
        process_names=built.process_names,
    )


def render_enabled_services(
    app: Any, validate: Validator | None = None, root: str | None = None
) -> list[RenderedFiles]:
    """The files of every enabled service of ``app`` (a models.App), in service order, for
    a runtime that sees the app's root at ``root`` (/srv in a container; the host's path,
    ``app.root``, by default). Disabled services render nothing: their program files are
    to be removed."""
    root = app.root if root is None else root
    return [render_service(root, service, validate) for service in app.services if service.enabled]


def socket_path(app_root: str) -> str:
    """The app runtime's control socket."""
    return f"{v.app_root(app_root)}/run/supervisor.sock"


def runtime_base_sections(root: str, *supervisord: str) -> list[str]:
    """The lines every runtime we render starts with (an app's, a host's): its socket at
    run/supervisor.sock (0700), logs in log/ (2MB x 5), foreground, RPC and supervisorctl;
    and our runtime's state stream and restart history, which the status feeder
    (workers.feeder) reads (stock supervisord ignores both keys); then ``supervisord``,
    more lines of the [supervisord] section (the host's)."""
    return [
        "[unix_http_server]",
        f"file={root}/run/supervisor.sock",
        "chmod=0700",
        "",
        "[supervisord]",
        f"logfile={root}/log/supervisord.log",
        "logfile_maxbytes=2MB",
        "logfile_backups=5",
        f"pidfile={root}/run/supervisord.pid",
        f"childlogdir={root}/log",
        "nodaemon=true",
        "state_stream=true",
        "history=true",
        *supervisord,
        "",
        "[rpcinterface:supervisor]",
        f"supervisor.rpcinterface_factory = {RPC_FACTORY}",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{root}/run/supervisor.sock",
        "",
    ]


def render_app_base(app_root: str, validate: Validator | None = None) -> str:
    """The app runtime's ``conf/supervisord.conf``: socket at run/supervisor.sock (0700),
    logs in log/, foreground, and every file in conf/supervisor.d/ included, a broken one
    set aside (the runtime's ``[include] skip_broken``)."""
    root = v.app_root(app_root)
    lines = [
        MANAGED_HEADER,
        *runtime_base_sections(root),
        "[include]",
        "files = supervisor.d/*.conf",  # relative to this file's directory, conf/
        # A tenant's broken file is set aside with a notice, never keeps the app down.
        "skip_broken = true",
    ]
    text = "\n".join(lines) + "\n"
    if validate is not None:
        validate(BASE_CONF, text)
    return text
