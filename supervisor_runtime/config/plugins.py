"""[rpcinterface:x] and [ctlplugin:x]: factory specs kept as text, never imported."""

from __future__ import annotations

from collections.abc import Callable

from supervisor_runtime.config.ctl_model import PluginConfig
from supervisor_runtime.config.reader import SectionReader

RPCINTERFACE_FACTORY_KEY = "supervisor.rpcinterface_factory"
CTLPLUGIN_FACTORY_KEY = "supervisor.ctl_factory"


def read_plugins(
    sections: list[str],
    prefix: str,
    factory_key: str,
    reader_for: Callable[[str], SectionReader],
    *,
    strict: bool = True,
) -> tuple[PluginConfig, ...]:
    """One PluginConfig per section named ``<prefix>name``.

    Every other key (inherited [DEFAULT] keys included) is passed to the factory as a
    keyword option, expanded with the parser-wide names only, as supervisord does. A section
    without the factory key is an error, or skipped when ``strict`` is false (supervisord
    itself never looks at [ctlplugin:x], so it must not fail because of one).
    """
    plugins = []
    for section in sections:
        if not section.startswith(prefix):
            continue
        reader = reader_for(section)
        factory = reader.text(factory_key, None)
        if factory is None:
            if not strict:
                continue
            raise reader.fail(f"section [{section}] does not specify a {factory_key}")
        options = {
            key: reader.text(key, None) for key in reader.ini.options(section) if key != factory_key
        }
        plugins.append(PluginConfig(section.split(":", 1)[1], factory, options))
    return tuple(plugins)
