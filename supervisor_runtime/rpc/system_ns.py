"""The ``system.*`` namespace: introspection and multicall."""

from __future__ import annotations

from supervisor_runtime.static_types import TYPE_CHECKING

from .faults import FaultCode, RPCError
from .xmlrpc import Deferred, Registry

if TYPE_CHECKING:
    from typing import Any


def unexpected_failure(error: BaseException) -> dict[str, Any]:
    """How supervisord reports a method that crashed inside a multicall."""
    return {
        "faultCode": int(FaultCode.FAILED),
        "faultString": f"FAILED: {type(error)}:{error}",
    }


class SystemNamespace:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def register(self) -> None:
        add = self.registry.add
        add(
            "system.listMethods",
            self.listMethods,
            ("array",),
            "List the names of every method this server answers.",
        )
        add(
            "system.methodHelp",
            self.methodHelp,
            ("string", "string"),
            "The documentation of the named method.",
        )
        add(
            "system.methodSignature",
            self.methodSignature,
            ("array", "string"),
            "[return type, parameter types...] of the named method.",
        )
        add(
            "system.multicall",
            self.multicall,
            ("array", "array"),
            "Run several calls, given as structs {'methodName': name, 'params': [...]}, in "
            "order; each result is the call's value or a {'faultCode', 'faultString'} struct.",
        )

    def listMethods(self) -> list[str]:
        return self.registry.names()

    def methodHelp(self, name: str) -> str:
        method = self.registry.methods.get(name) if isinstance(name, str) else None
        if method is None:
            raise RPCError(FaultCode.SIGNATURE_UNSUPPORTED)
        return method.help

    def methodSignature(self, name: str) -> list[str]:
        method = self.registry.methods.get(name) if isinstance(name, str) else None
        if method is None:
            raise RPCError(FaultCode.SIGNATURE_UNSUPPORTED)
        return list(method.signature)

    def multicall(self, calls: list[Any]) -> list[Any] | Deferred:
        """Calls run one after another; a call that waits holds back the ones after it."""
        if not isinstance(calls, list):
            raise RPCError(FaultCode.INCORRECT_PARAMETERS)
        remaining = list(calls)
        results: list[Any] = []
        waiting: list[Deferred] = []  # the call being waited for, if any
        outer = Deferred()

        def run_until_waiting() -> bool:
            """True when every call is answered; False when one is waiting."""
            while remaining:
                value = self._one(remaining.pop(0))
                if isinstance(value, Deferred):
                    if not value.done:
                        waiting.append(value)
                        value.add_done(resumed)
                        return False
                    value = value.error.as_struct() if value.error else value.value
                results.append(value)
            return True

        def resumed(deferred: Deferred) -> None:
            waiting.clear()
            results.append(deferred.error.as_struct() if deferred.error else deferred.value)
            if run_until_waiting():
                outer.resolve(results)

        def cancelled() -> None:
            for deferred in waiting:
                deferred.cancel()

        if run_until_waiting():
            return results
        outer.on_cancel(cancelled)
        return outer

    def _one(self, call: Any) -> Any:
        try:
            if not isinstance(call, dict):
                raise AttributeError(f"{type(call).__name__!r} object has no attribute 'get'")
            name = call.get("methodName")
            params = call.get("params", [])
            if name is None:
                raise RPCError(FaultCode.INCORRECT_PARAMETERS, "No methodName")
            if name == "system.multicall":
                raise RPCError(
                    FaultCode.INCORRECT_PARAMETERS, "Recursive system.multicall forbidden"
                )
            if not isinstance(params, (list, tuple)):
                raise RPCError(FaultCode.INCORRECT_PARAMETERS)
            return self.registry.call(name, params)
        except RPCError as error:
            return error.as_struct()
        except Exception as error:
            return unexpected_failure(error)
