"""The order of a group answer, stock supervisord 4.3.0 and ours, with the timing forced.

supervisord lists a group answer that waits neither in process order nor in the order the
processes settled: make_allfunc (its rpcinterface.py) lists the outcomes known at once in
process order, then the waiting ones each time the daemon looks again, in process order
within a look. It looks when its loop wakes up at least 50 ms after the last look (a child
dying wakes it), or after its 1 s loop timeout. Here `a`, `b` and `c` come in that order by
priority and take 0.5 s, 0.2 s and about 10 ms to die of SIGTERM: `b` is seen when it dies,
with `c` (which died too soon after the call to wake a look), then `a`.

Two `/bin/sleep`s killed together are not comparable this way: stock reaps right after each
kill, so one that is already dead by then is listed at once, before the others; which one
that is depends on the scheduler (see test_compare_changes.test_signal_all_and_clear).
"""

from __future__ import annotations

import pytest

from tests.harness import program
from tests.rpc.conftest import Pair, normalize

pytestmark = pytest.mark.stock


def _dies_after(seconds: float, **options: object) -> dict[str, object]:
    # `wait` returns as soon as the trapped TERM arrives; the trap kills the sleep first.
    script = f"trap 'kill $!; sleep {seconds}; exit 0' TERM; sleep 1000 & wait"
    return program(f'/bin/sh -c "{script}"', stopwaitsecs=10, **options)


PROGRAMS = {
    "a": _dies_after(0.5, priority=1),
    "b": _dies_after(0.2, priority=2),
    "c": _dies_after(0.01, priority=3, startsecs=0),
}


@pytest.fixture
def sides(pair) -> Pair:
    sides = pair(PROGRAMS, extra={"group:g": {"programs": "a,b,c"}})
    for side in sides.values():
        for name in ("g:a", "g:b", "g:c"):
            side.wait_state(name, "RUNNING")
    return sides


def _names(sides: Pair, method: str, *args: object) -> dict[str, list[str]]:
    answers = {}
    for impl, side in sides.items():
        value = normalize(side.call(method, *args), side)
        assert isinstance(value, list), f"{impl} {method}: {value!r}"
        assert {r["description"] for r in value} == {"OK"}, f"{impl} {method}: {value!r}"
        answers[impl] = [r["name"] for r in value]
    return answers


def test_group_answers_list_results_at_each_look_in_process_order(sides: Pair) -> None:
    answers = _names(sides, "supervisor.stopProcessGroup", "g")
    assert answers["stock"] == ["b", "c", "a"]
    assert answers["ours"] == answers["stock"]
    # c is RUNNING at once (startsecs=0): an outcome known at once, listed first.
    answers = _names(sides, "supervisor.startProcessGroup", "g")
    assert answers["stock"] == ["c", "a", "b"]
    assert answers["ours"] == answers["stock"]
    answers = _names(sides, "supervisor.stopAllProcesses")
    assert answers["stock"] == ["b", "c", "a"]
    assert answers["ours"] == answers["stock"]
    # Signals never wait: process order.
    _names(sides, "supervisor.startAllProcesses")
    answers = _names(sides, "supervisor.signalProcessGroup", "g", "CONT")
    assert answers["stock"] == ["a", "b", "c"]
    assert answers["ours"] == answers["stock"]
