"""The parsed configuration: immutable records (NamedTuples), one per section kind.

(``ctl_model`` holds the two that supervisorctl needs, re-exported here.)

The parser (``config.loader``) turns supervisord.conf text into these; the
daemon, the RPC layer and supervisorctl only ever read them. Equality is
field-by-field, which is what ``update`` uses to decide whether a group changed;
a copy with some fields changed is ``record._replace(field=value)``.

They are NamedTuples rather than frozen dataclasses because the daemon imports this
module before it can start a single program: importing ``dataclasses`` and generating
these classes cost 12 ms of that start, NamedTuples under 1 ms.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType

from supervisor_runtime.config.check_model import CheckConfig
from supervisor_runtime.config.ctl_model import PluginConfig, SupervisorctlConfig
from supervisor_runtime.config.notices import ConfigNotice
from supervisor_runtime.static_types import NamedTuple


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


# The default of every environment= field (and other mappings): empty, and shared, so it
# must not be mutable.
NO_ENVIRONMENT: Mapping[str, str] = MappingProxyType({})


class StreamConfig(NamedTuple):
    """How one of a child's output streams (stdout or stderr) is handled."""

    logfile: str | LogfileSpecial | None = LogfileSpecial.AUTO
    logfile_maxbytes: int = 50 * 1024 * 1024
    logfile_backups: int = 10
    capture_maxbytes: int = 0
    events_enabled: bool = False
    syslog: bool = False


class BackoffConfig(NamedTuple):
    """Ours, opt-in (``backoff = exponential``): retry for ever, each wait twice the last
    (from ``initial`` up to ``maximum`` seconds), each shortened at random by up to
    ``jitter`` (a fraction of it)."""

    initial: float = 1.0
    maximum: float = 300.0
    jitter: float = 0.1


class ProcessConfig(NamedTuple):
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
    stdout: StreamConfig = StreamConfig()
    stderr: StreamConfig = StreamConfig()
    redirect_stderr: bool = False
    stopsignal: int = 15
    stopwaitsecs: int = 10
    stopasgroup: bool = False
    killasgroup: bool = False
    exitcodes: tuple[int, ...] = (0,)
    # Program's own environment merged over [supervisord] environment=.
    environment: Mapping[str, str] = NO_ENVIRONMENT
    serverurl: str | None = None  # None means AUTO
    # Extensions (never set by stock configs). Readiness and liveness checks, and what must
    # be ready before this process starts (config/checks.py, config/dependencies.py):
    readycheck: CheckConfig | None = None
    healthcheck: CheckConfig | None = None
    depends_on: tuple[str, ...] = ()
    dependency_stop: str = "leave"
    backoff: BackoffConfig | None = None  # ours: backoff = exponential (config/restarts.py)


class GroupConfig(NamedTuple):
    """A process group: [program:x] (homogeneous) or [group:x]."""

    name: str
    priority: int
    processes: tuple[ProcessConfig, ...]
    kind: str = "program"  # "program" | "group"


class EventListenerPoolConfig(NamedTuple):
    """[eventlistener:x]: a pool of listener processes."""

    name: str
    priority: int
    processes: tuple[ProcessConfig, ...]
    kind: str = "eventlistener"
    events: tuple[str, ...] = ()
    buffer_size: int = 10
    result_handler: str = "supervisor.dispatchers:default_handler"


class FcgiGroupConfig(NamedTuple):
    """[fcgi-program:x]: processes sharing one listening socket on fd 0."""

    name: str
    priority: int
    processes: tuple[ProcessConfig, ...]
    kind: str = "fcgi-program"
    socket: str = ""  # "tcp://host:port" or "unix:///path"
    socket_backlog: int | None = None
    socket_owner: tuple[int, int] | None = None
    socket_mode: int = 0o700


# Any of the three: each has name, priority, processes and kind.
AnyGroupConfig = GroupConfig | EventListenerPoolConfig | FcgiGroupConfig


class UnixHttpServerConfig(NamedTuple):
    file: str
    chmod: int = 0o700
    chown: tuple[int, int] | None = None  # (uid, gid)
    username: str | None = None
    password: str | None = None


class InetHttpServerConfig(NamedTuple):
    host: str  # "" means all interfaces ("*:9001" or "9001")
    port: int
    username: str | None = None
    password: str | None = None


class SupervisordConfig(NamedTuple):
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
    environment: Mapping[str, str] = NO_ENVIRONMENT
    groups: tuple[AnyGroupConfig, ...] = ()
    unix_http_server: UnixHttpServerConfig | None = None
    inet_http_server: InetHttpServerConfig | None = None
    supervisorctl: SupervisorctlConfig | None = None
    rpcinterfaces: tuple[PluginConfig, ...] = ()
    ctlplugins: tuple[PluginConfig, ...] = ()
    included_files: tuple[str, ...] = ()
    # Messages supervisord logs once the main log is open (e.g. "Included
    # extra file ... during parsing", deprecation warnings), as (level, text).
    parse_messages: tuple[tuple[str, str], ...] = ()
    # Ours, opt-in ([include] skip_broken = true): included files set aside, why
    # (ConfigNotice), and group name -> the file that defines it (for reread).
    skip_broken: bool = False
    config_notices: tuple[ConfigNotice, ...] = ()
    group_files: Mapping[str, str] = NO_ENVIRONMENT
    # Ours, opt-in ([supervisord] history = true): transitions kept per process; 0 is off.
    history_size: int = 0
    # Ours, opt-in ([supervisord] state_stream = true): GET /state-stream (rpc/state_stream.py).
    state_stream: bool = False
    # Ours, opt-in: lines of a crash's output kept with its history entry (0: none).
    history_log_lines: int = 20
    # Ours, opt-in ([supervisord] metrics = true): GET /metrics on every HTTP server.
    metrics: bool = False
    # Ours, opt-in: at most this many of the boot's autostarts STARTING at once (0: no
    # limit, as stock); autostart_queue.py.
    autostart_concurrency: int = 0
