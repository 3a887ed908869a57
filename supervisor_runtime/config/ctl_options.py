"""What supervisorctl reads from a config file: its [supervisorctl] section and plugins.

Like stock supervisorctl, only the named file is read (no [include]); keys fall back to
[DEFAULT]; ``%(here)s`` is the file's directory and ``%(ENV_X)s`` the caller's environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from supervisor_runtime.config.ctl_model import SupervisorctlConfig
from supervisor_runtime.config.errors import ConfigError
from supervisor_runtime.config.expand import env_names
from supervisor_runtime.config.ini import IniParser
from supervisor_runtime.config.paths import normalize_path
from supervisor_runtime.config.plugins import CTLPLUGIN_FACTORY_KEY, read_plugins
from supervisor_runtime.config.reader import SectionReader

DEFAULT_SERVERURL = "http://localhost:9001"


def load_ctl_config(path: str, environ: Mapping[str, str] | None = None) -> SupervisorctlConfig:
    """Parse ``path`` for supervisorctl; raises ConfigError like stock supervisorctl would."""
    ini = IniParser()
    ini.read_path(path)
    if not ini.has_section("supervisorctl"):
        raise ConfigError(".ini file does not include supervisorctl section", path=path)
    here = os.path.dirname(normalize_path(path))
    names = env_names(os.environ if environ is None else environ)
    return supervisorctl_from_ini(ini, path, here, names, strict=True)


def supervisorctl_from_ini(
    ini: IniParser,
    path: str,
    here: str,
    parser_names: Mapping[str, str],
    *,
    strict: bool,
) -> SupervisorctlConfig:
    """The [supervisorctl] section of an already-read file (defaults if it is absent)."""

    def reader_for(section: str) -> SectionReader:
        return SectionReader(ini, section, ini.section_files.get(section, path), parser_names)

    reader = reader_for("supervisorctl")
    with_here = {"here": here}
    serverurl = reader.text("serverurl", DEFAULT_SERVERURL, with_here)
    if serverurl.startswith("unix://"):
        serverurl = "unix://" + normalize_path(serverurl[len("unix://") :])
    # Read in stock's order so the first bad value reported is the same one.
    prompt = reader.text("prompt", "supervisor")
    username = reader.text("username", None)
    password = reader.text("password", None)
    history_file = reader.text("history_file", None, with_here)
    plugins = read_plugins(
        ini.sections(), "ctlplugin:", CTLPLUGIN_FACTORY_KEY, reader_for, strict=strict
    )
    return SupervisorctlConfig(
        serverurl=serverurl,
        username=username,
        password=password,
        prompt=prompt,
        history_file=normalize_path(history_file) if history_file else None,
        plugins=plugins,
    )
