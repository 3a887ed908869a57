"""The daemon's event loop: fd readiness, timers in a heap, and signals.

Unlike supervisord's loop, which wakes on a fixed 1 s tick and walks every
process and fd each time, this one sleeps until something is ready: a readable
or writable fd, the earliest timer, or a signal (delivered through
``signal.set_wakeup_fd``, so SIGCHLD wakes it at once). Work is only done for
what is ready.

Signal handlers only record; the loop dispatches them from its own context
(the s6 rule), so no callback ever runs inside a signal handler.
"""

from __future__ import annotations

import heapq
import itertools
import os
import selectors
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any

Callback = Callable[[], Any]


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
        self._selector = selectors.DefaultSelector()
        self._timers: list[tuple[float, int, TimerHandle]] = []
        self._sequence = itertools.count()  # tie-breaker: FIFO among equal deadlines
        self._ready: list[Callback] = []
        self._signal_handlers: dict[int, Callable[[int], Any]] = {}
        self._wakeup_r, self._wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._wakeup_r, selectors.EVENT_READ, None)
        self._stopping = False
        self._previous_wakeup_fd: int | None = None
        self.on_error: Callable[[str], Any] = _print_error

    def _call(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run a callback; a bug in one handler must never take the daemon (and every
        program it supervises) down, so the error is reported and the loop goes on."""
        try:
            callback(*args)
        except Exception:
            self.on_error(f"uncaught exception in the event loop:\n{traceback.format_exc()}")

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
        self._register(fd, selectors.EVENT_READ, callback, 0)

    def add_writer(self, fd: int, callback: Callback) -> None:
        self._register(fd, selectors.EVENT_WRITE, callback, 1)

    def remove_reader(self, fd: int) -> None:
        self._unregister(fd, selectors.EVENT_READ, 0)

    def remove_writer(self, fd: int) -> None:
        self._unregister(fd, selectors.EVENT_WRITE, 1)

    def _register(self, fd: int, event: int, callback: Callback, slot: int) -> None:
        try:
            key = self._selector.get_key(fd)
        except KeyError:
            callbacks: list[Callback | None] = [None, None]
            callbacks[slot] = callback
            self._selector.register(fd, event, callbacks)
            return
        callbacks = key.data
        callbacks[slot] = callback
        self._selector.modify(fd, key.events | event, callbacks)

    def _unregister(self, fd: int, event: int, slot: int) -> None:
        try:
            key = self._selector.get_key(fd)
        except KeyError:
            return
        callbacks = key.data
        callbacks[slot] = None
        remaining = key.events & ~event
        if remaining:
            self._selector.modify(fd, remaining, callbacks)
        else:
            self._selector.unregister(fd)

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
        for key, mask in self._selector.select(timeout):
            if key.fd == self._wakeup_r:
                self._drain_signals()
                continue
            reader, writer = key.data
            if mask & selectors.EVENT_READ and reader is not None:
                self._call(reader)
            if mask & selectors.EVENT_WRITE and writer is not None:
                # The reader may have unregistered the writer meanwhile.
                current = self._current_writer(key.fd)
                if current is not None:
                    self._call(current)
        self._run_due_timers()
        self._run_ready()

    def _current_writer(self, fd: int) -> Callback | None:
        try:
            return self._selector.get_key(fd).data[1]
        except KeyError:
            return None

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
        self._selector.close()
        os.close(self._wakeup_r)
        os.close(self._wakeup_w)


def _ignore_in_handler(signum: int, frame: object) -> None:
    return None


def _print_error(message: str) -> None:
    os.write(2, message.encode(errors="replace"))
