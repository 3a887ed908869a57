"""The small stand-ins that keep heavy standard-library modules out of the daemon
(docs/ARCHITECTURE.md, "What the daemon imports at boot"): each must answer exactly as the
function it replaces. tests/e2e/test_boot_imports.py checks what a booted daemon imports."""

from __future__ import annotations

import binascii
import datetime
import glob
import inspect
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from supervisor_runtime.config.datatypes import signal_number
from supervisor_runtime.config.include_glob import include_glob
from supervisor_runtime.daemon import soft_limits_suffice
from supervisor_runtime.rpc.http import accept, unquote
from supervisor_runtime.rpc.process_info import uptime
from supervisor_runtime.rpc.xmlrpc import Registry, accepts
from supervisor_runtime.signals import signame
from supervisor_runtime.static_types import NamedTuple


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


GLOB_FILES = ("a.conf", "b.conf", "c.ini", ".hidden.conf", "sub/d.conf", "sub/.e.conf", "[x].conf")
GLOB_PATTERNS = (
    "*.conf", "*", ".*", "?.conf", "[ab].conf", "[!a].conf", "a.conf", "missing.conf",
    "nodir/*.conf", "*/d.conf", "s*/*.conf", "sub/", "sub/*", "[[]x].conf", "*.nothing",
)  # fmt: skip


@pytest.mark.parametrize("pattern", GLOB_PATTERNS)
def test_include_glob_is_glob(
    tmp_path: Path, pattern: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in GLOB_FILES:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("")
    assert include_glob(f"{tmp_path}/{pattern}") == glob.glob(f"{tmp_path}/{pattern}")
    monkeypatch.chdir(tmp_path)  # a relative pattern lists the working directory
    assert include_glob(pattern) == glob.glob(pattern)


def test_signal_names_are_the_signal_modules() -> None:
    import signal

    by_module = {
        int(value): name
        for name, value in vars(signal).items()
        if name.startswith("SIG") and not name.startswith("SIG_") and isinstance(value, int)
    }
    assert {n: signame(n) for n in by_module} == by_module
    assert signame(99) == "signal 99"
    for text in ("TERM", "sigkill", "SIGHUP", "usr1", "15", "0"):
        name = text.upper() if text.upper().startswith("SIG") else "SIG" + text.upper()
        expected = int(text) if text.isdigit() else int(getattr(signal, name))
        assert signal_number(text) == expected


@pytest.mark.parametrize(
    "argv",
    [["-n", "-c", "x.conf"], ["--bogus"], ["-c"], ["--configuration"], ["--nodaemon=1"], ["-z"]],
)
def test_getopt_without_gettext_answers_as_getopt(argv: list[str]) -> None:
    import getopt

    from supervisor_runtime.cli.supervisord import LONG_OPTIONS, SHORT_OPTIONS, _getopt

    def parse(module: Any) -> object:
        try:
            return module.getopt(argv, SHORT_OPTIONS, LONG_OPTIONS)
        except module.GetoptError as error:
            return str(error)

    assert parse(_getopt()) == parse(getopt)


def test_static_named_tuple_is_typing_named_tuple() -> None:
    import typing

    def make(base: Any) -> Any:
        class Point(base):
            """A point."""

            x: int
            y: int = 2

            def total(self) -> int:
                return self.x + self.y

        return Point

    ours, theirs = make(NamedTuple), make(typing.NamedTuple)
    for attribute in ("__name__", "__qualname__", "__doc__", "_fields", "_field_defaults"):
        assert getattr(ours, attribute) == getattr(theirs, attribute)
    assert ours.__mro__[1:] == theirs.__mro__[1:] == (tuple, object)
    point = ours(1)
    assert (point, point.total(), repr(point)) == ((1, 2), 3, "Point(x=1, y=2)")
    assert point._replace(y=5) == (1, 5) and point._asdict() == {"x": 1, "y": 2}
    with pytest.raises(TypeError):

        class Bad(NamedTuple):
            x: int = 0
            y: int


def test_soft_limits_are_read_as_resource_reads_them(tmp_path: Path) -> None:
    import resource

    rows = {"Max open files": resource.RLIMIT_NOFILE, "Max processes": resource.RLIMIT_NPROC}
    for label, limit in rows.items():
        soft = resource.getrlimit(limit)[0]
        if soft == resource.RLIM_INFINITY:
            assert soft_limits_suffice({label: 2**62})
            continue
        assert soft_limits_suffice({label: soft})
        assert not soft_limits_suffice({label: soft + 1})
    limits = tmp_path / "limits"
    limits.write_text(
        "Limit                     Soft Limit           Hard Limit           Units\n"
        "Max processes             unlimited            unlimited            processes\n"
        "Max open files            1024                 4096                 files\n"
    )
    assert soft_limits_suffice({"Max processes": 10**9, "Max open files": 1024}, str(limits))
    assert not soft_limits_suffice({"Max open files": 1025}, str(limits))
    assert not soft_limits_suffice({"Max locked memory": 1}, str(limits))  # not found
    assert not soft_limits_suffice({"Max open files": 1}, str(tmp_path / "missing"))


def test_accept_answers_as_the_socket_modules() -> None:
    import _socket
    import socket

    listener = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    try:
        connection, address = accept(listener)
        assert (connection.family, connection.type) == (listener.family, listener.type)
        assert address == client.getsockname()
        client.sendall(b"ping")
        assert connection.recv(4) == b"ping"
        connection.close()
    finally:
        client.close()
        listener.close()
