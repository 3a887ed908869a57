"""The service kinds an app can run, their user-overridable settings, and what they render.

Each kind renders one supervisord ``[program:x]`` section after the seeds' template (directory,
autostart, autorestart, a log in ``<root>/log`` of 2MB x 5 with stderr redirected), and some
kinds an extra config file of their own (nginx.conf, redis.conf). Settings are documented per
key (``describe_kinds()`` lists them for the panel and the CLI); a bad value raises
``ServiceSettingError`` naming the key.

Kinds: ``app`` (the main program, per tech), ``nginx``, ``memcached``, ``redis``,
``rq-worker`` and ``custom``. The config text of nginx and redis is in ``daemon_confs``.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hosting import daemon_confs
from hosting import validation as v
from hosting.errors import InvalidInput, ServiceSettingError, raise_all
from hosting.program_section import program_section

# The techs an app can be built with: defined here, not in models, because rendering must work
# without SQLAlchemy; the models (a CHECK constraint), the forms and hostingctl import it.
TECHS = ("python", "node", "php", "custom")
# The daemons a customer switches on with one click (the seeds' "Povolit Memcached/Redis"):
# the only services besides custom programs that a user (or an app file) adds.
TOGGLE_KINDS = ("memcached", "redis")
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
LOG_MAXBYTES = "2MB"
LOG_BACKUPS = 5
QUEUE_NAME_RE = re.compile(r"[a-z0-9_-]{1,64}")
WSGI_MODULE_RE = re.compile(r"[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*(\(\))?)?")
REDIS_URL_RE = re.compile(r"rediss?://[A-Za-z0-9._~:@/%+=&?!*,$-]+")
STOP_SIGNALS = ("TERM", "INT", "QUIT", "HUP", "KILL", "USR1", "USR2")
REDIS_POLICIES = (
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)

Parser = Callable[[str, Any], Any]
Confiner = Callable[[str, str, Any], Any]  # (field, app root, value) -> value for rendering


@dataclass(frozen=True)
class Key:
    """One user-overridable setting of a service kind."""

    name: str
    doc: str
    default: Any  # a value, or a callable(tech) -> value
    parse: Parser
    techs: tuple[str, ...] | None = None  # `app` only: the techs the key applies to
    confine: Confiner | None = None  # paths: checked against the app root when resolving

    def default_for(self, tech: str) -> Any:
        return self.default(tech) if callable(self.default) else self.default


@dataclass(frozen=True)
class ServiceSpec:
    """What rendering needs to know about a service (the ORM row converts with ``of``)."""

    kind: str
    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    tech: str = "python"
    custom_command: str | None = None  # the App's, used by `app` when tech is custom

    @classmethod
    def of(cls, service: Any) -> ServiceSpec:
        """From a ``hosting.models.Service`` (or anything with kind, name, settings, app)."""
        app = service.app
        return cls(
            kind=service.kind,
            name=service.name,
            settings=dict(service.settings or {}),
            tech=app.tech,
            custom_command=app.custom_command,
        )


@dataclass(frozen=True)
class ProgramSection:
    """A ``[program:x]`` section in the seeds' layout; ``text()`` escapes what it must and
    writes it with ``program_section``."""

    name: str
    command: str  # as supervisord should see it after expansion
    directory: str
    log_file: str
    environment: Mapping[str, str] = field(default_factory=dict)
    options: tuple[tuple[str, str], ...] = ()  # ours, written verbatim (may use expansions)

    def text(self) -> str:
        options = [("command", v.escape_percent(self.command))]
        if self.environment:
            options.append(("environment", v.format_environment(self.environment)))
        options.append(("directory", self.directory))
        options += self.options
        options += [
            ("autostart", "true"),
            ("autorestart", "true"),
            # A stop or a kill reaches the whole process group: a shell's children (`sh -c
            # 'sleep 300; ...'`) must not outlive their program.
            ("stopasgroup", "true"),
            ("killasgroup", "true"),
            ("stdout_logfile", self.log_file),
            ("stdout_logfile_maxbytes", LOG_MAXBYTES),
            ("stdout_logfile_backups", str(LOG_BACKUPS)),
            ("redirect_stderr", "true"),
        ]
        return program_section(self.name, options)


@dataclass(frozen=True)
class Built:
    """A kind's output: its program section, extra files and directories it needs."""

    section: ProgramSection
    extra_files: Mapping[str, str] = field(default_factory=dict)  # path relative to root
    directories: tuple[str, ...] = ()  # relative to root; must exist before it starts
    process_names: tuple[str, ...] = ()  # supervisord's names of its processes


