"""workers.runtime's waits look again soon after a stop or start (issue 17: a restart's two
waits each cost 50-100 ms more with a flat 0.1 s between looks), then settle at
POLL_SECONDS."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.harness import Daemon, ours_on_socket, program, wait_until
from workers import runtime as runtime_module
from workers.runtime import FIRST_POLL_SECONDS, POLL_SECONDS, Runtime, poll_delays


def test_the_delays_start_small_double_and_stop_at_poll_seconds() -> None:
    delays = list(itertools.islice(poll_delays(), 8))
    assert delays[0] == FIRST_POLL_SECONDS
    assert all(b == min(2 * a, POLL_SECONDS) for a, b in itertools.pairwise(delays))
    assert delays[-1] == POLL_SECONDS
    assert sum(delays[:4]) < POLL_SECONDS  # 5 looks in the first 0.1 s, where there were 2


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    """Our runtime with one program (``sleep``, which a SIGTERM ends at once; RUNNING 1 s
    after its start, so the wait for RUNNING looks more than once)."""
    with ours_on_socket("rw-", {"p": program("sleep 300")}) as made:
        yield made


def test_a_restart_on_a_real_runtime_waits_with_those_delays(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = Runtime(f"unix://{daemon.workdir / 'supervisor.sock'}", timeout=10)
    with runtime:
        wait_until(lambda: runtime.is_up() and runtime.states(), 15, "the runtime up")
        wait_until(lambda: runtime.states()["p:p"]["statename"] == "RUNNING", 10, "p RUNNING")
        old = runtime.states()["p:p"]["pid"]
        slept: list[float] = []
        real_sleep = runtime_module.time.sleep

        def recording(seconds: float) -> None:
            slept.append(seconds)
            real_sleep(seconds)

        monkeypatch.setattr(runtime_module.time, "sleep", recording)
        assert runtime.restart(["p"], timeout=10) == ["p:p"]
        monkeypatch.undo()
        info = runtime.states()["p:p"]
        assert info["statename"] == "RUNNING" and info["pid"] != old
    # Each of the two waits (stopped, then RUNNING) starts at the first delay, and goes on
    # with poll_delays' in order; the wait for RUNNING (startsecs=1) takes about 1 s of them.
    assert slept and slept[0] == FIRST_POLL_SECONDS
    starts = [i for i, seconds in enumerate(slept) if seconds == FIRST_POLL_SECONDS]
    expected = list(itertools.islice(poll_delays(), len(slept)))
    for start, end in itertools.pairwise([*starts, len(slept)]):
        assert slept[start:end] == expected[: end - start]
    assert 0.9 <= sum(slept[starts[-1] :]) < 10
