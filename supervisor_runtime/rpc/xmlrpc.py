"""XML-RPC marshalling and dispatch: an explicit registry, deferred answers.

A method is found by its exact ``namespace.method`` name in the registry and
nowhere else: no attribute lookup on objects, so a name such as
``supervisor.supervisord.options.execve`` (CVE-2017-11610) can never reach
anything. A method answers with a value, raises ``RPCError`` (a fault), or
returns a ``Deferred`` that the daemon resolves later from state-change events
(e.g. ``startProcess`` answers once the process is RUNNING): nothing blocks
the event loop.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING, NamedTuple

from .faults import FaultCode, RPCError
from .marshal import DecodeError, decode_call, encode_fault, encode_response

if TYPE_CHECKING:
    from typing import Any

# DOCTYPE and ENTITY declarations have no place in an XML-RPC call; refusing them
# outright rules out entity expansion attacks whatever the XML parser does.
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class BadRequest(Exception):
    """The request body is not a usable XML-RPC call (answered with HTTP 400)."""


class Deferred:
    """An answer that comes later: resolved with a value or failed with an RPCError."""

    def __init__(self) -> None:
        self.done = False
        self.value: Any = None
        self.error: RPCError | None = None
        self._callbacks: list[Callable[[Deferred], None]] = []
        self._cancel_callbacks: list[Callable[[], None]] = []

    def add_done(self, callback: Callable[[Deferred], None]) -> None:
        if self.done:
            callback(self)
        else:
            self._callbacks.append(callback)

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Cleanup to run when nobody waits any longer (the client went away)."""
        self._cancel_callbacks.append(callback)

    def resolve(self, value: Any) -> None:
        self._finish(value, None)

    def fail(self, error: RPCError) -> None:
        self._finish(None, error)

    def _finish(self, value: Any, error: RPCError | None) -> None:
        if self.done:
            return
        self.done = True
        self.value, self.error = value, error
        self._cancel_callbacks.clear()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def cancel(self) -> None:
        if self.done:
            return
        self.done = True
        self._callbacks.clear()
        callbacks, self._cancel_callbacks = self._cancel_callbacks, []
        for callback in callbacks:
            callback()


class Method(NamedTuple):
    name: str
    func: Callable[..., Any]
    signature: tuple[str, ...]  # (return type, parameter types...)
    help: str


_VARARGS = 0x04  # inspect.CO_VARARGS


def accepts(func: Callable[..., Any], count: int) -> bool:
    """Whether ``func(*count positional arguments)`` binds, as
    ``inspect.signature(func).bind`` says, read from the code object: importing
    ``inspect`` (with ``ast``, ``dis`` and ``tokenize``) costs every daemon 1 MiB of
    private memory (docs/ARCHITECTURE.md, "What the daemon imports")."""
    target = func.__func__ if isinstance(func, types.MethodType) else func
    code = getattr(target, "__code__", None)
    if code is None:  # not a Python function: ask inspect
        import inspect

        try:
            inspect.signature(func).bind(*range(count))
        except TypeError:
            return False
        return True
    kwdefaults = target.__kwdefaults__ or {}
    if any(
        name not in kwdefaults
        for name in code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
    ):
        return False  # a required keyword-only parameter: never bound by position
    most = code.co_argcount - (1 if target is not func else 0)
    least = most - len(target.__defaults__ or ())
    return count >= least and (count <= most or bool(code.co_flags & _VARARGS))


class Registry:
    """Every callable method, by its full dotted name."""

    def __init__(self) -> None:
        self.methods: dict[str, Method] = {}
        # Callable but left out of names() (system.listMethods): ours that every daemon
        # serves, kept out of sight where the config is stock's (see upgrade_ns).
        self.unlisted: set[str] = set()

    def add(
        self,
        name: str,
        func: Callable[..., Any],
        signature: tuple[str, ...],
        help: str = "",
        listed: bool = True,
    ) -> None:
        if name.count(".") != 1:
            raise ValueError(f"RPC method name {name!r} must be namespace.method")
        self.methods[name] = Method(name, func, signature, help or (func.__doc__ or ""))
        if not listed:
            self.unlisted.add(name)

    def names(self) -> list[str]:
        return sorted(name for name in self.methods if name not in self.unlisted)

    def lookup(self, name: object) -> Method:
        # Exactly two dotted parts, and nothing private, as supervisord requires.
        if not isinstance(name, str) or name.count(".") != 1:
            raise RPCError(FaultCode.UNKNOWN_METHOD)
        if name.split(".", 1)[1].startswith("_"):
            raise RPCError(FaultCode.UNKNOWN_METHOD)
        method = self.methods.get(name)
        if method is None:
            raise RPCError(FaultCode.UNKNOWN_METHOD)
        return method

    def call(self, name: object, params: tuple[Any, ...] | list[Any]) -> Any:
        """Run a method: its value, a Deferred, or RPCError. Other exceptions propagate."""
        method = self.lookup(name)
        if not accepts(method.func, len(params)):
            raise RPCError(FaultCode.INCORRECT_PARAMETERS)
        try:
            return method.func(*params)
        except TypeError:
            # supervisord reports any TypeError (e.g. int() of a list) this way too.
            raise RPCError(FaultCode.INCORRECT_PARAMETERS) from None


def parse_call(body: bytes) -> tuple[str, tuple[Any, ...]]:
    """(method name, params) of a methodCall document; BadRequest when unusable."""
    if _DECLARATION.search(body):
        raise BadRequest("DOCTYPE/ENTITY declarations are refused")
    try:
        method, params = decode_call(body)
    except (DecodeError, ValueError) as error:
        raise BadRequest(f"unmarshallable: {error}") from None
    return method, params


def marshal_value(value: Any) -> bytes:
    """A methodResponse body. None is not marshallable, as with supervisord (no allow_none)."""
    return encode_response(value)


def marshal_fault(error: RPCError) -> bytes:
    return encode_fault(error.code, error.text)
