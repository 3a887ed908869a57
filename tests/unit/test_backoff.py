"""The backoff that never gives up (backoff = exponential), under a fake clock."""

from __future__ import annotations

import itertools
import random

import pytest

from supervisor_runtime.backoff import backoff_delay, next_attempt_words
from supervisor_runtime.config.model import BackoffConfig
from supervisor_runtime.states import ProcessState as S
from tests.unit.test_process import FakeHost, exited, make


def test_the_nominal_wait_doubles_up_to_the_cap() -> None:
    config = BackoffConfig(initial=1, maximum=30, jitter=0)
    assert [backoff_delay(config, n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    # far past any cap, no float overflow
    assert backoff_delay(config, 10_000) == 30


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.5, 0.999])
def test_jitter_stays_within_its_fraction_and_under_the_cap(draw: float) -> None:
    config = BackoffConfig(initial=1, maximum=8, jitter=0.2)
    for attempt in range(1, 8):
        nominal = min(8.0, 2.0 ** (attempt - 1))
        wait = backoff_delay(config, attempt, rand=lambda: draw)
        assert nominal * 0.8 - 1e-9 <= wait <= nominal


def test_jitter_spreads_the_waits() -> None:
    config = BackoffConfig(initial=10, maximum=10, jitter=0.5)
    rng = random.Random(7)
    waits = {round(backoff_delay(config, 3, rand=rng.random), 3) for _ in range(50)}
    assert len(waits) > 45 and min(waits) >= 5 and max(waits) <= 10  # spread at the cap too


def test_a_failing_program_is_never_fatal_and_its_waits_grow_to_the_cap() -> None:
    host = FakeHost()
    process = make(host, startsecs=1, startretries=1, backoff=BackoffConfig(1, 8, 0))
    process.spawn()
    spawn_times = [host.now]
    for _ in range(8):
        process.finish(exited(1))  # exits at once: too quickly
        assert process.state is S.BACKOFF
        assert process.delay > host.now  # the next attempt is known
        while process.state is S.BACKOFF:
            host.advance(0.125)
        spawn_times.append(host.now)
    delays = [round(b - a, 1) for a, b in itertools.pairwise(spawn_times)]
    assert delays == [1, 2, 4, 8, 8, 8, 8, 8]
    assert process.state is S.STARTING
    assert not any("gave up" in line for line in host.log.lines)
    assert "INFO backoff: app retries in 8 s (try 8)" in host.log.lines


def test_running_resets_the_schedule() -> None:
    host = FakeHost()
    process = make(host, startsecs=1, backoff=BackoffConfig(1, 60, 0))
    process.spawn()
    for _ in range(3):
        process.finish(exited(1))
        host.advance(process.delay - host.now)
    host.advance(1.5)
    assert process.state is S.RUNNING and process.backoff == 0
    process.finish(exited(1))  # a crash after RUNNING: restarted at once (autorestart)
    process.finish(exited(1))  # then too quickly: the first wait again
    assert process.state is S.BACKOFF and process.delay - host.now == 1


def test_a_stop_in_backoff_is_stopped_and_shutdown_gives_up() -> None:
    host = FakeHost()
    process = make(host, backoff=BackoffConfig(1, 60, 0))
    process.spawn()
    process.finish(exited(1))
    assert process.stop() is None and process.state is S.STOPPED
    process.spawn()
    process.finish(exited(1))
    process.give_up()  # what shutdown does to a process in BACKOFF
    assert process.state is S.FATAL


def test_next_attempt_words() -> None:
    words = next_attempt_words(1000.0, 995.8, 6)
    assert words.startswith("next attempt in 4.2 s (") and words.endswith("), attempt 6")
