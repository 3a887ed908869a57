"""supervisorctl's XML-RPC wire code against the standard library's.

``rpc.response.decode_response`` (a regex scanner with an expat fallback) must give what
``xmlrpc.client.loads(use_builtin_types=True)`` gives, whichever path ran, and must turn every
unusable body into ``marshal.DecodeError``; ``marshal.encode_call`` must write calls both the
stdlib and our daemon's decoder read back unchanged.
"""

from __future__ import annotations

import time
import xmlrpc.client
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from supervisor_runtime.rpc import marshal, response
from supervisor_runtime.rpc.marshal import DecodeError
from supervisor_runtime.rpc.response import FaultResponse, decode_response

# --------------------------------------------------------------------------- helpers


def std_value(body: bytes) -> Any:
    """What the standard library makes of a one-value methodResponse."""
    return xmlrpc.client.loads(body, use_builtin_types=True)[0][0]


def assert_same(ours: Any, theirs: Any, where: str = "value") -> None:
    """Equal and of the same types all the way down (plain == takes True for 1)."""
    assert type(ours) is type(theirs), f"{where}: {type(ours)} != {type(theirs)}"
    if isinstance(theirs, list):
        assert len(ours) == len(theirs), where
        for index, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(mine, other, f"{where}[{index}]")
    elif isinstance(theirs, dict):
        assert list(ours) == list(theirs), where
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{where}[{key!r}]")
    else:
        assert ours == theirs, where


@pytest.fixture
def fallback_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The bodies decode_response handed to the expat decoder during the test."""
    calls: list[bytes] = []
    real = response.parse_response

    def spy(body: bytes) -> tuple[bool, list[Any]]:
        calls.append(body)
        return real(body)

    monkeypatch.setattr(response, "parse_response", spy)
    return calls


def respond(inner: str, decl: str = "<?xml version='1.0'?>\n") -> str:
    """A methodResponse around one <value> (or whatever ``inner`` is)."""
    head = f"{decl}<methodResponse>\n<params>\n<param>\n"
    return f"{head}{inner}\n</param>\n</params>\n</methodResponse>\n"


def has_cr(value: Any) -> bool:
    """Whether a carriage return hides in a string or key (expat turns it into \\n)."""
    if isinstance(value, str):
        return "\r" in value
    if isinstance(value, list | tuple):
        return any(has_cr(item) for item in value)
    if isinstance(value, dict):
        return any(has_cr(key) or has_cr(item) for key, item in value.items())
    return False


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """("value", v) or ("error", exception type name): to compare two decodes."""
    try:
        return "value", call()
    except Exception as exc:
        return "error", type(exc).__name__


# --------------------------------------------------------------------------- strategies

# Characters XML 1.0 can carry: no C0 controls but tab/newline/CR, no surrogates, no U+FFFE/F.
_XML_CHAR = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters=[chr(c) for c in range(32) if c not in (9, 10, 13)] + ["\ufffe", "\uffff"],
)
_SPECIAL = st.sampled_from(["&", "<", ">", "&amp;", "]]>", '"', "'", "\r", "\r\n", "\n", "\t", " "])
xml_text = st.lists(st.one_of(_SPECIAL, st.text(_XML_CHAR, max_size=6)), max_size=6).map("".join)
scalars = st.one_of(
    xml_text,
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.binary(max_size=120),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(xml_text, children, max_size=4),
    ),
    max_leaves=25,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- round trips


@FAST
@given(values)
@example("")
@example({"": [b"", [], {}]})
@example("a\rb\r\nc")
def test_stdlib_bodies_decode_as_the_stdlib_does(value: Any) -> None:
    body = xmlrpc.client.dumps((value,), methodresponse=True).encode()
    assert_same(decode_response(body), std_value(body))


@FAST
@given(values)
def test_our_encoder_bodies_decode_as_the_stdlib_does(value: Any) -> None:
    body = marshal.encode_response(value)
    assert_same(decode_response(body), std_value(body))


@FAST
@given(values)
def test_the_scanner_and_the_expat_decoder_agree(value: Any) -> None:
    """Whichever path runs, the result is the same (the module's promise)."""
    body = xmlrpc.client.dumps((value,), methodresponse=True).encode()
    is_fault, params = marshal.parse_response(body)
    assert not is_fault
    assert_same(decode_response(body), params[0])


@FAST
@given(values.filter(lambda v: not has_cr(v)))
def test_usual_bodies_take_the_fast_path(value: Any) -> None:
    """Without \\r nothing the stdlib or our encoder writes needs expat (the speed promise)."""
    calls: list[bytes] = []
    real = response.parse_response
    response.parse_response = lambda body: calls.append(body) or real(body)  # type: ignore[assignment]
    try:
        decode_response(xmlrpc.client.dumps((value,), methodresponse=True).encode())
        decode_response(marshal.encode_response(value))
    finally:
        response.parse_response = real  # type: ignore[assignment]
    assert calls == []


def test_a_supervisor_sized_answer() -> None:
    infos = [
        {"name": f"p{i}", "group": "g", "pid": i, "state": 20, "statename": "RUNNING",
         "description": f"pid {i}, uptime 0:00:0{i % 10}", "spawnerr": "", "exitstatus": 0,
         "stdout_logfile": f"/var/log/p{i} & <x>.log", "now": 1700000000}
        for i in range(50)
    ]  # fmt: skip
    body = xmlrpc.client.dumps((infos,), methodresponse=True).encode()
    assert decode_response(body) == infos


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "body",
    [
        xmlrpc.client.dumps(xmlrpc.client.Fault(10, "BAD_NAME: x"), methodresponse=True).encode(),
        marshal.encode_fault(10, "BAD_NAME: x"),
        xmlrpc.client.dumps(xmlrpc.client.Fault(10, "BAD_NAME: x"), methodresponse=True)
        .replace("\n", "\r\n")
        .encode(),  # the expat path
    ],
    ids=["stdlib", "ours", "crlf"],
)
def test_fault_responses_raise_fault_response(body: bytes) -> None:
    with pytest.raises(FaultResponse) as info:
        decode_response(body)
    assert (info.value.code, info.value.text) == (10, "BAD_NAME: x")


