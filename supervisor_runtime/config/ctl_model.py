"""The parts of the parsed configuration supervisorctl reads, as named tuples.

They are not dataclasses like the rest of ``model`` because importing ``dataclasses``
(which imports ``inspect``) costs 10 ms, and supervisorctl runs once per command.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple


class PluginConfig(NamedTuple):
    """[rpcinterface:x] or [ctlplugin:x]: a factory spec and its extra keys."""

    name: str
    factory: str
    options: Mapping[str, str] = MappingProxyType({})


class SupervisorctlConfig(NamedTuple):
    serverurl: str = "http://localhost:9001"
    username: str | None = None
    password: str | None = None
    prompt: str = "supervisor"
    history_file: str | None = None
    # [ctlplugin:x] sections of the same file (supervisorctl reads no [include]).
    plugins: tuple[PluginConfig, ...] = ()
