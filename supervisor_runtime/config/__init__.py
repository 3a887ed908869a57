"""supervisord.conf parsing: ``load_config`` turns files into the frozen model.

The names below are loaded on first use: supervisorctl imports only ``ctl_options`` from
this package, and must not pay for the daemon's whole parser and model at every start.
"""

from __future__ import annotations

import sys

from supervisor_runtime.static_types import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

# Public name -> the submodule that defines it.
_EXPORTS = {
    "load_ctl_config": "ctl_options",
    "ConfigError": "errors",
    "load_config": "loader",
    "LOG_LEVELS": "model",
    "AutoRestart": "model",
    "EventListenerPoolConfig": "model",
    "FcgiGroupConfig": "model",
    "AnyGroupConfig": "model",
    "GroupConfig": "model",
    "InetHttpServerConfig": "model",
    "LogfileSpecial": "model",
    "PluginConfig": "ctl_model",
    "ProcessConfig": "model",
    "StreamConfig": "model",
    "SupervisorctlConfig": "ctl_model",
    "SupervisordConfig": "model",
    "UnixHttpServerConfig": "model",
    "config_search_paths": "search",
    "find_config_file": "search",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # __import__ rather than importlib.import_module: importing importlib (and the warnings
    # module it loads) cost every daemon's start 0.5 ms, for this one call (issue 18).
    qualified = f"{__name__}.{module}"
    __import__(qualified)
    value = getattr(sys.modules[qualified], name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
