"""Process groups: [group:x], [program:x], [eventlistener:x] and [fcgi-program:x].

Key by key this follows supervisord 4.3.0, including which ``%(name)s`` expansions each key
may use. For a [program:x] section:

- every key may use ``here``, ``program_name``, ``group_name``, ``host_node_name`` and the
  ``ENV_*`` names of supervisord's environment and of [supervisord] environment=;
- ``directory``, ``command``, ``environment``, ``process_name`` and the ``stdout_*`` /
  ``stderr_*`` logfile keys are read once per process and may also use ``process_num`` and
  ``numprocs``; all but ``environment`` may use ``ENV_*`` of the program's own environment;
- logfile names are expanded twice (so ``%%`` must be written ``%%%%``), as stock does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

from supervisor_runtime.config import datatypes as dt
from supervisor_runtime.config.check_model import CHECK_KEYS, HEALTH, READY
from supervisor_runtime.config.cmdline import check_command
from supervisor_runtime.config.dependencies import (
    DEPENDENCY_KEYS,
    read_dependency_stop,
    read_depends_on,
)
from supervisor_runtime.config.ini import IniParser
from supervisor_runtime.config.model import (
    AnyGroupConfig,
    EventListenerPoolConfig,
    FcgiGroupConfig,
    GroupConfig,
    LogfileSpecial,
    ProcessConfig,
    StreamConfig,
)
from supervisor_runtime.config.paths import normalize_path
from supervisor_runtime.config.reader import SectionReader
from supervisor_runtime.config.restarts import backoff_of
from supervisor_runtime.static_types import TYPE_CHECKING

if TYPE_CHECKING:
    from supervisor_runtime.config.reader import ConvertedDefaults

# Event type names a listener may subscribe to (supervisor.events.EventTypes).
EVENT_TYPES = frozenset(
    {
        "EVENT",
        "PROCESS_STATE",
        "PROCESS_STATE_STOPPED",
        "PROCESS_STATE_EXITED",
        "PROCESS_STATE_STARTING",
        "PROCESS_STATE_STOPPING",
        "PROCESS_STATE_BACKOFF",
        "PROCESS_STATE_FATAL",
        "PROCESS_STATE_RUNNING",
        "PROCESS_STATE_UNKNOWN",
        "PROCESS_COMMUNICATION",
        "PROCESS_COMMUNICATION_STDOUT",
        "PROCESS_COMMUNICATION_STDERR",
        "PROCESS_LOG",
        "PROCESS_LOG_STDOUT",
        "PROCESS_LOG_STDERR",
        "REMOTE_COMMUNICATION",
        "SUPERVISOR_STATE_CHANGE",
        "SUPERVISOR_STATE_CHANGE_RUNNING",
        "SUPERVISOR_STATE_CHANGE_STOPPING",
        "TICK",
        "TICK_5",
        "TICK_60",
        "TICK_3600",
        "PROCESS_GROUP",
        "PROCESS_GROUP_ADDED",
        "PROCESS_GROUP_REMOVED",
    }
)

DEFAULT_RESULT_HANDLER = "supervisor.dispatchers:default_handler"


class ParseContext:
    """What every section parser needs: the merged INI, where it came from, and the
    messages supervisord logs once its log is open."""

    def __init__(
        self,
        ini: IniParser,
        path: str,  # the main config file
        here: str,
        host_node_name: str,
        parser_names: dict[str, str],  # ENV_* names; extended by [supervisord] environment=
    ) -> None:
        self.ini = ini
        self.path = path
        self.here = here
        self.host_node_name = host_node_name
        self.parser_names = parser_names
        self.warnings: list[str] = []
        self.infos: list[str] = []
        self.converted_defaults: ConvertedDefaults = {}

    def reader(self, section: str) -> SectionReader:
        path = self.ini.section_files.get(section, self.path)
        return SectionReader(self.ini, section, path, self.parser_names, self.converted_defaults)


def groups_from_ini(ctx: ParseContext) -> tuple[AnyGroupConfig, ...]:
    """All process groups, ordered by (priority, name) like supervisord starts them."""
    groups: list[AnyGroupConfig] = []
    in_groups: set[str] = set()  # program sections claimed by a [group:x]
    sections = ctx.ini.sections()
    here = {"here": ctx.here}

    for section in sections:
        if section.startswith("group:"):
            groups.append(_heterogeneous_group(ctx, section, in_groups))

    for section in sections:
        if section.startswith("program:") and section not in in_groups:
            reader = ctx.reader(section)
            name = _section_name(reader)
            priority = reader.convert("priority", 999, dt.integer, here)
            processes = processes_from_section(ctx, section, name)
            groups.append(GroupConfig(name, priority, processes, kind="program"))

    for section in sections:
        if section.startswith("eventlistener:"):
            groups.append(_listener_pool(ctx, section))

    for section in sections:
        if section.startswith("fcgi-program:") and section not in in_groups:
            groups.append(_fcgi_group(ctx, section))

    groups.sort(key=lambda group: (group.priority, group.name))
    return tuple(groups)


def _section_name(reader: SectionReader) -> str:
    """The x of [kind:x], checked for characters that would break namespecs."""
    try:
        return dt.process_or_group_name(reader.section.split(":", 1)[1])
    except ValueError as exc:
        raise reader.fail(str(exc)) from None


def _heterogeneous_group(ctx: ParseContext, section: str, in_groups: set[str]) -> GroupConfig:
    reader = ctx.reader(section)
    here = {"here": ctx.here}
    name = _section_name(reader)
    programs = dt.list_of_strings(reader.text("programs", None, here))
    priority = reader.convert("priority", 999, dt.integer, here)
    all_sections = set(ctx.ini.sections())
    processes: list[ProcessConfig] = []
    for program in programs:
        plain, fcgi = f"program:{program}", f"fcgi-program:{program}"
        if plain not in all_sections and fcgi not in all_sections:
            raise reader.fail(f"[{section}] names unknown program or fcgi-program {program}")
        if plain in all_sections and fcgi in all_sections:
            raise reader.fail(
                f"[{section}] name {program} is ambiguous (exists as program and fcgi-program)"
            )
        member = plain if plain in all_sections else fcgi
        in_groups.add(member)
        # Like stock, an fcgi-program inside a [group:x] runs as a plain program.
        processes.extend(processes_from_section(ctx, member, name))
    return GroupConfig(name, priority, tuple(processes), kind="group")


def _listener_pool(ctx: ParseContext, section: str) -> EventListenerPoolConfig:
    reader = ctx.reader(section)
    here = {"here": ctx.here}
    name = section.split(":", 1)[1]
    # Listeners default to a low priority so they start first and stop last.
    priority = reader.convert("priority", -1, dt.integer, here)
    buffer_size = reader.convert("buffer_size", 10, dt.integer, here)
    if buffer_size < 1:
        raise reader.error(
            "buffer_size", f"[{section}] section sets invalid buffer_size ({buffer_size})"
        )
    # Stored as written: the handler is resolved when the pool runs, never imported here.
    result_handler = reader.text("result_handler", DEFAULT_RESULT_HANDLER, here)
    events: list[str] = []
    for event in dt.list_of_strings(reader.text("events", "", here)):
        if event.upper() not in events:
            events.append(event.upper())
    if not events:
        raise reader.fail(f'[{section}] section requires an "events" line')
    for event in events:
        if event not in EVENT_TYPES:
            raise reader.error("events", f"Unknown event type {event} in [{section}] events")
    if reader.convert("redirect_stderr", "false", dt.boolean, here):
        raise reader.error(
            "redirect_stderr",
            f"[{section}] section sets redirect_stderr=true but this is not allowed because "
            "it will interfere with the eventlistener protocol",
        )
    processes = processes_from_section(ctx, section, name)
    return EventListenerPoolConfig(
        name,
        priority,
        processes,
        kind="eventlistener",
        events=tuple(events),
        buffer_size=buffer_size,
        result_handler=result_handler,
    )


def _fcgi_group(ctx: ParseContext, section: str) -> FcgiGroupConfig:
    reader = ctx.reader(section)
    here = {"here": ctx.here}
    name = _section_name(reader)
    priority = reader.convert("priority", 999, dt.integer, here)
    user = reader.text("user", None, here)
    proc_uid = None if user is None else reader.check("user", dt.name_to_uid, user)

    backlog = reader.text("socket_backlog", None, here)
    if backlog is not None:
        backlog = reader.check("socket_backlog", dt.integer, backlog)
        if not 1 <= backlog <= 65535:
            raise reader.error("socket_backlog", f"Invalid socket_backlog value {backlog}")

    owner_text = reader.text("socket_owner", None, here)
    owner = None
    if owner_text is not None:
        owner = reader.check("socket_owner", dt.reworded(dt.user_group, "socket_owner"), owner_text)
    mode_text = reader.text("socket_mode", None, here)
    mode = None
    if mode_text is not None:
        mode = reader.check("socket_mode", dt.reworded(dt.octal, "socket_mode"), mode_text)

    socket = reader.text("socket", None, {"program_name": name, "here": ctx.here})
    if not socket:
        raise reader.fail(f'[{section}] section requires a "socket" line')
    try:
        socket, owner, mode = _fcgi_socket(socket, proc_uid, owner, mode)
    except ValueError as exc:
        raise reader.error("socket", f"{exc} in [{section}] socket") from None

    processes = processes_from_section(ctx, section, name)
    return FcgiGroupConfig(
        name,
        priority,
        processes,
        kind="fcgi-program",
        socket=socket,
        socket_backlog=backlog,
        socket_owner=owner,
        socket_mode=0o700 if mode is None else mode,
    )


def _fcgi_socket(
    spec: str, proc_uid: int | None, owner: tuple[int, int] | None, mode: int | None
) -> tuple[str, tuple[int, int] | None, int | None]:
    """Validate an fcgi ``socket=`` and return (normalized spec, owner, mode)."""
    if spec.startswith("unix://"):
        path = spec[len("unix://") :]
        if not os.path.isabs(path):
            raise ValueError(f"Unix socket path {path} is not an absolute path")
        if owner is None and proc_uid is not None and proc_uid != os.getuid():
            # The socket must be usable by the (different) user the children run as.
            owner = (proc_uid, dt.gid_for_uid(proc_uid))
        return "unix://" + normalize_path(path), owner, 0o700 if mode is None else mode
    if owner is not None or mode is not None:
        raise ValueError(
            "socket_owner and socket_mode params should only be used with a Unix domain socket"
        )
    # Compiled here (re caches it), not at import: only [fcgi-program:x] needs it (issue 18).
    match = re.match(r"tcp://([^\s:]+):(\d+)$", spec)
    if match is None:
        raise ValueError(f"Bad socket format {spec}")
    host, port = match.group(1).lower(), dt.port_number(match.group(2))
    return f"tcp://{host}:{port}", None, None


def processes_from_section(
    ctx: ParseContext, section: str, group_name: str
) -> tuple[ProcessConfig, ...]:
    """The ``numprocs`` processes of one [program:x]-like section, by (priority, name)."""
    reader = ctx.reader(section)
    program_name = _section_name(reader)
    # One dict for the whole section that grows as supervisord's does: process_num and
    # numprocs are added per process, then the ENV_* of the program's environment.
    names: dict[str, object] = {
        "here": ctx.here,
        "program_name": program_name,
        "host_node_name": ctx.host_node_name,
        "group_name": group_name,
    }

    def get(key: str, default: object, converter: Callable[[object], object]) -> object:
        return reader.convert(key, default, converter, names)

    priority = get("priority", 999, dt.integer)
    autostart = get("autostart", "true", dt.boolean)
    autorestart = get("autorestart", "unexpected", dt.auto_restart)
    backoff = backoff_of(reader, names)  # ours, opt-in
    startsecs = get("startsecs", 1, dt.integer)
    startretries = get("startretries", 3, dt.integer)
    stopsignal = get("stopsignal", "TERM", dt.signal_number)
    stopwaitsecs = get("stopwaitsecs", 10, dt.integer)
    stopasgroup = get("stopasgroup", "false", dt.boolean)
    killasgroup = get("killasgroup", stopasgroup, dt.boolean)
    exitcodes = get("exitcodes", "0", dt.exitcodes)
    redirect_stderr = get("redirect_stderr", "false", dt.boolean)
    numprocs = get("numprocs", 1, dt.integer)
    numprocs_start = get("numprocs_start", 0, dt.integer)
    environment_template = reader.text("environment", "", expand_value=False)
    capture = {ch: get(f"{ch}_capture_maxbytes", "0", dt.byte_size) for ch in _CHANNELS}
    events_on = {ch: get(f"{ch}_events_enabled", "false", dt.boolean) for ch in _CHANNELS}
    serverurl = reader.text("serverurl", None, names)
    if serverurl and serverurl.strip().upper() == "AUTO":
        serverurl = None
    user = reader.text("user", None, names)
    uid = None if user is None else reader.check("user", dt.name_to_uid, user)
    umask = get("umask", None, lambda v: None if v is None else dt.octal(v))
    process_name = reader.text("process_name", "%(program_name)s", expand_value=False)
    reader.check("process_name", dt.process_or_group_name, process_name)
    process_name = process_name.strip()

    assert isinstance(numprocs, int) and isinstance(numprocs_start, int)
    if numprocs > 1 and "%(process_num)" not in process_name:
        raise reader.error(
            "process_name",
            "%(process_num) must be present within process_name when numprocs > 1",
        )
    if stopasgroup and not killasgroup:
        raise reader.fail("Cannot set stopasgroup=true and killasgroup=false")

    # Ours: read the extension keys only where the section has one (most have none).
    extended = not _EXTENSION_KEYS.isdisjoint(ctx.ini.options(section))
    processes = []
    for process_num in range(numprocs_start, numprocs_start + numprocs):
        names.update(process_num=process_num, numprocs=numprocs)
        names.update(ctx.parser_names)
        environment = reader.check(
            "environment",
            dt.key_value_pairs,
            reader.expand("environment", environment_template, names, "environment"),
        )
        for key, value in environment.items():
            names[f"ENV_{key}"] = value
        directory = reader.text("directory", None, names)
        streams = {ch: _stream(ctx, reader, ch, names, capture, events_on) for ch in _CHANNELS}
        if redirect_stderr:
            if streams["stderr"].logfile not in (LogfileSpecial.AUTO, None):
                ctx.warnings.append(
                    f"For [{section}], redirect_stderr=true but stderr_logfile has also been "
                    "set to a filename, the filename has been ignored"
                )
            # A redirected stderr never gets a log file of its own.
            streams["stderr"] = _replace_logfile(streams["stderr"], None)
        command = reader.text("command", None, names)
        if command is None:
            raise reader.fail(f"program section {section} does not specify a command")
        # Not stock: a command exec cannot take (NUL, over ARG_MAX) could never start.
        command = reader.check("command", check_command, command)
        name = reader.expand("process_name", process_name, names, "process_name")
        extensions = _extension_keys(reader, names) if extended else {}
        processes.append(
            ProcessConfig(
                name=name,
                program_name=program_name,
                group_name=group_name,
                command=command,
                process_num=process_num,
                numprocs=numprocs,
                directory=directory,
                umask=umask,
                priority=priority,
                autostart=autostart,
                autorestart=autorestart,
                startsecs=startsecs,
                startretries=startretries,
                user=user,
                uid=uid,
                stdout=streams["stdout"],
                stderr=streams["stderr"],
                redirect_stderr=redirect_stderr,
                stopsignal=stopsignal,
                stopwaitsecs=stopwaitsecs,
                stopasgroup=stopasgroup,
                killasgroup=killasgroup,
                exitcodes=exitcodes,
                backoff=backoff,
                environment=environment,
                serverurl=serverurl,
                **extensions,
            )
        )
    processes.sort(key=lambda proc: (proc.priority, proc.name))
    return tuple(processes)


_CHANNELS = ("stdout", "stderr")
_EXTENSION_KEYS = CHECK_KEYS | DEPENDENCY_KEYS


def program_section(ctx: ParseContext, process: ProcessConfig) -> str:
    """The section ``process`` was read from ([program:x] inside a [group:y] too)."""
    for kind in ("program", "fcgi-program", "eventlistener"):
        section = f"{kind}:{process.program_name}"
        if ctx.ini.has_section(section):
            return section
    return f"program:{process.program_name}"


def _extension_keys(reader: SectionReader, names: dict[str, object]) -> dict[str, object]:
    """Ours, opt-in (stock ignores them): readiness and liveness checks, depends_on."""
    from supervisor_runtime.config.checks import read_check  # by a section with such keys

    return {
        "readycheck": read_check(reader, READY, names),
        "healthcheck": read_check(reader, HEALTH, names),
        "depends_on": read_depends_on(reader, names),
        "dependency_stop": read_dependency_stop(reader, names),
    }


def _stream(
    ctx: ParseContext,
    reader: SectionReader,
    channel: str,
    names: Mapping[str, object],
    capture: Mapping[str, object],
    events_on: Mapping[str, object],
) -> StreamConfig:
    key = f"{channel}_logfile"
    logfile = reader.text(key, LogfileSpecial.AUTO, names)
    if isinstance(logfile, str):
        logfile = reader.expand(key, logfile, names, key)
    logfile = reader.check(key, dt.logfile_name, logfile)
    backups = reader.convert(f"{channel}_logfile_backups", 10, dt.integer, names)
    maxbytes = reader.convert(f"{channel}_logfile_maxbytes", "50MB", dt.byte_size, names)
    syslog = reader.convert(f"{channel}_syslog", False, dt.boolean, names)
    section = reader.section
    if logfile == dt.SYSLOG:
        ctx.warnings.append(
            f"For [{section}], {key}=syslog but this is deprecated and will be removed.  "
            f"Use {channel}_syslog=true to enable syslog instead."
        )
        logfile, syslog = None, True
    if logfile is LogfileSpecial.AUTO and not maxbytes:
        ctx.warnings.append(
            f"For [{section}], AUTO logging used for {key} without rollover, set maxbytes > 0 "
            "to avoid filling up filesystem unintentionally"
        )
    return StreamConfig(
        logfile=logfile,
        logfile_maxbytes=maxbytes,
        logfile_backups=backups,
        capture_maxbytes=capture[channel],
        events_enabled=events_on[channel],
        syslog=syslog,
    )


def _replace_logfile(stream: StreamConfig, logfile: str | None) -> StreamConfig:
    return stream._replace(logfile=logfile)
