"""The parts of the parsed configuration supervisorctl reads, as named tuples.

They live apart from ``model`` (which re-exports them) so that supervisorctl, which runs
once per command, does not import the daemon's records. Like the rest of ``model`` they
are not dataclasses, because importing ``dataclasses`` (which imports ``inspect``) costs
10 ms.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from supervisor_runtime.static_types import NamedTuple


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
