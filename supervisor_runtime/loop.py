"""The daemon's event loop: fd readiness, timers in a heap, and signals.

Unlike supervisord's loop, which wakes on a fixed 1 s tick and walks every
process and fd each time, this one sleeps until something is ready: a readable
or writable fd, the earliest timer, or a signal (delivered through
``signal.set_wakeup_fd``, so SIGCHLD wakes it at once). Work is only done for
what is ready.

Signal handlers only record; the loop dispatches them from its own context
(the s6 rule), so no callback ever runs inside a signal handler.

Readiness comes from ``select.epoll`` itself (the runtime is for Linux), not through
``selectors``, whose per-fd key objects and lookups were a fifth of the Python work of
starting a program.
"""

from __future__ import annotations

import _signal as signal  # the C half, without the enums: see signals.py
import heapq
import itertools
import os
import select
import time
from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    Callback = Callable[[], Any]


def format_exc() -> str:
    """``traceback.format_exc()``, with ``traceback`` (and ``linecache``, ``tokenize``,
    ``textwrap``) imported on the first error rather than kept by every daemon."""
    import traceback

    return traceback.format_exc()


class TimerHandle:
    """A scheduled callback; ``cancel()`` makes it a no-op."""

    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callback) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class EventLoop:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._epoll = select.epoll()
        # fd -> [reader, writer]; the epoll registration asks for the ones not None.
        self._handlers: dict[int, list[Callback | None]] = {}
        self._timers: list[tuple[float, int, TimerHandle]] = []
        self._sequence = itertools.count()  # tie-breaker: FIFO among equal deadlines
        self._ready: list[Callback] = []
        self._signal_handlers: dict[int, Callable[[int], Any]] = {}
        self._wakeup_r, self._wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._epoll.register(self._wakeup_r, select.EPOLLIN)
        self._stopping = False
        self._previous_wakeup_fd: int | None = None
        self.on_error: Callable[[str], Any] = _print_error

    def _call(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run a callback; a bug in one handler must never take the daemon (and every
        program it supervises) down, so the error is reported and the loop goes on."""
        try:
            callback(*args)
        except Exception:
            self.on_error(f"uncaught exception in the event loop:\n{format_exc()}")

    # -- timers -------------------------------------------------------------

    def call_at(self, when: float, callback: Callback) -> TimerHandle:
        handle = TimerHandle(when, callback)
        heapq.heappush(self._timers, (when, next(self._sequence), handle))
        return handle

    def call_later(self, delay: float, callback: Callback) -> TimerHandle:
        return self.call_at(self.clock() + delay, callback)

    def call_soon(self, callback: Callback) -> None:
        self._ready.append(callback)

    # -- file descriptors ---------------------------------------------------

    def add_reader(self, fd: int, callback: Callback) -> None:
        self._set_handler(fd, _READ, callback)

    def add_writer(self, fd: int, callback: Callback) -> None:
        self._set_handler(fd, _WRITE, callback)

    def remove_reader(self, fd: int) -> None:
        self._set_handler(fd, _READ, None)

    def remove_writer(self, fd: int) -> None:
        self._set_handler(fd, _WRITE, None)

    def _set_handler(self, fd: int, slot: int, callback: Callback | None) -> None:
        # epoll first, the table after: a refused fd (a regular file, a closed one) must
        # leave no handler behind.
        handlers = self._handlers.get(fd)
        if handlers is None:
            if callback is not None:
                self._epoll.register(fd, _EVENTS[slot])
                self._handlers[fd] = [None, None]
                self._handlers[fd][slot] = callback
            return
        wanted = list(handlers)
        wanted[slot] = callback
        events = (_EVENTS[_READ] if wanted[_READ] else 0) | (
            _EVENTS[_WRITE] if wanted[_WRITE] else 0
        )
        if events:
            self._epoll.modify(fd, events)
            handlers[slot] = callback
            return
        handlers[slot] = None  # a batch being dispatched may still hold this list
        del self._handlers[fd]
        try:
            self._epoll.unregister(fd)
        except OSError:
            pass  # closed already: epoll forgot it by itself

    # -- signals ------------------------------------------------------------

    def add_signal_handler(self, signum: int, callback: Callable[[int], Any]) -> None:
        """Run ``callback(signum)`` from the loop whenever ``signum`` arrives."""
        if self._previous_wakeup_fd is None:
            self._previous_wakeup_fd = signal.set_wakeup_fd(
                self._wakeup_w, warn_on_full_buffer=False
            )
        self._signal_handlers[signum] = callback
        # The Python-level handler does nothing: the C handler already wrote
        # the signal number to the wakeup pipe, which is all the loop needs.
        signal.signal(signum, _ignore_in_handler)

    def restore_signals(self) -> None:
        for signum in self._signal_handlers:
            signal.signal(signum, signal.SIG_DFL)
        self._signal_handlers.clear()
        if self._previous_wakeup_fd is not None:
            signal.set_wakeup_fd(self._previous_wakeup_fd)
            self._previous_wakeup_fd = None

    def _drain_signals(self) -> None:
        while True:
            try:
                data = os.read(self._wakeup_r, 512)
            except BlockingIOError:
                return
            if not data:
                return
            # Coalesce repeats (many SIGCHLDs at once need one reap pass) but
            # keep the order in which different signals arrived.
            for signum in dict.fromkeys(data):
                handler = self._signal_handlers.get(signum)
                if handler is not None:
                    self._call(handler, signum)

    # -- running ------------------------------------------------------------

    def stop(self) -> None:
        self._stopping = True

    def run(self) -> None:
        """Run until ``stop()`` is called (at once if it was called before)."""
        while not self._stopping:
            self.run_once()
        self._stopping = False

    def run_once(self, max_wait: float | None = None) -> None:
        timeout = self._next_timeout(max_wait)
        for fd, events in self._epoll.poll(-1 if timeout is None else timeout):
            if fd == self._wakeup_r:
                self._drain_signals()
                continue
            handlers = self._handlers.get(fd)
            if handlers is None:
                continue  # unregistered by a callback earlier in this batch
            # A hang-up or error is news to both sides, as selectors reports it.
            reader = handlers[_READ]
            if events & ~select.EPOLLOUT and reader is not None:
                self._call(reader)
            # Read the writer only now: the reader may have removed it.
            writer = handlers[_WRITE]
            if events & ~select.EPOLLIN and writer is not None:
                self._call(writer)
        self._run_due_timers()
        self._run_ready()

    def _next_timeout(self, max_wait: float | None) -> float | None:
        if self._ready or self._stopping:
            return 0
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if not self._timers:
            return max_wait
        delay = max(0.0, self._timers[0][0] - self.clock())
        return delay if max_wait is None else min(delay, max_wait)

    def _run_due_timers(self) -> None:
        now = self.clock()
        while self._timers and self._timers[0][0] <= now:
            _, _, handle = heapq.heappop(self._timers)
            if not handle.cancelled:
                handle.cancelled = True  # fired: cancelling it later is harmless
                self._call(handle.callback)

    def _run_ready(self) -> None:
        while self._ready:
            ready, self._ready = self._ready, []
            for callback in ready:
                self._call(callback)

    def close(self) -> None:
        self.restore_signals()
        self._epoll.close()
        os.close(self._wakeup_r)
        os.close(self._wakeup_w)


_READ, _WRITE = 0, 1  # slots of a handlers list
_EVENTS = (select.EPOLLIN, select.EPOLLOUT)


def _ignore_in_handler(signum: int, frame: object) -> None:
    return None


def _print_error(message: str) -> None:
    os.write(2, message.encode(errors="replace"))
