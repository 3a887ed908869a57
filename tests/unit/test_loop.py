"""The event loop: timers in order, fd readiness, signals dispatched from the loop."""

from __future__ import annotations

import os
import signal
import time

from supervisor_runtime.loop import EventLoop


def test_timers_fire_in_deadline_order_and_cancel_works() -> None:
    loop = EventLoop()
    fired: list[str] = []
    loop.call_later(0.02, lambda: fired.append("b"))
    loop.call_later(0.01, lambda: fired.append("a"))
    cancelled = loop.call_later(0.015, lambda: fired.append("x"))
    cancelled.cancel()
    loop.call_later(0.03, loop.stop)
    loop.run()
    loop.close()
    assert fired == ["a", "b"]


def test_reader_called_when_readable_and_not_otherwise() -> None:
    loop = EventLoop()
    r, w = os.pipe()
    seen: list[bytes] = []
    loop.add_reader(r, lambda: seen.append(os.read(r, 100)))
    loop.run_once(max_wait=0.01)
    assert seen == []
    os.write(w, b"hello")
    loop.run_once(max_wait=1)
    assert seen == [b"hello"]
    loop.remove_reader(r)
    os.write(w, b"more")
    loop.run_once(max_wait=0.01)
    assert seen == [b"hello"]
    loop.close()
    os.close(r)
    os.close(w)


def test_signal_wakes_the_loop_at_once() -> None:
    loop = EventLoop()
    got: list[int] = []
    loop.add_signal_handler(signal.SIGUSR1, lambda signum: (got.append(signum), loop.stop()))
    loop.call_later(0.05, lambda: os.kill(os.getpid(), signal.SIGUSR1))
    watchdog = loop.call_later(5, loop.stop)
    started = time.monotonic()
    loop.run()
    watchdog.cancel()
    loop.close()
    assert got == [signal.SIGUSR1]
    assert time.monotonic() - started < 2


def test_call_soon_runs_before_sleeping() -> None:
    loop = EventLoop()
    order: list[int] = []
    loop.call_soon(lambda: order.append(1))
    loop.call_soon(lambda: (order.append(2), loop.stop()))
    loop.run()
    loop.close()
    assert order == [1, 2]


def test_stop_before_run_makes_run_return_at_once_and_run_works_again_after() -> None:
    loop = EventLoop()
    fired: list[str] = []
    loop.stop()
    loop.call_soon(lambda: fired.append("first"))
    loop.run()  # returns without waiting: the stop came first
    assert fired == []
    loop.call_later(0.01, loop.stop)
    loop.run()
    assert fired == ["first"]
    loop.close()


def test_a_refused_fd_leaves_no_handler_and_a_closed_one_can_be_removed(tmp_path) -> None:
    loop = EventLoop()
    regular = os.open(tmp_path / "file", os.O_CREAT | os.O_RDONLY)
    try:
        loop.add_reader(regular, lambda: None)  # epoll refuses regular files (EPERM)
    except PermissionError:
        pass
    loop.remove_reader(regular)  # nothing registered: nothing to do, no error
    os.close(regular)
    r, w = os.pipe()
    loop.add_reader(r, lambda: None)
    os.close(r)  # closed before removal: epoll has forgotten it already
    loop.remove_reader(r)
    r2, w2 = os.pipe()  # may reuse r's number: must register cleanly
    seen: list[bytes] = []
    loop.add_reader(r2, lambda: seen.append(os.read(r2, 10)))
    os.write(w2, b"x")
    loop.run_once(max_wait=1)
    assert seen == [b"x"]
    loop.close()
    for fd in (w, r2, w2):
        os.close(fd)
