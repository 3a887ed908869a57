"""supervisord.conf parsing: ``load_config`` turns files into the frozen model."""

from __future__ import annotations

from supervisor_runtime.config.ctl_options import load_ctl_config
from supervisor_runtime.config.errors import ConfigError
from supervisor_runtime.config.loader import load_config
from supervisor_runtime.config.model import (
    LOG_LEVELS,
    AutoRestart,
    EventListenerPoolConfig,
    FcgiGroupConfig,
    GroupConfig,
    InetHttpServerConfig,
    LogfileSpecial,
    PluginConfig,
    ProcessConfig,
    StreamConfig,
    SupervisorctlConfig,
    SupervisordConfig,
    UnixHttpServerConfig,
)
from supervisor_runtime.config.search import config_search_paths, find_config_file

__all__ = [
    "LOG_LEVELS",
    "AutoRestart",
    "ConfigError",
    "EventListenerPoolConfig",
    "FcgiGroupConfig",
    "GroupConfig",
    "InetHttpServerConfig",
    "LogfileSpecial",
    "PluginConfig",
    "ProcessConfig",
    "StreamConfig",
    "SupervisorctlConfig",
    "SupervisordConfig",
    "UnixHttpServerConfig",
    "config_search_paths",
    "find_config_file",
    "load_config",
    "load_ctl_config",
]
