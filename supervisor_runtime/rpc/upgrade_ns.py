"""The live upgrade's two methods in our ``runtime.*`` namespace (runtime_ns.py has the
rest: restart history). Served by every daemon, whatever its config: the roles upgrade a
daemon in place with them, falling back to a restart only where they are missing. Listed
by ``system.listMethods`` where the config uses one of our keys (runtime.* is served
then); with a stock config they are callable but unlisted, so the list stays stock's.
A stock client never calls them, so it never notices.

- ``runtime.liveUpgrade()``: run the pre-flight checks and, when they pass, re-execute
  the daemon (maybe as a newer release) with every child still running (upgrade/). The
  answer (this daemon's info, see below) goes out before the exec. A refusal is the fault
  FAILED with the reason; SHUTDOWN_STATE while shutting down or reloading.
- ``runtime.getDaemonInfo()``: {generation, version, pid, started}: ``generation`` counts
  the live upgrades behind this daemon, so a client sees when the new one answers.
"""

from __future__ import annotations

from supervisor_runtime.static_types import TYPE_CHECKING

from ..states import SupervisorState
from .faults import FaultCode, RPCError

if TYPE_CHECKING:
    from typing import Any

    from ..supervisor import Supervisor
    from .xmlrpc import Registry


class UpgradeNamespace:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def register(self, registry: Registry) -> None:
        # Listed where the daemon serves runtime.* anyway (a config using our keys); with a
        # stock config, system.listMethods stays stock's and these are only callable.
        listed = any(name.startswith("runtime.") for name in registry.methods)
        registry.add("runtime.liveUpgrade", self.liveUpgrade, ("struct",), listed=listed)
        registry.add("runtime.getDaemonInfo", self.getDaemonInfo, ("struct",), listed=listed)

    def liveUpgrade(self) -> dict[str, Any]:
        """Re-execute supervisord in place, every child kept running; the daemon's info
        before the upgrade (watch getDaemonInfo's generation grow)."""
        from ..upgrade.preflight import UpgradeRefused

        upgrader = self.supervisor.upgrader
        if self.supervisor.mood < SupervisorState.RUNNING:
            raise RPCError(FaultCode.SHUTDOWN_STATE)
        if upgrader is None:
            raise RPCError(FaultCode.FAILED, "live upgrade is not available in this daemon")
        try:
            return upgrader.request("an XML-RPC client")
        except UpgradeRefused as refusal:
            raise RPCError(FaultCode.FAILED, f"upgrade refused: {refusal}") from None

    def getDaemonInfo(self) -> dict[str, Any]:
        """{generation, version, pid, started} of the running daemon."""
        upgrader = self.supervisor.upgrader
        if upgrader is None:
            raise RPCError(FaultCode.FAILED, "no daemon information")
        return upgrader.info()
