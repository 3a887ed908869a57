"""The parsed configuration: immutable dataclasses, one per section kind.

(``ctl_model`` holds the two that supervisorctl needs, re-exported here.)

The parser (``config.loader``) turns supervisord.conf text into these; the
daemon, the RPC layer and supervisorctl only ever read them. Equality is
field-by-field, which is what ``update`` uses to decide whether a group changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from supervisor_runtime.config.ctl_model import PluginConfig, SupervisorctlConfig


class LogfileSpecial(Enum):
    """``stdout_logfile=AUTO``: a file named by the daemon inside childlogdir."""

    AUTO = "AUTO"


# A child log target: a path, AUTO, or None for NONE (no log file).
LogfileTarget = "str | LogfileSpecial | None"


class AutoRestart(Enum):
    NEVER = "false"
    UNEXPECTED = "unexpected"
    ALWAYS = "true"


# Log levels by supervisord's names; numbers order them (lower = chattier).
LOG_LEVELS: dict[str, int] = {
    "critical": 50,
    "error": 40,
    "warn": 30,
    "info": 20,
    "debug": 10,
    "trace": 5,
    "blather": 3,
}


@dataclass(frozen=True)
class StreamConfig:
    """How one of a child's output streams (stdout or stderr) is handled."""

    logfile: str | LogfileSpecial | None = LogfileSpecial.AUTO
    logfile_maxbytes: int = 50 * 1024 * 1024
    logfile_backups: int = 10
    capture_maxbytes: int = 0
    events_enabled: bool = False
    syslog: bool = False


@dataclass(frozen=True)
class ProcessConfig:
    """One process: a [program:x] section yields ``numprocs`` of these."""

    name: str  # process_name after expansion, e.g. "app" or "worker_01"
    program_name: str  # the x of [program:x]
    group_name: str
    command: str
    process_num: int = 0
    numprocs: int = 1
    directory: str | None = None
    umask: int | None = None
    priority: int = 999
    autostart: bool = True
    autorestart: AutoRestart = AutoRestart.UNEXPECTED
    startsecs: int = 1
    startretries: int = 3
    user: str | None = None  # as written in the config
    uid: int | None = None  # resolved at parse time, as supervisord does
    stdout: StreamConfig = field(default_factory=StreamConfig)
    stderr: StreamConfig = field(default_factory=StreamConfig)
    redirect_stderr: bool = False
    stopsignal: int = 15
    stopwaitsecs: int = 10
    stopasgroup: bool = False
    killasgroup: bool = False
    exitcodes: tuple[int, ...] = (0,)
    # Program's own environment merged over [supervisord] environment=.
    environment: Mapping[str, str] = field(default_factory=dict)
    serverurl: str | None = None  # None means AUTO
    # Extension (never set by stock configs): none yet.


@dataclass(frozen=True)
class GroupConfig:
    """A process group: [program:x] (homogeneous), [group:x] or [fcgi-program:x]."""

    name: str
    priority: int
    processes: tuple[ProcessConfig, ...]
    kind: str = "program"  # "program" | "group" | "fcgi-program" | "eventlistener"


@dataclass(frozen=True)
class EventListenerPoolConfig(GroupConfig):
    """[eventlistener:x]: a pool of listener processes."""

    events: tuple[str, ...] = ()
    buffer_size: int = 10
    result_handler: str = "supervisor.dispatchers:default_handler"


@dataclass(frozen=True)
class FcgiGroupConfig(GroupConfig):
    """[fcgi-program:x]: processes sharing one listening socket on fd 0."""

    socket: str = ""  # "tcp://host:port" or "unix:///path"
    socket_backlog: int | None = None
    socket_owner: tuple[int, int] | None = None
    socket_mode: int = 0o700


@dataclass(frozen=True)
class UnixHttpServerConfig:
    file: str
    chmod: int = 0o700
    chown: tuple[int, int] | None = None  # (uid, gid)
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class InetHttpServerConfig:
    host: str  # "" means all interfaces ("*:9001" or "9001")
    port: int
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class SupervisordConfig:
    """The [supervisord] section plus everything else the daemon needs."""

    config_path: str
    here: str  # directory of the main config file
    logfile: str | None = "supervisord.log"  # None when logfile=NONE... see loader
    logfile_maxbytes: int = 50 * 1024 * 1024
    logfile_backups: int = 10
    loglevel: int = LOG_LEVELS["info"]
    pidfile: str = "supervisord.pid"
    nodaemon: bool = False
    silent: bool = False
    minfds: int = 1024
    minprocs: int = 200
    umask: int = 0o022
    user: str | None = None
    identifier: str = "supervisor"
    directory: str | None = None
    nocleanup: bool = False
    childlogdir: str = "/tmp"
    strip_ansi: bool = False
    environment: Mapping[str, str] = field(default_factory=dict)
    groups: tuple[GroupConfig, ...] = ()
    unix_http_server: UnixHttpServerConfig | None = None
    inet_http_server: InetHttpServerConfig | None = None
    supervisorctl: SupervisorctlConfig | None = None
    rpcinterfaces: tuple[PluginConfig, ...] = ()
    ctlplugins: tuple[PluginConfig, ...] = ()
    included_files: tuple[str, ...] = ()
    # Messages supervisord logs once the main log is open (e.g. "Included
    # extra file ... during parsing", deprecation warnings), as (level, text).
    parse_messages: tuple[tuple[str, str], ...] = ()
