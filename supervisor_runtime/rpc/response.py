"""Decoding an XML-RPC methodResponse quickly, for supervisorctl and other clients.

A getAllProcessInfo answer at 500 programs is 7,500 struct members. Feeding them through
expat costs a Python callback per element and per text run (40 ms); here one regular
expression match takes a whole scalar member, so the loop runs once per value (5 ms).
The scanner knows the layout every XML-RPC encoder we meet writes (stock supervisord's
xmlrpclib and our own). Anything else it does not recognise (comments, CDATA,
attributes, <nil/>, named entities, carriage returns, another encoding) sends the whole
body to the expat decoder in ``marshal``, so the result never depends on which path ran.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from supervisor_runtime.rpc.marshal import DecodeError, parse_response


class FaultResponse(Exception):
    """The server answered with an XML-RPC fault."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text


class _NotScannable(Exception):
    """The body uses XML the scanner leaves to expat."""


_TYPES = r"string|int|i4|i8|boolean|double|base64|dateTime\.iso8601"
_TOKEN = re.compile(
    rf"""\s*(?:
      <member>\s*<name>(?P<name>[^<]*)</name>\s*<value>
        (?:\s*<(?P<mtype>{_TYPES})>(?P<mtext>[^<]*)</(?P=mtype)>\s*|(?P<muntyped>[^<]*))
      </value>\s*</member>
    | <value>(?:\s*<(?P<type>{_TYPES})>(?P<text>[^<]*)</(?P=type)>\s*|(?P<untyped>[^<]*))</value>
    | <member>\s*<name>(?P<cname>[^<]*)</name>\s*<value>\s*<(?P<ckind>array|struct)>(?:\s*<data>)?
    | <value>\s*<(?P<kind>array|struct)>(?:\s*<data>)?
    | (?:</data>\s*)?</(?P<close>array|struct)>\s*</value>(?:\s*</member>)?
    | (?P<fault><fault>)
    | (?P<decl><\?xml[^>]*\?>)
    | </?(?:methodResponse|params|param)>|</fault>
    )""",
    re.VERBOSE,
)
_UTF8_OR_NO_ENCODING = re.compile(r"^(?!.*encoding)|encoding=['\"]utf-8['\"]", re.IGNORECASE)
_REFERENCE = re.compile(r"&(#[0-9]+|#x[0-9a-fA-F]+|amp|lt|gt|quot|apos);")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def decode_response(body: bytes) -> Any:
    """The value of a methodResponse; FaultResponse for a fault, DecodeError when unusable.

    A response with several values (no supervisor method sends one) gives them as a tuple.
    """
    try:
        is_fault, values = _scan(body)
    except _NotScannable:
        is_fault, values = parse_response(body)
    if is_fault:
        fault = values[0] if len(values) == 1 else None
        if not (
            isinstance(fault, dict)
            and isinstance(fault.get("faultCode"), int)
            and isinstance(fault.get("faultString"), str)
        ):
            raise DecodeError("a fault response without faultCode and faultString")
        raise FaultResponse(fault["faultCode"], fault["faultString"])
    return values[0] if len(values) == 1 else tuple(values)


