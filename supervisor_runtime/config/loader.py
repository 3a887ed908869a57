"""``load_config``: a supervisord.conf (plus its [include]s) -> SupervisordConfig.

The steps and their order follow supervisord 4.3.0, so the same file is accepted or
rejected the same way and the first problem reported is the same one:

1. read the main file, then every file matched by [include] files=;
2. [supervisord] (its environment= then becomes available as ``%(ENV_X)s`` everywhere);
3. [rpcinterface:x] sections;
4. process groups (see ``programs``), each process's environment merged over [supervisord]'s;
5. [inet_http_server] and [unix_http_server];
6. the daemon's user must exist; the main log and pid file become absolute paths.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from supervisor_runtime.config import datatypes as dt
from supervisor_runtime.config.ctl_options import supervisorctl_from_ini
from supervisor_runtime.config.dependencies import check_graph
from supervisor_runtime.config.errors import ConfigError
from supervisor_runtime.config.expand import env_names
from supervisor_runtime.config.include_glob import include_glob
from supervisor_runtime.config.ini import IniParser
from supervisor_runtime.config.model import (
    AnyGroupConfig,
    InetHttpServerConfig,
    SupervisordConfig,
    UnixHttpServerConfig,
)
from supervisor_runtime.config.notices import ConfigNotice, describe
from supervisor_runtime.config.paths import normalize_path
from supervisor_runtime.config.plugins import (
    CTLPLUGIN_FACTORY_KEY,
    RPCINTERFACE_FACTORY_KEY,
    read_plugins,
)
from supervisor_runtime.config.programs import ParseContext, groups_from_ini, program_section
from supervisor_runtime.config.reader import SectionReader
from supervisor_runtime.config.restarts import history_log_lines_of, history_size_of
from supervisor_runtime.config.skip_broken import (
    blame,
    group_files,
    syntax_notice,
    unknown_section,
    value_notice,
)
from supervisor_runtime.static_types import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

__all__ = ["ConfigError", "load_config"]


def load_config(path: str, environ: Mapping[str, str] | None = None) -> SupervisordConfig:
    """Parse the supervisord config at ``path``.

    ``environ`` is the environment supervisord runs in (``%(ENV_X)s``); defaults to ours.
    Raises ConfigError naming the file, section, key and value at fault. With ``[include]
    skip_broken = true`` an included file at fault is set aside instead (skip_broken.py).
    """
    environ = os.environ if environ is None else environ
    set_aside: dict[str, ConfigNotice] = {}
    while True:
        try:
            return _load(path, environ, set_aside)
        except _SetAside:
            continue  # read again without it: at most once per included file


class _SetAside(Exception):
    """An included file was added to the set-aside ones: start again."""


def _load(
    path: str, environ: Mapping[str, str], set_aside: dict[str, ConfigNotice]
) -> SupervisordConfig:
    here = os.path.abspath(os.path.dirname(path))
    ini = IniParser()
    ini.read_path(path)
    ctx = ParseContext(
        ini=ini,
        path=path,
        here=here,
        host_node_name=os.uname().nodename,
        parser_names=env_names(environ),
    )
    skip = _skip_broken(ctx)
    ini.track_origins = skip  # where each included file's keys come from, to blame one
    included = _read_includes(ctx, set_aside if skip else None)
    try:
        config = _build(ctx, included)
    except ConfigError as error:
        main = os.path.abspath(path)  # never set aside, even when its own glob matches it
        others = [name for name in included if os.path.abspath(name) != main]
        culprit = blame(error, ini, others) if skip else None
        if culprit is None:
            raise
        set_aside[culprit] = value_notice(error, culprit, ini)
        raise _SetAside from None
    if not skip:
        return config
    notices = tuple(sorted(set_aside.values(), key=lambda notice: notice.file))
    warnings = tuple(("warn", describe(notice.as_struct())) for notice in notices)
    return config._replace(
        skip_broken=True,
        config_notices=notices,
        group_files=group_files(ini, config.groups),
        parse_messages=warnings + config.parse_messages,
    )


def _build(ctx: ParseContext, included: list[str]) -> SupervisordConfig:
    """Everything after the files are read (steps 2 to 6)."""
    ini, path, here = ctx.ini, ctx.path, ctx.here
    if not ini.has_section("supervisord"):
        raise ConfigError(".ini file does not include supervisord section", path=path)

    daemon = _supervisord_section(ctx)
    rpcinterfaces = read_plugins(
        ini.sections(), "rpcinterface:", RPCINTERFACE_FACTORY_KEY, ctx.reader
    )
    groups = tuple(_with_global_env(group, daemon.environment) for group in groups_from_ini(ctx))
    check_graph(groups, lambda process: ctx.reader(program_section(ctx, process)))
    inet = _inet_server(ctx)
    unix = _unix_server(ctx)
    if daemon.user is not None:
        ctx.reader("supervisord").check("user", dt.name_to_uid, daemon.user)
    ctl = None
    if ini.has_section("supervisorctl"):
        # supervisord never reads this section: a mistake in it must not stop the daemon.
        try:
            ctl = supervisorctl_from_ini(ini, path, here, ctx.parser_names, strict=False)
        except ConfigError as exc:
            ctx.warnings.append(f"ignoring [supervisorctl]: {exc}")
    ctlplugins = read_plugins(
        ini.sections(), "ctlplugin:", CTLPLUGIN_FACTORY_KEY, ctx.reader, strict=False
    )
    logfile = daemon.logfile
    if logfile is not None and logfile != "syslog":
        logfile = normalize_path(logfile)
    # supervisord logs its warnings before its infos, whatever order they were found in.
    messages = tuple(("warn", text) for text in ctx.warnings) + tuple(
        ("info", text) for text in ctx.infos
    )
    return daemon._replace(
        logfile=logfile,
        pidfile=normalize_path(daemon.pidfile),
        groups=groups,
        unix_http_server=unix,
        inet_http_server=inet,
        supervisorctl=ctl,
        rpcinterfaces=rpcinterfaces,
        ctlplugins=ctlplugins,
        included_files=tuple(included),
        parse_messages=messages,
    )


def _skip_broken(ctx: ParseContext) -> bool:
    """[include] skip_broken, as the main file says (read before any included file)."""
    if not ctx.ini.has_section("include"):
        return False
    return bool(ctx.reader("include").convert("skip_broken", "false", dt.boolean))


def _read_includes(
    ctx: ParseContext, set_aside: dict[str, ConfigNotice] | None = None
) -> list[str]:
    """Merge the files named by [include] files=; returns the files read, in order.

    Patterns are separated by whitespace (newlines too), relative to the main file's
    directory, and each pattern's matches are read in sorted order. Included files cannot
    include further files: only the main file's [include] is looked at. ``%(here)s`` in a
    file means that file's own directory. With ``set_aside`` (skip_broken), the files in it
    are not read, and a file that does not read as INI, or has a section of an unknown
    kind, joins them.
    """
    ini = ctx.ini
    if not ini.has_section("include"):
        return []
    ini.replace_here(ctx.here)
    if not ini.has_option("include", "files"):
        raise ConfigError(
            ".ini file has [include] section, but no files setting",
            path=ini.section_files.get("include", ctx.path),
            section="include",
        )
    names = {"here": ctx.here, "host_node_name": ctx.host_node_name, **ctx.parser_names}
    reader = ctx.reader("include")
    patterns = reader.expand("files", ini.get("include", "files"), names, "include.files")
    base = os.path.dirname(os.path.abspath(ctx.path))
    included = []
    for pattern in patterns.split():
        pattern = os.path.join(base, pattern)
        matches = include_glob(pattern)
        if not matches:
            ctx.warnings.append(f'No file matches via include "{pattern}"')
            continue
        for filename in sorted(matches):
            ctx.infos.append(f'Included extra file "{filename}" during parsing')
            if set_aside is not None and not _readable_alone(filename, ctx.path, set_aside):
                continue
            if ini.read_optional(filename):
                included.append(filename)
                ini.replace_here(os.path.abspath(os.path.dirname(filename)))
    return included


def _readable_alone(filename: str, main: str, set_aside: dict[str, ConfigNotice]) -> bool:
    """skip_broken: False when ``filename`` is (or now joins) the set-aside files. The file
    is read on its own first, so a broken one leaves nothing behind in the merged INI."""
    if filename in set_aside:
        return False
    if os.path.abspath(filename) == os.path.abspath(main):
        return True  # the main file matched by its own glob is never set aside
    alone = IniParser()
    alone.track_origins = True  # header lines, for an unknown section's notice
    try:
        if not alone.read_optional(filename):
            return True  # unreadable: skipped without a word, as stock does
    except UnicodeDecodeError as error:
        set_aside[filename] = ConfigNotice(file=filename, error=f"not UTF-8 text: {error}")
        return False
    except ConfigError as error:
        set_aside[filename] = syntax_notice(filename, error)
        return False
    notice = unknown_section(alone)
    if notice is not None:
        set_aside[filename] = notice
        return False
    return True


def _supervisord_section(ctx: ParseContext) -> SupervisordConfig:
    reader = ctx.reader("supervisord")
    here = {"here": ctx.here}

    def get(key: str, default: object, converter: Callable[[Any], Any] = str) -> Any:
        return reader.convert(key, default, converter, here)

    minfds = get("minfds", 1024, dt.integer)
    minprocs = get("minprocs", 200, dt.integer)
    directory = get("directory", None, lambda v: None if v is None else dt.existing_directory(v))
    user = reader.text("user", None, here)
    umask = get("umask", "022", dt.octal)
    logfile = get("logfile", "supervisord.log", dt.existing_dirpath)
    logfile_maxbytes = get("logfile_maxbytes", "50MB", dt.byte_size)
    logfile_backups = get("logfile_backups", 10, dt.integer)
    loglevel = get("loglevel", "info", dt.logging_level)
    pidfile = get("pidfile", "supervisord.pid", dt.existing_dirpath)
    identifier = get("identifier", "supervisor")
    nodaemon = get("nodaemon", "false", dt.boolean)
    silent = get("silent", "false", dt.boolean)
    childlogdir = get("childlogdir", default_tempdir(), dt.existing_directory)
    nocleanup = get("nocleanup", "false", dt.boolean)
    strip_ansi = get("strip_ansi", "false", dt.boolean)
    history_size = history_size_of(reader, here)  # ours, opt-in
    state_stream = get("state_stream", "false", dt.boolean)  # ours, opt-in
    history_log_lines = history_log_lines_of(reader, here)  # ours, opt-in
    metrics = get("metrics", "false", dt.boolean)  # ours, opt-in (rpc/metrics.py)
    autostart_concurrency = get("autostart_concurrency", 0, dt.integer)  # ours, opt-in
    if autostart_concurrency < 0:
        raise reader.error("autostart_concurrency", "must be 0 (no limit) or more")
    # environment= is expanded twice by stock (once more with host_node_name available).
    env_text = get("environment", "")
    env_names_now = {"here": ctx.here, "host_node_name": ctx.host_node_name}
    env_names_now.update(ctx.parser_names)
    env_text = reader.expand("environment", env_text, env_names_now, "environment")
    environment = reader.check("environment", dt.key_value_pairs, env_text)
    # From now on every section may refer to these as %(ENV_X)s.
    ctx.parser_names.update(env_names(environment))
    return SupervisordConfig(
        config_path=ctx.path,
        here=ctx.here,
        logfile=logfile,
        logfile_maxbytes=logfile_maxbytes,
        logfile_backups=logfile_backups,
        loglevel=loglevel,
        pidfile=pidfile,
        nodaemon=nodaemon,
        silent=silent,
        minfds=minfds,
        minprocs=minprocs,
        umask=umask,
        user=user,
        identifier=identifier,
        directory=directory,
        nocleanup=nocleanup,
        childlogdir=childlogdir,
        strip_ansi=strip_ansi,
        environment=environment,
        history_size=history_size,
        state_stream=state_stream,
        history_log_lines=history_log_lines,
        metrics=metrics,
        autostart_concurrency=autostart_concurrency,
    )


def _with_global_env(group: AnyGroupConfig, environment: Mapping[str, str]) -> AnyGroupConfig:
    """Each process's environment= laid over [supervisord] environment=."""
    if not environment:
        return group  # nothing to lay under: skip rebuilding every process config
    processes = tuple(
        proc._replace(environment={**environment, **proc.environment}) for proc in group.processes
    )
    return group._replace(processes=processes)


