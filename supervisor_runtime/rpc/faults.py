"""supervisord's XML-RPC fault codes (a leaf module: wire format, never renumber)."""

from __future__ import annotations

from enum import IntEnum


class FaultCode(IntEnum):
    """The faultCode numbers (``xmlrpc.client.Fault`` is the exception that carries one)."""

    UNKNOWN_METHOD = 1
    INCORRECT_PARAMETERS = 2
    BAD_ARGUMENTS = 3
    SIGNATURE_UNSUPPORTED = 4
    SHUTDOWN_STATE = 6
    BAD_NAME = 10
    BAD_SIGNAL = 11
    NO_FILE = 20
    NOT_EXECUTABLE = 21
    FAILED = 30
    ABNORMAL_TERMINATION = 40
    SPAWN_ERROR = 50
    ALREADY_STARTED = 60
    NOT_RUNNING = 70
    SUCCESS = 80
    ALREADY_ADDED = 90
    STILL_RUNNING = 91
    CANT_REREAD = 92


def fault_name(code: int) -> str:
    """The symbolic name of ``code``; supervisord says UNKNOWN for codes it does not know."""
    try:
        return FaultCode(code).name
    except ValueError:
        return "UNKNOWN"


class RPCError(Exception):
    """A fault answered to the caller: faultString is ``NAME`` or ``NAME: extra``."""

    def __init__(self, code: int, extra: object = None) -> None:
        self.code = int(code)
        self.text = fault_name(code) if extra is None else f"{fault_name(code)}: {extra}"
        super().__init__(self.text)

    def as_struct(self) -> dict[str, object]:
        """The form system.multicall uses for a failed call."""
        return {"faultCode": self.code, "faultString": self.text}
