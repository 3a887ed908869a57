"""Which control servers and RPC interfaces a config asks for, and the lines supervisord
logs about them at start-up.

Kept apart from ``rpc.server`` so the daemon can log these before its children start and
load the server itself (HTTP, XML-RPC, the namespaces) only after they have started.
"""

from __future__ import annotations

from supervisor_runtime.static_types import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config.model import SupervisordConfig
    from ..logs.mainlog import MainLog

MAIN_FACTORY = "supervisor.rpcinterface:make_main_rpcinterface"
SERVER_KINDS = ("inet_http_server", "unix_http_server")  # supervisord's order


def server_configs(config: SupervisordConfig) -> list[tuple[str, object]]:
    found = []
    for kind in SERVER_KINDS:
        section = getattr(config, kind)
        if section is not None:
            found.append((kind, section))
    return found


def main_interfaces(config: SupervisordConfig) -> list[str]:
    """Namespaces served by the built-in supervisor interface ([rpcinterface:x] sections)."""
    return [p.name for p in config.rpcinterfaces if p.factory.strip() == MAIN_FACTORY]


def log_startup(config: SupervisordConfig, log: MainLog) -> None:
    """The lines supervisord logs while making its HTTP servers (before "started with pid")."""
    for kind, section in server_configs(config):
        for plugin in config.rpcinterfaces:
            if plugin.factory.strip() == MAIN_FACTORY:
                log.info(f"RPC interface '{plugin.name}' initialized")
            else:
                log.warn(
                    f"RPC interface '{plugin.name}' not loaded: factory {plugin.factory!r} is "
                    "not supported (only the built-in supervisor interface is)"
                )
        if not getattr(section, "username", None):
            log.critical(f"Server '{kind}' running without any HTTP authentication checking")