@dataclass(frozen=True)
class Context:
    """A validated service ready to build: effective settings with paths made absolute."""

    root: str
    spec: ServiceSpec
    values: Mapping[str, Any]

    @property
    def name(self) -> str:
        return self.spec.name

    def path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def log_file(self) -> str:
        return self.path("log", f"{self.name}.log")


def _path_key(name: str, doc: str, default: str | None) -> Key:
    return Key(name, doc, default, v.path_value, confine=v.confine)


def _env_key(doc: str = "extra environment variables (name -> value)") -> Key:
    return Key("environment", doc, {}, v.environment)


def _int(low: int, high: int) -> Parser:
    return lambda field, value: v.integer(field, value, low, high)


def _choice(*choices: str) -> Parser:
    return lambda field, value: v.choice(field, value, choices)


class ServiceKind:
    """Base class: settings handling shared by every kind; subclasses declare keys, build."""

    kind: ClassVar[str]
    doc: ClassVar[str]
    default_name: ClassVar[str | None]
    keys: ClassVar[tuple[Key, ...]]

    def key_map(self) -> dict[str, Key]:
        return {key.name: key for key in self.keys}

    def check_name(self, name: Any) -> str:
        """The one rule for reserved program names (every service passes here): what the
        runtime and supervisorctl would misread (``validation.runtime_name``: ``all``, which
        they and our program actions read as every program, ``:``, a leading ``-``), the
        runtime's own ``supervisor*``, and ``app`` for the main program only."""
        name = v.program_name("name", name)
        if name.startswith("supervisor"):
            raise ServiceSettingError("name", f"{name!r} is reserved for the runtime itself")
        if name == "app" and self.kind != "app":
            raise ServiceSettingError("name", "'app' is reserved for the app's main program")
        return name

    def applicable(self, tech: str) -> dict[str, Key]:
        return {k.name: k for k in self.keys if k.techs is None or tech in k.techs}

    def clean(self, settings: Mapping[str, Any] | None, tech: str) -> dict[str, Any]:
        """The user's overrides, normalized; None values mean "back to the default"."""
        if settings is None:
            return {}
        if not isinstance(settings, Mapping):
            raise ServiceSettingError("settings", "must be a mapping of setting names to values")
        keys = self.applicable(tech)
        cleaned: dict[str, Any] = {}
        errors: list[InvalidInput] = []  # every bad value at once, not just the first
        for name, value in settings.items():
            if name not in keys:
                known = ", ".join(sorted(keys)) or "none"
                where = f"{self.kind} (tech {tech})" if self.kind == "app" else self.kind
                errors.append(
                    ServiceSettingError(str(name), f"unknown setting for {where}; known: {known}")
                )
            elif value is not None:
                try:
                    cleaned[name] = keys[name].parse(name, value)
                except InvalidInput as exc:
                    errors.append(exc)
        raise_all(errors)
        return cleaned

    def effective(self, settings: Mapping[str, Any] | None, tech: str) -> dict[str, Any]:
        """Defaults overlaid with the cleaned overrides, checked as a whole."""
        keys = self.applicable(tech)
        # Copies: a default list or dict must never be shared with (or changed by) a caller.
        values = {name: copy.deepcopy(key.default_for(tech)) for name, key in keys.items()}
        values.update(self.clean(settings, tech))
        self.check(values, tech)
        return values

    def check(self, values: dict[str, Any], tech: str) -> None:
        """Rules spanning several keys; subclasses override."""

    def resolve(self, spec: ServiceSpec, root: str) -> Context:
        """Validate everything about ``spec`` for an app at ``root``."""
        root = v.app_root(root)
        if spec.tech not in TECHS:
            raise ServiceSettingError("tech", f"must be one of {', '.join(TECHS)}")
        self.check_name(spec.name)
        values = self.effective(spec.settings, spec.tech)
        for name, key in self.applicable(spec.tech).items():
            if key.confine is not None and values[name] is not None:
                values[name] = key.confine(name, root, values[name])
        self.check_resolved(values, spec)
        return Context(root=root, spec=spec, values=values)

    def check_resolved(self, values: dict[str, Any], spec: ServiceSpec) -> None:
        """Rules that need the spec (tech, the App's command); subclasses override."""

    def build(self, ctx: Context) -> Built:
        raise NotImplementedError

    def tcp_ports(self, values: Mapping[str, Any]) -> dict[str, int]:
        """TCP ports this service listens on, by setting name (they must not clash)."""
        return {}

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "doc": self.doc,
            "default_name": self.default_name,
            "keys": [
                {
                    "name": key.name,
                    "doc": key.doc,
                    "default": None if callable(key.default) else key.default,
                    "techs": list(key.techs) if key.techs else None,
                }
                for key in self.keys
            ],
        }