def test_fault_text_is_unescaped() -> None:
    with pytest.raises(FaultResponse) as info:
        decode_response(marshal.encode_fault(2, "BAD <&> é"))
    assert (info.value.code, info.value.text) == (2, "BAD <&> é")


@pytest.mark.parametrize(
    "fault",
    [
        "<value><struct></struct></value>",
        "<value><struct><member><name>faultCode</name><value><string>10</string></value>"
        "</member><member><name>faultString</name><value><string>x</string></value>"
        "</member></struct></value>",
        "<value><int>10</int></value>",
    ],
    ids=["empty", "code-as-string", "not-a-struct"],
)
def test_a_fault_without_code_and_string_is_a_decode_error(fault: str) -> None:
    body = f"<?xml version='1.0'?>\n<methodResponse>\n<fault>\n{fault}\n</fault>\n</methodResponse>"
    with pytest.raises(DecodeError):
        decode_response(body.encode())


# --------------------------------------------------------------------------- the fallback

_STRUCT = (
    "<value><struct>\n<member>\n<name>a</name>\n<value><int>1</int></value>\n</member>\n"
    "<member>\n<name>b</name>\n<value><string>x &amp; y</string></value>\n</member>\n"
    "</struct></value>"
)
FALLBACK_BODIES = {
    "comment": respond(f"<!-- a comment -->{_STRUCT}<!-- another -->"),
    "cdata": respond("<value><string><![CDATA[a <b> & c]]></string></value>"),
    "nil": respond(
        "<value><array><data><value><nil/></value><value><int>1</int></value></data></array></value>"
    ),
    "empty-string-element": respond(
        "<value><array><data><value><string/></value><value><string></string></value>"
        "</data></array></value>"
    ),
    "attributes": respond(
        '<value kind="x"><struct id="1"><member><name lang="en">a</name>'
        '<value><int base="10">7</int></value></member></struct></value>'
    ),
    "crlf": respond(_STRUCT).replace("\n", "\r\n"),
    "cr-in-string": respond("<value><string>one\rtwo\r\nthree</string></value>"),
    "utf8-declaration": respond(
        "<value><string>café ✓</string></value>", "<?xml version='1.0' encoding=\"utf-8\"?>\n"
    ),
    "untyped-spaced": respond("<value> spaced </value>"),
    "untyped-in-struct": respond(
        "<value><struct><member><name>k</name><value> v w </value></member></struct></value>"
    ),
}


@pytest.mark.parametrize("name", sorted(FALLBACK_BODIES))
def test_unusual_xml_decodes_as_the_stdlib_does(name: str) -> None:
    body = FALLBACK_BODIES[name].encode()
    assert_same(decode_response(body), std_value(body))


@pytest.mark.parametrize("name", ["comment", "cdata", "nil", "attributes", "crlf", "cr-in-string"])
def test_xml_the_scanner_does_not_know_goes_to_expat(
    name: str, fallback_calls: list[bytes]
) -> None:
    body = FALLBACK_BODIES[name].encode()
    decode_response(body)
    assert fallback_calls == [body]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("&#x41;&#65;", "AA"),
        ("&#x263A;&#9786;", "\u263a\u263a"),
        ("&quot;&apos;&lt;&gt;&amp;", "\"'<>&"),
        ("&amp;lt;", "&lt;"),
    ],
)
def test_character_and_predefined_references(text: str, expected: str) -> None:
    for inner in (
        f"<value><string>{text}</string></value>",
        f"<value>{text}</value>",
        f"<value><struct><member><name>{text}</name><value><string>{text}</string></value>"
        "</member></struct></value>",
    ):
        body = respond(inner).encode()
        assert_same(decode_response(body), std_value(body))
    assert decode_response(respond(f"<value>{text}</value>").encode()) == expected


def test_latin1_declared_body(fallback_calls: list[bytes]) -> None:
    body = respond(
        "<value><struct><member><name>clé</name><value><string>café ÿ</string></value>"
        "</member></struct></value>",
        "<?xml version='1.0' encoding='iso-8859-1'?>\n",
    ).encode("iso-8859-1")
    assert decode_response(body) == {"clé": "café ÿ"} == std_value(body)
    assert fallback_calls == [body]


def test_latin1_declared_body_that_is_also_valid_utf8(fallback_calls: list[bytes]) -> None:
    """b'\\xc3\\xa9' is 'é' in UTF-8 but 'Ã©' in the declared latin-1: the declaration wins."""
    body = respond(
        "<value><string>Ã©</string></value>", "<?xml version='1.0' encoding='iso-8859-1'?>\n"
    ).encode("iso-8859-1")
    assert body.decode("utf-8")  # the trap: it decodes as UTF-8 too
    assert decode_response(body) == "Ã©" == std_value(body)


# --------------------------------------------------------------------------- malformed bodies

_GOOD = xmlrpc.client.dumps(
    ({"name": "app", "list": [1, "two", [True]], "more": {"x": 1.5}},), methodresponse=True
).encode()


def test_bodies_cut_inside_the_value_raise_decode_error() -> None:
    first, last = _GOOD.index(b"<value>"), _GOOD.rindex(b"</value>") + len(b"</value>")
    for cut in range(first + 1, last):
        with pytest.raises(DecodeError):
            decode_response(_GOOD[:cut])
    assert decode_response(_GOOD) == std_value(_GOOD)


def test_bodies_cut_outside_the_value_raise_decode_error() -> None:
    last = _GOOD.rindex(b"</value>") + len(b"</value>")
    wrong = {}
    for cut in [*range(0, _GOOD.index(b"<value>") + 1), *range(last, len(_GOOD) - 1)]:
        result = outcome(lambda cut=cut: decode_response(_GOOD[:cut]))
        if result != ("error", "DecodeError"):
            wrong[_GOOD[:cut][-20:]] = result
    assert wrong == {}


@pytest.mark.parametrize(
    "inner",
    [
        "<value><struct><member><name>a</name><value><int>1</int></value></member></array></value>",
        "<value><array><data><value><int>1</int></value></data></struct></value>",
        "<value><array><data><value><struct><member><name>a</name><value><int>1</int>"
        "</value></member></array></value></data></array></value>",
        "<member><name>a</name><value><int>1</int></value></member>",
        "<value><array><data><member><name>a</name><value><int>1</int></value></member>"
        "</data></array></value>",
        "<value><array><data><member><name>a</name><value><array><data></data></array>"
        "</value></member></data></array></value>",
        "<value><struct><value><int>1</int></value></struct></value>",
        "<value><int>one</int></value>",
        "<value><int></int></value>",
        "<value><i4>1.5</i4></value>",
        "<value><struct><member><name>a</name><value><int>x</int></value></member>"
        "</struct></value>",
        "<value><boolean>2</boolean></value>",
        "<value><boolean>true</boolean></value>",
        "<value><boolean></boolean></value>",
        "<value><double>fast</double></value>",
        "<value><string>&foo;</string></value>",
        "<value>&foo;</value>",
        "<value><struct><member><name>&foo;</name><value><int>1</int></value></member>"
        "</struct></value>",
        "<value><struct><member><name>a</name><value><string>a &foo; b</string></value>"
        "</member></struct></value>",
        "<value><string>a & b</string></value>",
        "<value><string>&#xZZ;</string></value>",
        "<value><string>&#x110000;</string></value>",
        "<value><bogus>1</bogus></value>",
    ],
)
@pytest.mark.parametrize("path", ["scanner", "expat"])
def test_malformed_values_raise_decode_error(inner: str, path: str) -> None:
    if path == "expat":
        inner = f"<!-- force the fallback -->{inner}"
    with pytest.raises(DecodeError):
        decode_response(respond(inner).encode())


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?>\n<!DOCTYPE methodResponse>\n'
        + respond("<value>1</value>", "").encode(),
        b'<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY a "b">]>\n'
        + respond("<value>&a;</value>", "").encode(),
        b'<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        + respond("<value>&x;</value>", "").encode(),
        b'<?xml version="1.0"?>\n<!DOCTYPE m ['
        + b"".join(
            b'<!ENTITY e%d "&e%d;&e%d;&e%d;&e%d;&e%d;&e%d;&e%d;&e%d;&e%d;&e%d;">'
            % ((i,) + (i - 1,) * 10)
            for i in range(1, 10)
        )
        + b'<!ENTITY e0 "lol">]>\n'
        + respond("<value>&e9;</value>", "").encode(),
    ],
    ids=["doctype", "internal-entity", "external-entity", "billion-laughs"],
)
def test_doctype_and_entity_declarations_are_refused(body: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(DecodeError):
        decode_response(body)
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe<\x00", b"<<<", b"not xml at all", b"</value>", b"\x00"],
)
def test_junk_raises_decode_error(body: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_response(body)


def test_deep_nesting_neither_recurses_nor_hangs() -> None:
    depth = 5000
    body = respond("<value><array><data>" * depth + "</data></array></value>" * depth).encode()
    result = outcome(lambda: decode_response(body))
    assert result[0] == "value" or result == ("error", "DecodeError")
    with pytest.raises(DecodeError):  # the same, unclosed
        decode_response(body[: body.index(b"</data>")])


def only_decode_errors(body: bytes) -> None:
    try:
        decode_response(body)
    except (DecodeError, FaultResponse):
        pass


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_decode_error(body: bytes) -> None:
    only_decode_errors(body)


_PIECES = [b"<value>", b"</value>", b"<struct>", b"</struct>", b"<array>", b"<data>",
           b"</data>", b"</array>", b"<member>", b"</member>", b"<name>", b"</name>",
           b"<int>", b"</int>", b"<string>", b"</string>", b"<boolean>", b"<double>", b"&",
           b"&amp;", b"&#", b";", b"<!--", b"-->", b"<fault>", b"\r", b"\xff", b"\x00",
           b"<?xml version='1.0' encoding='latin-1'?>", b"<nil/>", b" "]  # fmt: skip
_MUTABLE = [
    _GOOD,
    marshal.encode_fault(7, "SPAWN_ERROR: a & b"),
    marshal.encode_response([{"a": [1, True, 2.5, "x<y"]}, [], {}]),
]


@FAST
@given(st.sampled_from(_MUTABLE), st.data())
def test_mutated_bodies_raise_only_decode_error(body: bytes, data: st.DataObject) -> None:
    mutated = bytearray(body)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(mutated)))
        action = data.draw(st.sampled_from(["delete", "insert", "replace", "piece", "cut"]))
        if action == "delete":
            del mutated[at : at + data.draw(st.integers(1, 12))]
        elif action == "insert":
            mutated[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        elif action == "replace" and at < len(mutated):
            mutated[at] = data.draw(st.integers(0, 255))
        elif action == "piece":
            mutated[at:at] = data.draw(st.sampled_from(_PIECES))
        elif action == "cut":
            del mutated[at:]
    only_decode_errors(bytes(mutated))


# --------------------------------------------------------------------------- review findings


def test_bad_base64_padding_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode_response(respond("<value><base64>abc</base64></value>").encode())


def test_non_ascii_base64_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode_response(respond("<value><base64>é</base64></value>").encode())


@pytest.mark.parametrize("ref", ["&#0;", "&#xD800;", "&#x1;"])
def test_references_to_non_xml_characters_do_not_depend_on_the_path(ref: str) -> None:
    inner = f"<value><string>a{ref}b</string></value>"
    fast = outcome(lambda: decode_response(respond(inner).encode()))
    slow = outcome(lambda: decode_response(respond(f"<!-- x -->{inner}").encode()))
    assert fast == slow == ("error", "DecodeError")


def test_long_whitespace_runs_decode_in_linear_time() -> None:
    # Quadratic scanning took 0.4 s for 3,000 spaces: 100,000 would take minutes. The bound
    # is loose on purpose; it only tells linear from quadratic on a loaded machine.
    for body in (_GOOD + b" " * 100_000, b" " * 100_000):
        started = time.perf_counter()
        try:
            decode_response(body)
        except DecodeError:
            pass
        assert time.perf_counter() - started < 2


# --------------------------------------------------------------------------- encode_call


def test_encode_call_reads_back_in_the_stdlib() -> None:
    body = marshal.encode_call("supervisor.startProcess", ("app", True))
    assert xmlrpc.client.loads(body) == (("app", True), "supervisor.startProcess")
    assert marshal.decode_call(body) == ("supervisor.startProcess", ("app", True))


def test_encode_call_escapes_strings_and_the_method_name() -> None:
    params = ("a & <b> ]]> 'c' \"d\"", {"k&<>": ["x<", 1, False]}, "", "é ✓")
    body = marshal.encode_call("ns.m&<x>", params)
    assert xmlrpc.client.loads(body, use_builtin_types=True) == (
        ("a & <b> ]]> 'c' \"d\"", {"k&<>": ["x<", 1, False]}, "", "é ✓"),
        "ns.m&<x>",
    )
    assert marshal.decode_call(body) == ("ns.m&<x>", params)


def test_encode_call_without_params() -> None:
    body = marshal.encode_call("supervisor.getState", ())
    assert xmlrpc.client.loads(body) == ((), "supervisor.getState")
    assert marshal.decode_call(body) == ("supervisor.getState", ())


_METHOD = st.text(_XML_CHAR.filter(lambda c: c != "\r"), min_size=1, max_size=20).filter(
    lambda name: name == name.strip() and name != ""
)


@FAST
@given(_METHOD, st.lists(values, max_size=4))
def test_encode_call_round_trips(method: str, params: list[Any]) -> None:
    body = marshal.encode_call(method, tuple(params))
    std_params, std_method = xmlrpc.client.loads(body, use_builtin_types=True)
    assert std_method == method
    our_method, our_params = marshal.decode_call(body)
    assert our_method == method
    assert_same(list(our_params), list(std_params))
    # and with nothing to normalise, what went in comes out
    if not has_cr(params):
        assert_same(list(our_params), params)


# --------------------------------------------------------------------------- same verdict as expat

_ONE = "<value><int>1</int></value>"


@pytest.mark.parametrize(
    "body",
    [
        respond("<value><string>a\x01b</string></value>"),  # a C0 control character
        respond("<value><string>a\ufffeb</string></value>"),  # a non-character
        respond("<value><string>a]]>b</string></value>"),  # a CDATA end outside CDATA
        respond(f"<value><array><data>{_ONE}</array></value>"),  # <data> never closed
        respond("<value><struct></data></struct></value>"),  # </data> closing nothing
        # a member's array closed without </member>, then a value closed with one:
        respond("<value><struct><member><name>a</name><value><array><data></data></array>"
                "</value></struct></value>"),
        respond("<value><array><data></data></array></value></member>"),
        respond(_ONE) + _ONE,  # a value after the end of the document
        _ONE + respond(_ONE),  # a value before it starts
        " " + respond(_ONE),  # blank before the XML declaration
    ],
    ids=["control", "noncharacter", "cdata-end", "data-open", "data-close", "member-open",
         "member-close", "after-end", "before-start", "blank-before-decl"],
)
def test_what_expat_refuses_the_scanner_refuses_too(body: str) -> None:
    assert outcome(lambda: marshal.parse_response(body.encode())) == ("error", "DecodeError")
    assert outcome(lambda: decode_response(body.encode())) == ("error", "DecodeError")


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        ("<value><int>&#49;&#50;</int></value>", 12),
        ("<value><i4>-&#x31;</i4></value>", -1),
        ("<value><boolean>&#49;</boolean></value>", True),
        ("<value><double>&#49;.5</double></value>", 1.5),
        ("<value><struct><member><name>n</name><value><int>&#55;</int></value></member>"
         "</struct></value>", {"n": 7}),
    ],
)
def test_character_references_in_numbers_decode_as_the_stdlib_does(
    inner: str, expected: Any, fallback_calls: list[bytes]
) -> None:
    body = respond(inner).encode()
    assert_same(decode_response(body), std_value(body))
    assert_same(decode_response(body), expected)
    assert fallback_calls == []  # the scanner decoded it itself


def test_arrays_and_members_closed_properly_stay_on_the_fast_path(
    fallback_calls: list[bytes],
) -> None:
    inner = (
        "<value><struct><member><name>a</name><value><array><data>"
        f"{_ONE}</data></array></value></member></struct></value>"
    )
    body = respond(inner).encode()
    assert_same(decode_response(body), {"a": [1]})
    assert fallback_calls == []