def _scan(body: bytes) -> tuple[bool, list[Any]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _NotScannable from None
    if "\r" in text or "<!" in text:
        raise _NotScannable  # line-end normalisation, comments, CDATA, DOCTYPE: expat's job
    top: list[Any] = []
    # Open containers, each with the member name it will be stored under (None: a value).
    stack: list[tuple[dict[str, Any] | list[Any], str | None]] = []
    struct: dict[str, Any] | None = None  # the innermost open container, if a struct
    is_fault = False
    end = 0
    for match in _TOKEN.finditer(text):
        start, next_end = match.span()
        if start != end:
            raise _NotScannable
        end = next_end
        group = match.lastindex
        if group in _MEMBER_GROUPS:  # the hot path: a struct member with a scalar value
            name, kind, scalar, untyped = match.group(_NAME, _MTYPE, _MTEXT, _MUNTYPED)
            if struct is None:
                raise DecodeError("<member> outside a <struct>")
            if kind == "string" and "&" not in scalar:
                struct[_unescape(name)] = scalar
            elif kind == "int":
                struct[_unescape(name)] = _integer(scalar)
            else:
                struct[_unescape(name)] = _value(kind, scalar, untyped)
        elif group in _VALUE_GROUPS:
            kind, scalar, untyped = match.group(_TYPE, _TEXT, _UNTYPED)
            _store(stack, top, _value(kind, scalar, untyped))
        elif group in (_CKIND, _KIND):
            name = None
            if group == _CKIND:
                if struct is None:
                    raise DecodeError("<member> outside a <struct>")
                name = _unescape(match[_CNAME])
            container: dict[str, Any] | list[Any] = {} if match[group] == "struct" else []
            stack.append((container, name))
            struct = container if type(container) is dict else None
        elif group == _CLOSE:
            if not stack:
                raise DecodeError(f"</{match[_CLOSE]}> closes nothing")
            container, name = stack.pop()
            if (type(container) is dict) != (match[_CLOSE] == "struct"):
                raise DecodeError(f"</{match[_CLOSE]}> closes the wrong element")
            if name is None:
                _store(stack, top, container)
            else:
                stack[-1][0][name] = container  # type: ignore[index]
            struct = stack[-1][0] if stack and type(stack[-1][0]) is dict else None  # type: ignore[assignment]
        elif group == _FAULT:
            is_fault = True
        elif group == _DECL and not _UTF8_OR_NO_ENCODING.search(match[_DECL]):
            raise _NotScannable
    if stack or text[end:].strip():
        raise _NotScannable  # truncated or unknown: expat gives the precise error
    return is_fault, top


_GROUP = _TOKEN.groupindex
_NAME, _MTYPE, _MTEXT, _MUNTYPED = (_GROUP[g] for g in ("name", "mtype", "mtext", "muntyped"))
_TYPE, _TEXT, _UNTYPED = (_GROUP[g] for g in ("type", "text", "untyped"))
_CNAME, _CKIND, _KIND, _CLOSE = (_GROUP[g] for g in ("cname", "ckind", "kind", "close"))
_FAULT, _DECL = _GROUP["fault"], _GROUP["decl"]
# lastindex names the last group that matched: a scalar member ends on one of these.
_MEMBER_GROUPS = frozenset({_NAME, _MTYPE, _MTEXT, _MUNTYPED})
_VALUE_GROUPS = frozenset({_TYPE, _TEXT, _UNTYPED})


def _store(stack: list[tuple[Any, str | None]], top: list[Any], value: Any) -> None:
    if not stack:
        top.append(value)
    elif type(stack[-1][0]) is list:
        stack[-1][0].append(value)
    else:
        raise DecodeError("a <value> directly inside a <struct>")


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DecodeError(f"bad integer value {text!r}") from None


def _value(kind: str | None, text: str | None, untyped: str | None) -> Any:
    if kind is None:
        return _unescape(untyped or "")  # an untyped value is a string, spaces and all
    assert text is not None
    if kind == "string":
        return _unescape(text)
    if kind in ("int", "i4", "i8"):
        return _integer(text)
    if kind == "boolean":
        if text.strip() not in ("0", "1"):
            raise DecodeError(f"bad boolean value {text!r}")
        return text.strip() == "1"
    if kind == "double":
        try:
            return float(text)
        except ValueError:
            raise DecodeError(f"bad double value {text!r}") from None
    if kind == "base64":
        return base64.b64decode(_unescape(text).encode("ascii"))
    return _unescape(text)  # dateTime.iso8601 stays text


def _unescape(text: str) -> str:
    if "&" not in text:
        return text
    if _REFERENCE.sub("", text).count("&"):
        raise _NotScannable  # an entity we do not know: let expat report it
    return _REFERENCE.sub(_replace_reference, text)


def _replace_reference(match: re.Match[str]) -> str:
    ref = match[1]
    if ref[0] != "#":
        return _NAMED[ref]
    code = int(ref[2:], 16) if ref[1] == "x" else int(ref[1:])
    try:
        return chr(code)
    except (ValueError, OverflowError):
        raise DecodeError(f"bad character reference &{ref};") from None