def _path_env(tech: str, root: str) -> str:
    # As in the seeds: the tech's own bin directory on top of the usual PATH.
    if tech == "python":
        return f"{root}/app/.venv/bin:{BASE_PATH}"
    if tech == "node":
        return f"{BASE_PATH}:/opt/node/bin"
    if tech == "php":
        return f"{BASE_PATH}:/usr/sbin"
    return BASE_PATH


def _wsgi_module(field: str, value: Any) -> str:
    value = v.text_value(field, value)
    if not WSGI_MODULE_RE.fullmatch(value):
        raise ServiceSettingError(field, f"{value!r} is not 'module' or 'module:variable'")
    return value


class AppKind(ServiceKind):
    kind = "app"
    doc = "the app's main program (always named 'app'), run the way its tech is run"
    default_name = "app"
    keys = (
        Key("port", "port the app listens on at 127.0.0.1 (also in $PORT)", 8080, v.port),
        _env_key("extra environment variables (PORT is set from the port key)"),
        Key("wsgi_module", "WSGI app for gunicorn", "app:app", _wsgi_module, techs=("python",)),
        Key("workers", "gunicorn worker processes", 2, _int(1, 32), techs=("python",)),
        Key(
            "php_fpm_config",
            "php-fpm config file (relative to the app root); php-fpm's own when unset",
            None,
            v.path_value,
            techs=("php",),
            confine=v.confine,
        ),
        Key("command", "the command to run (defaults to the app's)", None, v.command, ("custom",)),
    )

    def check_name(self, name: Any) -> str:
        if name != "app":
            raise ServiceSettingError("name", "the app's main program is always named 'app'")
        return name

    def check(self, values: dict[str, Any], tech: str) -> None:
        if "PORT" in values["environment"]:
            raise ServiceSettingError("environment.PORT", "set it with the port key instead")

    def check_resolved(self, values: dict[str, Any], spec: ServiceSpec) -> None:
        if spec.tech == "custom" and values["command"] is None:
            if not spec.custom_command:
                raise ServiceSettingError("command", "a custom app needs a command")
            values["command"] = v.command("command", spec.custom_command)

    def _command(self, ctx: Context) -> str:
        values, tech = ctx.values, ctx.spec.tech
        if tech == "python":
            bind = f"127.0.0.1:{values['port']}"
            workers = str(values["workers"])
            return shlex.join(
                ["gunicorn", "--bind", bind, "--workers", workers, values["wsgi_module"]]
            )
        if tech == "node":
            return "npm start"
        if tech == "php":
            config = values["php_fpm_config"]
            return shlex.join(["php-fpm", "-F", *(["-y", config] if config else [])])
        return values["command"]

    def build(self, ctx: Context) -> Built:
        env = {"PORT": str(ctx.values["port"]), "PATH": _path_env(ctx.spec.tech, ctx.root)}
        env.update(ctx.values["environment"])
        section = ProgramSection(
            name="app",
            command=self._command(ctx),
            directory=ctx.path("app"),
            log_file=ctx.log_file(),
            environment=env,
        )
        return Built(section, process_names=("app",))

    def tcp_ports(self, values: Mapping[str, Any]) -> dict[str, int]:
        return {"port": values["port"]}


class NginxKind(ServiceKind):
    kind = "nginx"
    doc = "nginx in front of the app: listens on 8000, proxies to the app on 8080"
    default_name = "nginx"
    keys = (
        Key("listen_port", "port nginx listens on", 8000, v.port),
        Key("upstream_port", "port of the app at 127.0.0.1", 8080, v.port),
        Key(
            "upstream_protocol",
            "http (proxy) or fastcgi (php-fpm); fastcgi for php apps by default",
            lambda tech: "fastcgi" if tech == "php" else "http",
            _choice("http", "fastcgi"),
        ),
        Key("client_max_body_mb", "largest request body, in MiB", 16, _int(1, 1024)),
        _path_key("static_dir", "directory served at /static/ (relative to the app root)", None),
        _path_key("document_root", "document root for fastcgi (relative to the app root)", "app"),
    )

    def check(self, values: dict[str, Any], tech: str) -> None:
        if values["listen_port"] == values["upstream_port"]:
            raise ServiceSettingError("upstream_port", "must differ from listen_port")

    def build(self, ctx: Context) -> Built:
        conf_path = f"conf/{ctx.name}.conf"
        conf = daemon_confs.nginx_conf(ctx.root, ctx.name, ctx.values)
        command = shlex.join(
            ["nginx", "-e", "stderr", "-c", ctx.path(conf_path), "-g", "daemon off;"]
        )
        section = ProgramSection(
            name=ctx.name, command=command, directory=ctx.path("app"), log_file=ctx.log_file()
        )
        return Built(
            section,
            extra_files={conf_path: conf},
            directories=(f"var/{ctx.name}",),
            process_names=(ctx.name,),
        )

    def tcp_ports(self, values: Mapping[str, Any]) -> dict[str, int]:
        return {"listen_port": values["listen_port"]}


