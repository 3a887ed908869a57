"""The small stand-ins that keep heavy standard-library modules out of the daemon
(docs/ARCHITECTURE.md, "What the daemon imports at boot"): each must answer exactly as the
function it replaces. tests/e2e/test_boot_imports.py checks what a booted daemon imports."""

from __future__ import annotations

import binascii
import datetime
import inspect
import urllib.parse

import pytest

from supervisor_runtime.rpc.http import unquote
from supervisor_runtime.rpc.process_info import uptime
from supervisor_runtime.rpc.xmlrpc import Registry, accepts


class Sample:
    def none(self) -> None: ...
    def two(self, a: int, b: int) -> None: ...
    def optional(self, a: int, b: int = 1, c: int = 2) -> None: ...
    def star(self, a: int, *rest: int) -> None: ...
    def keyword_only(self, a: int, *, b: int) -> None: ...
    def keyword_default(self, a: int, *, b: int = 0) -> None: ...
    @staticmethod
    def static(a: int) -> None: ...
    @classmethod
    def klass(cls, a: int, b: int = 0) -> None: ...


def plain(a: int, b: int = 0) -> None: ...


CALLABLES = [
    *(getattr(Sample(), name) for name in vars(Sample) if not name.startswith("_")),
    plain,
    lambda: None,
    lambda *args: None,
    len,  # no code object: inspect is asked
]


@pytest.mark.parametrize("func", CALLABLES, ids=lambda f: getattr(f, "__name__", "?"))
def test_accepts_agrees_with_inspect_bind(func: object) -> None:
    for count in range(6):
        try:
            inspect.signature(func).bind(*range(count))  # type: ignore[arg-type]
            expected = True
        except TypeError:
            expected = False
        assert accepts(func, count) is expected, (func, count)  # type: ignore[arg-type]


def test_registry_call_refuses_wrong_arity_with_incorrect_parameters() -> None:
    from supervisor_runtime.rpc.faults import FaultCode, RPCError

    registry = Registry()
    registry.add("x.two", Sample().two, ("int", "int", "int"))
    with pytest.raises(RPCError) as caught:
        registry.call("x.two", [1])
    assert caught.value.code == FaultCode.INCORRECT_PARAMETERS
    assert registry.call("x.two", [1, 2]) is None


@pytest.mark.parametrize(
    "text",
    ["/plain", "/a%20b", "/%e2%82%ac", "/%E2%82", "/%zz%4", "/%", "/x%2Fy%41", "%ff%fe", "/é%41"],
)
def test_unquote_is_urllib_unquote(text: str) -> None:
    assert unquote(text) == urllib.parse.unquote(text)


@pytest.mark.parametrize("seconds", [0, 59, 61, 3599, 3600, 86399, 86400, 90061, 2 * 86400 + 5])
def test_uptime_is_timedelta_text(seconds: int) -> None:
    assert uptime(seconds) == str(datetime.timedelta(seconds=seconds))


def test_binascii_base64_is_base64_module() -> None:
    import base64

    for data in (b"", b"a", b"user:pass", bytes(range(256))):
        assert binascii.b2a_base64(data, newline=False) == base64.b64encode(data)
        encoded = base64.b64encode(data).decode()
        assert binascii.a2b_base64(encoded, strict_mode=True) == data
