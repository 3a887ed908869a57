"""XML-RPC encoding and decoding, for the daemon and for supervisorctl.

The standard library's ``xmlrpc.client`` would do the job, but importing it pulls in
``http.client``, ``email`` and ``ssl``: about 7 MiB of resident memory in every tenant's
supervisord and 20 ms of start-up in every ``supervisorctl`` run, and its decoder takes
40 ms for a getAllProcessInfo answer at 500 programs. The daemon decodes a methodCall with
expat and encodes a methodResponse or a fault; the client encodes a methodCall and decodes
a methodResponse (see ``decode_response``). Values map as in
``xmlrpc.client.loads(use_builtin_types=True)``, except that dateTime stays text.
"""

from __future__ import annotations

import binascii  # base64's own codec: the base64 module is memory the daemon need not keep
import pyexpat as expat  # what xml.parsers.expat re-exports, without its packages
from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

MAX_DEPTH = 64  # arrays/structs nested deeper than this are refused


class DecodeError(ValueError):
    """The body is not a methodCall (or, for clients, a methodResponse) we can decode."""


def _boolean(text: str) -> bool:
    if text.strip() in ("0", "1"):
        return text.strip() == "1"
    raise DecodeError(f"bad boolean value {text!r}")


def _integer(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise DecodeError(f"bad integer value {text!r}") from None


def _double(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise DecodeError(f"bad double value {text!r}") from None


def _base64(text: str) -> bytes:
    try:
        return binascii.a2b_base64(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise DecodeError("bad base64 value") from None


_SCALARS: dict[str, Callable[[str], Any]] = {
    "string": str,
    "int": _integer,
    "i4": _integer,
    "i8": _integer,
    "boolean": _boolean,
    "double": _double,
    "base64": _base64,
    "dateTime.iso8601": str,  # kept as text: no supervisor method takes a date
}
_CALL_STRUCTURE = frozenset(
    {"methodCall", "methodName", "params", "param", "data", "member", "name"}
)
_RESPONSE_STRUCTURE = frozenset(
    {"methodResponse", "params", "param", "fault", "data", "member", "name"}
)


class _Array:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def add(self, value: Any) -> None:
        self.items.append(value)

    def result(self) -> list[Any]:
        return self.items


class _Struct:
    def __init__(self) -> None:
        self.members: dict[str, Any] = {}
        self.name: str | None = None

    def add(self, value: Any) -> None:
        if self.name is None:
            raise DecodeError("struct member without a <name>")
        self.members[self.name] = value
        self.name = None

    def result(self) -> dict[str, Any]:
        return self.members


class _Decoder:
    """Expat callbacks that rebuild the values of a methodCall or a methodResponse."""

    def __init__(self, structure: frozenset[str]) -> None:
        self.structure = structure
        self.method: str | None = None
        self.fault = False
        self.params: list[Any] = []
        self._containers: list[_Array | _Struct] = []
        self._typed: list[bool] = []  # per open <value>: has a typed child element
        self._text: list[str] = []

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self._text = []
        if tag == "value":
            self._typed.append(False)
        elif tag == "array":
            self._open(_Array())
        elif tag == "struct":
            self._open(_Struct())
        elif tag in _SCALARS or tag == "nil":
            if not self._typed:
                raise DecodeError(f"<{tag}> outside a <value>")
            self._typed[-1] = True
        elif tag not in self.structure:
            raise DecodeError(f"unexpected element <{tag}>")
        elif tag == "fault":
            self.fault = True

    def _open(self, container: _Array | _Struct) -> None:
        if not self._typed or len(self._containers) >= MAX_DEPTH:
            raise DecodeError("badly placed or too deeply nested array/struct")
        self._typed[-1] = True
        self._containers.append(container)

    def text(self, data: str) -> None:
        self._text.append(data)

    def end(self, tag: str) -> None:
        if tag in _SCALARS:
            self._emit(_SCALARS[tag]("".join(self._text)))
        elif tag == "nil":
            self._emit(None)
        elif tag in ("array", "struct"):
            self._emit(self._containers.pop().result())
        elif tag == "name":
            if not self._containers or not isinstance(self._containers[-1], _Struct):
                raise DecodeError("<name> outside a <struct>")
            self._containers[-1].name = "".join(self._text)
        elif tag == "value":
            if not self._typed.pop():
                self._emit("".join(self._text))  # an untyped value is a string
        elif tag == "methodName":
            self.method = "".join(self._text).strip()
        self._text = []

    def _emit(self, value: Any) -> None:
        if self._containers:
            self._containers[-1].add(value)
        else:
            self.params.append(value)


def _parse(body: bytes, structure: frozenset[str]) -> _Decoder:
    decoder = _Decoder(structure)
    parser = expat.ParserCreate()
    parser.StartElementHandler = decoder.start
    parser.EndElementHandler = decoder.end
    parser.CharacterDataHandler = decoder.text
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    try:
        parser.Parse(body, True)
    except expat.ExpatError as error:
        raise DecodeError(f"not well-formed XML: {error}") from None
    return decoder


def decode_call(body: bytes) -> tuple[str, tuple[Any, ...]]:
    """(method name, params) of an XML-RPC methodCall; DecodeError when unusable."""
    decoder = _parse(body, _CALL_STRUCTURE)
    if not decoder.method:
        raise DecodeError("no methodName")
    return decoder.method, tuple(decoder.params)


def _refuse_doctype(*args: object) -> None:
    raise DecodeError("DOCTYPE and ENTITY declarations are refused")


# -- encoding ---------------------------------------------------------------------------


def _escape(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _scalar(value: Any) -> str | None:
    """The <value> element of a str/int/bool, or None for anything else.

    Scalars are encoded inline (no recursion): getAllProcessInfo at 500 processes is
    7,500 of them, and this loop is most of that call's cost in the daemon.
    """
    kind = type(value)
    if kind is str:
        return f"<value><string>{_escape(value)}</string></value>\n"
    if kind is int:
        if not -(2**31) <= value < 2**31:
            raise OverflowError("int exceeds XML-RPC limits")
        return f"<value><int>{value}</int></value>\n"
    if kind is bool:
        return f"<value><boolean>{int(value)}</boolean></value>\n"
    return None


def _encode(value: Any, out: list[str]) -> None:
    scalar = _scalar(value)
    if scalar is not None:
        out.append(scalar)
        return
    kind = type(value)
    if kind is dict:
        out.append("<value><struct>\n")
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("dictionary key must be string")
            out.append(f"<member>\n<name>{_escape(key)}</name>\n")
            scalar = _scalar(item)
            if scalar is None:
                _encode(item, out)
            else:
                out.append(scalar)
            out.append("</member>\n")
        out.append("</struct></value>\n")
    elif kind in (list, tuple):
        out.append("<value><array><data>\n")
        for item in value:
            scalar = _scalar(item)
            if scalar is None:
                _encode(item, out)
            else:
                out.append(scalar)
        out.append("</data></array></value>\n")
    elif kind is float:
        out.append(f"<value><double>{value!r}</double></value>\n")
    elif kind in (bytes, bytearray):
        encoded = binascii.b2a_base64(value, newline=False).decode()
        out.append(f"<value><base64>\n{encoded}\n</base64></value>\n")
    elif value is None:
        raise TypeError("cannot marshal None unless allow_none is enabled")
    elif isinstance(value, str):
        _encode(str(value), out)
    elif isinstance(value, int):
        _encode(int(value), out)
    else:
        raise TypeError(f"cannot marshal {kind} objects")


def encode_response(value: Any) -> bytes:
    out = ["<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n"]
    _encode(value, out)
    out.append("</param>\n</params>\n</methodResponse>\n")
    return "".join(out).encode("utf-8")


def encode_fault(code: int, text: str) -> bytes:
    out = ["<?xml version='1.0'?>\n<methodResponse>\n<fault>\n"]
    _encode({"faultCode": code, "faultString": text}, out)
    out.append("</fault>\n</methodResponse>\n")
    return "".join(out).encode("utf-8")


def encode_call(method: str, params: tuple[Any, ...]) -> bytes:
    out = [f"<?xml version='1.0'?>\n<methodCall>\n<methodName>{_escape(method)}</methodName>\n"]
    out.append("<params>\n")
    for param in params:
        out.append("<param>\n")
        _encode(param, out)
        out.append("</param>\n")
    out.append("</params>\n</methodCall>\n")
    return "".join(out).encode("utf-8")


def parse_response(body: bytes) -> tuple[bool, list[Any]]:
    """(is it a fault, its values) of a methodResponse, read with expat."""
    decoder = _parse(body, _RESPONSE_STRUCTURE)
    return decoder.fault, decoder.params