def _socket_of(ctx: Context) -> str:
    return v.socket_path("socket", ctx.path("run", f"{ctx.name}.sock"))


class MemcachedKind(ServiceKind):
    kind = "memcached"
    doc = "memcached bound to 127.0.0.1 (or a unix socket in run/)"
    default_name = "memcached"
    keys = (
        Key("memory_mb", "cache size in MiB", 64, _int(8, 4096)),
        Key("port", "TCP port at 127.0.0.1 (unless socket is true)", 11211, v.port),
        Key("socket", "listen on <root>/run/<name>.sock instead of TCP", False, v.boolean),
        Key("max_connections", "simultaneous connections", 1024, _int(16, 65536)),
    )

    def build(self, ctx: Context) -> Built:
        values = ctx.values
        # memcached refuses to start as root without -u; it ignores -u when not root (the
        # normal case: tenant runtimes run as the app's user).
        words = ["memcached", "-u", "nobody", "-m", str(values["memory_mb"])]
        words += ["-c", str(values["max_connections"])]
        if values["socket"]:
            words += ["-s", _socket_of(ctx), "-a", "0700"]
        else:
            words += ["-l", "127.0.0.1", "-p", str(values["port"]), "-U", "0"]
        section = ProgramSection(
            name=ctx.name,
            command=shlex.join(words),
            directory=ctx.path("var"),
            log_file=ctx.log_file(),
        )
        return Built(section, process_names=(ctx.name,))

    def tcp_ports(self, values: Mapping[str, Any]) -> dict[str, int]:
        return {} if values["socket"] else {"port": values["port"]}


class RedisKind(ServiceKind):
    kind = "redis"
    doc = "redis with its own redis.conf, bound to 127.0.0.1 or a unix socket, data in var/"
    default_name = "redis"
    keys = (
        Key("port", "TCP port at 127.0.0.1 (unless socket is true)", 6379, v.port),
        Key("socket", "listen on run/<name>.sock (mode 700) instead of TCP", False, v.boolean),
        Key("maxmemory_mb", "memory limit in MiB", 64, _int(1, 65536)),
        Key("maxmemory_policy", "what to do at the limit", "noeviction", _choice(*REDIS_POLICIES)),
        Key("snapshots", "save RDB snapshots to var/<name>/", True, v.boolean),
        Key("appendonly", "append-only file persistence", False, v.boolean),
    )

    def build(self, ctx: Context) -> Built:
        conf_path = f"conf/{ctx.name}.conf"
        socket = _socket_of(ctx) if ctx.values["socket"] else None
        conf = daemon_confs.redis_conf(ctx.root, ctx.name, ctx.values, socket)
        section = ProgramSection(
            name=ctx.name,
            command=shlex.join(["redis-server", ctx.path(conf_path)]),
            directory=ctx.path("var", ctx.name),
            log_file=ctx.log_file(),
        )
        return Built(
            section,
            extra_files={conf_path: conf},
            directories=(f"var/{ctx.name}",),
            process_names=(ctx.name,),
        )

    def tcp_ports(self, values: Mapping[str, Any]) -> dict[str, int]:
        return {} if values["socket"] else {"port": values["port"]}


def _redis_url(field: str, value: Any) -> str:
    value = v.text_value(field, value)
    if value.startswith("unix://"):
        path, _, query = value[len("unix://") :].partition("?")
        v.path_value(field, path)
        if query and not re.fullmatch(r"db=\d{1,2}", query):
            raise ServiceSettingError(field, "a unix:// URL may only carry ?db=N")
        return value
    if not REDIS_URL_RE.fullmatch(value):
        raise ServiceSettingError(field, f"{value!r} is not a redis://, rediss:// or unix:// URL")
    return value


def _confine_redis_url(field: str, root: str, value: str) -> str:
    if not value.startswith("unix://"):
        return value
    path, sep, query = value[len("unix://") :].partition("?")
    return f"unix://{v.confine(field, root, path)}{sep}{query}"