def _server_sections(ctx: ParseContext, prefix: str) -> list[str]:
    # Stock takes every section whose name merely starts with the prefix
    # ([inet_http_server:two] too); we serve the first one of each kind.
    return [name for name in ctx.ini.sections() if name.startswith(prefix)]


def _credentials(reader: SectionReader) -> tuple[str | None, str | None]:
    username = reader.text("username", None)
    password = reader.text("password", None)
    if (username is None) != (password is None):
        raise reader.fail(
            f"Section [{reader.section}] contains incomplete authentication: If a username "
            "or a password is specified, both the username and password must be specified"
        )
    return username, password


def _inet_server(ctx: ParseContext) -> InetHttpServerConfig | None:
    configs = []
    for section in _server_sections(ctx, "inet_http_server"):
        reader = ctx.reader(section)
        username, password = _credentials(reader)
        port = reader.text("port", None)
        if port is None:
            raise reader.fail(f"section [{section}] has no port value")
        host, number = reader.check("port", dt.inet_address, port)
        configs.append(InetHttpServerConfig(host, number, username, password))
    return configs[0] if configs else None


def _unix_server(ctx: ParseContext) -> UnixHttpServerConfig | None:
    configs = []
    for section in _server_sections(ctx, "unix_http_server"):
        reader = ctx.reader(section)
        sockfile = reader.text("file", None, {"here": ctx.here})
        if sockfile is None:
            raise reader.fail(f"section [{section}] has no file value")
        sockfile = normalize_path(sockfile.strip())
        username, password = _credentials(reader)
        chown = None
        text = reader.text("chown", None)
        if text is not None:
            chown = reader.check("chown", dt.reworded(dt.user_group, "sockchown"), text)
        chmod = 0o700
        text = reader.text("chmod", None)
        if text is not None:
            chmod = reader.check("chmod", dt.reworded(dt.octal, "chmod"), text)
        configs.append(UnixHttpServerConfig(sockfile, chmod, chown, username, password))
    return configs[0] if configs else None


def default_tempdir() -> str:
    """tempfile.gettempdir()'s answer without importing tempfile (and random, hashlib...)."""
    for name in ("TMPDIR", "TEMP", "TMP"):
        candidate = os.environ.get(name)
        if candidate and os.path.isdir(candidate):
            return os.path.abspath(candidate)
    for candidate in ("/tmp", "/var/tmp", "/usr/tmp"):
        if os.path.isdir(candidate):
            return candidate
    return os.getcwd()
