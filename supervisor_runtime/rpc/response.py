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

from supervisor_runtime.rpc.marshal import MAX_DEPTH, DecodeError, parse_response


class FaultResponse(Exception):
    """The server answered with an XML-RPC fault."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text


class _NotScannable(Exception):
    """The body uses XML the scanner leaves to expat."""


_TYPES = r"string|int|i4|i8|boolean|double|base64|dateTime\.iso8601"
# A run of text up to the next tag. Characters XML forbids (C0 controls but tab and
# newline, U+FFFE, U+FFFF) end it short, so the token fails and expat refuses the body.
_TEXT_RUN = r"[^<\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]*+"
# XML's blanks (carriage returns never reach the scanner), matched possessively: a failed
# match never retries shorter runs, so a body full of spaces costs linear time.
_WS = r"[ \t\n]*+"
_TOKEN = re.compile(
    rf"""{_WS}(?:
      <member>{_WS}<name>(?P<name>{_TEXT_RUN})</name>{_WS}<value>
        (?:{_WS}<(?P<mtype>{_TYPES})>(?P<mtext>{_TEXT_RUN})</(?P=mtype)>{_WS}|(?P<muntyped>{_TEXT_RUN}))
      </value>{_WS}</member>
    | <value>
        (?:{_WS}<(?P<type>{_TYPES})>(?P<text>{_TEXT_RUN})</(?P=type)>{_WS}|(?P<untyped>{_TEXT_RUN}))
      </value>
    | <member>{_WS}<name>(?P<cname>{_TEXT_RUN})</name>{_WS}<value>
        {_WS}<(?P<ckind>array|struct)>(?P<cdata>{_WS}<data>)?
    | <value>{_WS}<(?P<kind>array|struct)>(?P<kdata>{_WS}<data>)?
    | (?P<enddata></data>{_WS})?</(?P<close>array|struct)>{_WS}</value>
        (?P<endmember>{_WS}</member>)?
    | (?P<outer></?(?:methodResponse|params|param|fault)>)
    | (?P<decl><\?xml[^?>]*+\?>)
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
    if "\r" in text or "<!" in text or "]]>" in text:
        # Line-end normalisation, comments, CDATA, DOCTYPE, "]]>" outside CDATA: expat
        # decodes or refuses those.
        raise _NotScannable
    top: list[Any] = []
    # Open containers, each with the member name it will be stored under (None: a value)
    # and whether it was opened with <data> (then it must close with </data>).
    stack: list[tuple[dict[str, Any] | list[Any], str | None, bool]] = []
    struct: dict[str, Any] | None = None  # the innermost open container, if a struct
    outline = _Outline()
    match_at = _TOKEN.match
    end = 0
    while True:
        match = match_at(text, end)
        if match is None:
            break
        end = match.end()
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
            _store(stack, top, outline, _value(kind, scalar, untyped))
        elif group in _OPEN_GROUPS:
            name = None
            if group in (_CKIND, _CDATA):
                if struct is None:
                    raise DecodeError("<member> outside a <struct>")
                name = _unescape(match[_CNAME])
                kind, with_data = match[_CKIND], match[_CDATA] is not None
            else:
                kind, with_data = match[_KIND], match[_KDATA] is not None
            if len(stack) >= MAX_DEPTH:
                raise DecodeError("badly placed or too deeply nested array/struct")
            container: dict[str, Any] | list[Any] = {} if kind == "struct" else []
            stack.append((container, name, with_data))
            struct = container if type(container) is dict else None
        elif group in _CLOSE_GROUPS:
            if not stack:
                raise DecodeError(f"</{match[_CLOSE]}> closes nothing")
            container, name, with_data = stack.pop()
            if (type(container) is dict) != (match[_CLOSE] == "struct"):
                raise DecodeError(f"</{match[_CLOSE]}> closes the wrong element")
            if with_data != (match[_ENDDATA] is not None) or (name is not None) != (
                match[_ENDMEMBER] is not None
            ):
                raise _NotScannable  # <data> or <member> not closed where it should be
            if name is None:
                _store(stack, top, outline, container)
            else:
                stack[-1][0][name] = container  # type: ignore[index]
            struct = stack[-1][0] if stack and type(stack[-1][0]) is dict else None  # type: ignore[assignment]
        elif group == _OUTER:
            if stack:
                raise _NotScannable
            outline.tag(match[_OUTER], len(top))
        elif match.start(_DECL) != 0 or not _UTF8_OR_NO_ENCODING.search(match[_DECL]):
            raise _NotScannable  # a declaration not at the very start, or another encoding
    if text[end:].strip(" \t\n") or not outline.complete:
        raise _NotScannable  # truncated, trailing or unknown text: expat says what is wrong
    return outline.fault, top


class _Outline:
    """Checks the elements around the values: <methodResponse> holding <params> with one
    value per <param>, or <fault> with one value, and nothing after its end. A body that
    does not follow this goes to expat, which reports precisely what is wrong with it."""

    def __init__(self) -> None:
        self.open: list[str] = []
        self.fault = False
        self.complete = False
        self._values_before = 0  # values decoded when the current <param>/<fault> opened
        self._params = 0

    def takes_value(self) -> bool:
        """Whether a value may stand here: directly inside a <param> or the <fault>."""
        return bool(self.open) and self.open[-1] in ("param", "fault")

    def tag(self, tag: str, values: int) -> None:
        name = tag.strip("</>")
        parent = self.open[-1] if self.open else None
        if not tag.startswith("</"):
            allowed = {
                "methodResponse": parent is None and not self.complete,
                "params": parent == "methodResponse" and values == 0 and not self.fault,
                "fault": parent == "methodResponse" and values == 0 and not self._params,
                "param": parent == "params",
            }
            if not allowed[name]:
                raise _NotScannable
            self.open.append(name)
            self.fault = self.fault or name == "fault"
            self._values_before = values
            return
        if parent != name:
            raise _NotScannable
        self.open.pop()
        if name in ("param", "fault"):
            if values != self._values_before + 1:
                raise _NotScannable  # not exactly one value
            self._params += 1
        elif name == "params" and values != self._params:
            raise _NotScannable  # a value outside any <param>
        elif name == "methodResponse":
            if self._params == 0 and not self.fault and values:
                raise _NotScannable
            self.complete = True


_GROUP = _TOKEN.groupindex
_NAME, _MTYPE, _MTEXT, _MUNTYPED = (_GROUP[g] for g in ("name", "mtype", "mtext", "muntyped"))
_TYPE, _TEXT, _UNTYPED = (_GROUP[g] for g in ("type", "text", "untyped"))
_CNAME, _CKIND, _CDATA = (_GROUP[g] for g in ("cname", "ckind", "cdata"))
_KIND, _KDATA = _GROUP["kind"], _GROUP["kdata"]
_ENDDATA, _CLOSE, _ENDMEMBER = (_GROUP[g] for g in ("enddata", "close", "endmember"))
_OUTER, _DECL = _GROUP["outer"], _GROUP["decl"]
# lastindex names the last group that matched: a scalar member ends on one of these.
_MEMBER_GROUPS = frozenset({_NAME, _MTYPE, _MTEXT, _MUNTYPED})
_VALUE_GROUPS = frozenset({_TYPE, _TEXT, _UNTYPED})
_OPEN_GROUPS = frozenset({_CKIND, _CDATA, _KIND, _KDATA})
_CLOSE_GROUPS = frozenset({_CLOSE, _ENDMEMBER})


def _store(
    stack: list[tuple[Any, str | None, bool]], top: list[Any], outline: _Outline, value: Any
) -> None:
    if not stack:
        if not outline.takes_value():
            raise _NotScannable  # a value outside <param>/<fault>, e.g. after the end
        top.append(value)
    elif type(stack[-1][0]) is list:
        stack[-1][0].append(value)
    else:
        raise DecodeError("a <value> directly inside a <struct>")


def _integer(text: str) -> int:
    if "&" in text:
        text = _unescape(text)  # "&#49;" is a "1" to expat
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
    if "&" in text:
        text = _unescape(text)
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
        try:
            return base64.b64decode(text.encode("ascii"))
        except ValueError:  # binascii.Error, UnicodeEncodeError
            raise DecodeError("bad base64 value") from None
    return text  # dateTime.iso8601 stays text


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
    if not _is_xml_char(code):
        raise _NotScannable  # not a character XML allows: expat words the error
    return chr(code)


def _is_xml_char(code: int) -> bool:
    """Whether XML 1.0 allows the character ``code`` (its production Char)."""
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )
