"""rpc/json_line.encode writes what ``json.dumps(value, separators=(",", ":"))`` writes, for
any value the state stream can hold and any string (surrogates, controls, astral
characters), and json reads it back (issue 18: the stream no longer imports json)."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor_runtime.rpc import json_line
from supervisor_runtime.states import ProcessState

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()  # every code point, lone surrogates included
)
KEYS = st.text() | st.integers() | st.floats() | st.booleans() | st.none()
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.tuples(inner, inner)
        | st.dictionaries(KEYS, inner, max_size=5)
    ),
    max_leaves=30,
)


def _stock(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


@settings(max_examples=500, deadline=None)
@given(VALUES)
def test_it_writes_what_json_writes(value: Any) -> None:
    assert json_line.encode(value) == _stock(value)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_every_string_reads_back(text: str) -> None:
    line = json_line.encode({"type": "process", "name": text, "seq": 1})
    assert line.endswith(b"\n") and b"\n" not in line[:-1]
    assert json.loads(line) == {"type": "process", "name": text, "seq": 1}


def test_numbers_the_stream_holds_as_json_writes_them() -> None:
    class Kind(enum.IntEnum):
        ONE = 1

    value = {
        "state": ProcessState.RUNNING,  # an IntEnum: its number
        "kind": Kind.ONE,
        "time": 1765000000.123456,
        "values": [math.nan, math.inf, -math.inf, -0.0, 1e300, 2**70],
    }
    assert json_line.encode(value) == _stock(value)


@pytest.mark.parametrize("value", [object(), {1j: 1}, {(1, 2): 3}, b"bytes", {1, 2}])
def test_what_json_refuses_it_refuses(value: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        json_line.encode(value)