def _queues(field: str, value: Any) -> list[str]:
    return v.name_list(field, value, QUEUE_NAME_RE)


class RqWorkerKind(ServiceKind):
    kind = "rq-worker"
    doc = "RQ workers (the rq docs' supervisor recipe: numprocs, TERM, long stopwaitsecs)"
    default_name = "worker"
    keys = (
        Key("numprocs", "number of worker processes", 1, _int(1, 16)),
        Key("queues", "queues to work on, in priority order", ["default"], _queues),
        Key(
            "redis_url",
            "redis:// or unix:// URL (unix paths inside the app root)",
            "redis://127.0.0.1:6379/0",
            _redis_url,
            confine=_confine_redis_url,
        ),
        Key("job_timeout", "longest job timeout (s); stopping waits longer", 180, _int(1, 86400)),
        _env_key(),
    )

    def build(self, ctx: Context) -> Built:
        values = ctx.values
        words = ["rq", "worker", "--url", values["redis_url"], *values["queues"]]
        numprocs = values["numprocs"]
        section = ProgramSection(
            name=ctx.name,
            command=shlex.join(words),
            directory=ctx.path("app"),
            log_file=ctx.path("log", f"{ctx.name}_%(process_num)02d.log"),
            environment={"PATH": _path_env("python", ctx.root), **values["environment"]},
            options=(
                ("process_name", "%(program_name)s_%(process_num)02d"),
                ("numprocs", str(numprocs)),
                # TERM lets the current job finish (a warm shutdown); wait past its timeout.
                ("stopsignal", "TERM"),
                ("stopwaitsecs", str(values["job_timeout"] + 30)),
            ),
        )
        names = tuple(f"{ctx.name}_{num:02d}" for num in range(numprocs))
        return Built(section, process_names=names)


class CustomKind(ServiceKind):
    kind = "custom"
    doc = "any command, with its own environment"
    default_name = None  # the user names it
    keys = (
        Key("command", "the command line (split like a shell, no shell runs)", None, v.command),
        _env_key(),
        _path_key("directory", "working directory (relative to the app root)", "app"),
        Key("stopsignal", "signal that asks it to stop", "TERM", _choice(*STOP_SIGNALS)),
        Key("stopwaitsecs", "seconds to wait after stopsignal before KILL", 10, _int(1, 3600)),
        Key(
            "numprocs",
            "number of processes (name_00, name_01, ... when more than 1)",
            1,
            _int(1, 16),
        ),
    )

    def check(self, values: dict[str, Any], tech: str) -> None:
        if values["command"] is None:
            raise ServiceSettingError("command", "a custom service needs a command")

    def build(self, ctx: Context) -> Built:
        values = ctx.values
        numprocs = values["numprocs"]
        options: tuple[tuple[str, str], ...] = (
            ("stopsignal", values["stopsignal"]),
            ("stopwaitsecs", str(values["stopwaitsecs"])),
        )
        if numprocs == 1:  # one process: named as the program, as before numprocs existed
            log_file, names = ctx.log_file(), (ctx.name,)
        else:  # the seeds' RQ workers: one log and one process name per process
            log_file = ctx.path("log", f"{ctx.name}_%(process_num)02d.log")
            names = tuple(f"{ctx.name}_{num:02d}" for num in range(numprocs))
            options = (
                ("process_name", "%(program_name)s_%(process_num)02d"),
                ("numprocs", str(numprocs)),
                *options,
            )
        section = ProgramSection(
            name=ctx.name,
            command=values["command"],
            directory=values["directory"],
            log_file=log_file,
            environment=values["environment"],
            options=options,
        )
        return Built(section, process_names=names)


KINDS: dict[str, ServiceKind] = {
    kind.kind: kind
    for kind in (AppKind(), NginxKind(), MemcachedKind(), RedisKind(), RqWorkerKind(), CustomKind())
}


def get_kind(kind: Any) -> ServiceKind:
    if kind not in KINDS:
        known = ", ".join(KINDS)
        raise ServiceSettingError("kind", f"unknown service kind {kind!r}; known: {known}")
    return KINDS[kind]


def build_service(spec: ServiceSpec, root: str) -> Built:
    """Validate ``spec`` for an app at ``root`` and build its program section and files."""
    kind = get_kind(spec.kind)
    return kind.build(kind.resolve(spec, root))


def describe_kinds() -> list[dict[str, Any]]:
    """Every kind with its documented keys and defaults (for the panel and the CLI)."""
    return [kind.describe() for kind in KINDS.values()]
