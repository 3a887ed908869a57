"""``[include] skip_broken = true`` (ours, opt-in): a broken included file is set aside.

Stock supervisord refuses to start when any included file is wrong, so on a host where
tenants write files into an included directory one typo keeps every program down. With
the option on, the loader (``loader.load_config``) sets aside, as a whole, each file
matched by ``files=`` whose content fails: INI syntax, a bad value, a section of a kind
supervisord does not have, a clash with other files blamed on it. None of its sections are
used; everything else loads. The main file is never set aside: its errors stay fatal.

A value error is blamed on the file that wrote the key (the last one, since a later file
overrides an earlier one); an error about a section as a whole on the last included file
that wrote into that section. The loader then reads everything again without that file,
until the config loads or an error is the main file's own.

On reread (``keep_last_loaded``), a process group that came from a file that is now set
aside keeps its last loaded configuration, so ``update`` leaves it running as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from supervisor_runtime.config.errors import ConfigError
from supervisor_runtime.config.ini import IniParser
from supervisor_runtime.config.model import AnyGroupConfig, SupervisordConfig
from supervisor_runtime.config.notices import ConfigNotice

# Section names supervisord reads (stock ignores others; set aside here: a typo such as
# [progam:x] would otherwise drop a program without a word).
SECTION_NAMES = frozenset({"supervisord", "supervisorctl", "include"})
SECTION_PREFIXES = (
    "program:",
    "group:",
    "eventlistener:",
    "fcgi-program:",
    "rpcinterface:",
    "ctlplugin:",
    "unix_http_server",
    "inet_http_server",
)
# The section each kind of group is defined by.
GROUP_SECTION_PREFIX = {
    "program": "program:",
    "group": "group:",
    "eventlistener": "eventlistener:",
    "fcgi-program": "fcgi-program:",
}


def unknown_section(ini: IniParser) -> ConfigNotice | None:
    """A notice for the first section of a kind supervisord does not have, if any
    (``ini`` holds one included file)."""
    for section in ini.sections():
        if section in SECTION_NAMES or section.startswith(SECTION_PREFIXES):
            continue
        source, line = ini.origins[(section, "")]
        return ConfigNotice(file=source, error="unknown section type", line=line, section=section)
    return None


def syntax_notice(path: str, error: ConfigError) -> ConfigNotice:
    """A file the INI reader refused (or could not decode)."""
    return ConfigNotice(file=path, error=str(error), line=error.line or 0)


def blame(error: ConfigError, ini: IniParser, included: Sequence[str]) -> str | None:
    """The included file ``error`` is blamed on, or None when it is the main file's."""
    if error.section is None:
        return None  # about the config as a whole
    if error.key is not None and ini.lookup(error.section, error.key.lower()) is not None:
        origin = ini.origin(error.section, error.key)
        # No origin: the main file wrote it (only included files are tracked).
        candidates = [origin[0]] if origin is not None else []
    else:
        candidates = ini.contributors(error.section)
    ours = [path for path in included if path in candidates]
    return ours[-1] if ours else None


def value_notice(error: ConfigError, path: str, ini: IniParser) -> ConfigNotice:
    """The notice for ``path``, set aside because of ``error`` (a value or section error)."""
    line = 0
    if error.section is not None:
        origin = None
        if error.key is not None:
            origin = ini.origin(error.section, error.key)
        if origin is None or origin[0] != path:
            origin = ini.origins.get((error.section, ""))
        if origin is not None and origin[0] == path:
            line = origin[1]
    return ConfigNotice(
        file=path,
        error=error.reason,
        line=line,
        section=error.section or "",
        key=error.key or "",
        value=error.value or "",
    )


def group_files(ini: IniParser, groups: Sequence[AnyGroupConfig]) -> dict[str, str]:
    """Group name -> the file whose section defines it (where its header first appeared)."""
    found = {}
    for group in groups:
        section = GROUP_SECTION_PREFIX.get(group.kind, "program:") + group.name
        path = ini.section_files.get(section)
        if path is not None:
            found[group.name] = path
    return found


def keep_last_loaded(
    fresh: SupervisordConfig,
    previous: SupervisordConfig,
    active: Mapping[str, AnyGroupConfig],
) -> SupervisordConfig:
    """``fresh`` (a reread) with the groups it lost to a set-aside file put back.

    A group of the previous read that the fresh read no longer has, and whose file is now
    set aside, is kept: as it runs (``active``), or as last read when it is not active.
    Groups the fresh read has come from it (the platform's own files always apply), and a
    set-aside file that no previous read loaded adds nothing."""
    set_aside = {notice.file for notice in fresh.config_notices}
    have = {group.name for group in fresh.groups}
    groups = list(fresh.groups)
    files = dict(fresh.group_files)
    for group in previous.groups:
        path = previous.group_files.get(group.name)
        if group.name in have or path not in set_aside:
            continue
        groups.append(active.get(group.name, group))
        files[group.name] = path
    if len(groups) == len(fresh.groups):
        return fresh
    groups.sort(key=lambda group: (group.priority, group.name))
    return fresh._replace(groups=tuple(groups), group_files=files)
