"""Ours, opt-in ([supervisord] history = true): each process's last state transitions and why.

A ``HistoryBook`` listens to the daemon's PROCESS_STATE events and keeps, per process, the
last ``history_size`` transitions with their reason:

- an exit: its exit status or the signal that ended it, and whether the kernel's OOM
  killer sent that signal (oom.py);
- a request: who asked, from the control server's request in progress (``requested``):
  the caller's uid and pid (SO_PEERCRED) on the unix socket, the authenticated user on
  the inet one; a request that changes the configuration (add/remove a group, as
  ``update`` does) or the daemon (shutdown, reload) says so;
- a cause named by other code, e.g. a failed health check (restart_reason.py);
- otherwise what supervisord itself decided: autostart, autorestart, a backoff retry,
  RUNNING after startsecs, FATAL after startretries.

An unexpected exit (EXITED with a status not in ``exitcodes`` or by a signal supervisord
did not send, BACKOFF after a failed start, FATAL) also keeps ``log_tail``: the last
``history_log_lines`` lines the program wrote on stdout and stderr, from the in-memory tail
the daemon keeps of its pipes (output_tail.py; never read back from a log file).

A cause stays with the process for the transitions that follow it (a restart is a stop,
an exit and a start) until it reaches RUNNING, EXITED or FATAL or another cause replaces
it. Histories are kept by group and process name, so a group that ``update`` removes and
adds again keeps its past; those of removed processes are forgotten oldest first beyond
``MAX_REMOVED``. Memory is bounded: ``history_size`` entries per process.
"""

from __future__ import annotations

import _signal as signal  # the C half, without the enums: see signals.py
import os
from collections import deque
from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING, NamedTuple

from .events import (
    ProcessGroupAddedEvent,
    ProcessGroupRemovedEvent,
    ProcessStateEvent,
    SupervisorStoppingEvent,
)
from .oom import OomSource, find_source, read_counter
from .output_tail import OutputTail
from .signals import decode_wait_status, signame
from .states import ProcessState, SupervisorState

if TYPE_CHECKING:
    from .process import Process
    from .supervisor import Supervisor

OOM_READ_INTERVAL = 1.0  # seconds a read of the OOM kill count serves process starts
MAX_REMOVED = 256  # histories of removed processes kept for a later `history` or re-add
Key = tuple[str, str]  # (group name, process name)

# Requests whose effect is a configuration change or the daemon's own shutdown/reload.
_METHOD_KINDS = {
    "addProcessGroup": "config",
    "removeProcessGroup": "config",
    "reloadConfig": "config",
    "shutdown": "shutdown",
    "restart": "reload",
}
_PREFIXES = {"config": "configuration change: ", "shutdown": "shutdown: ", "reload": "reload: "}


class Requester(NamedTuple):
    """Who sent a request: peer credentials on the unix socket, the user on the inet one."""

    via: str  # "unix" or "inet"
    uid: int | None = None
    pid: int | None = None
    user: str | None = None  # the authenticated user name, when the server asks for one
    peer: str = ""  # address:port on the inet socket

    def words(self) -> str:
        """``uid 1000 (alice), pid 4242 on the unix socket``, ``user admin from
        127.0.0.1:50312 on the inet socket``."""
        if self.via == "unix":
            parts = ["an unknown uid" if self.uid is None else f"uid {self.uid}"]
            if self.uid is not None:
                parts[0] += f" ({_user_name(self.uid)})"
            if self.pid:
                parts.append(f"pid {self.pid}")
            if self.user:
                parts.append(f"user {self.user}")
            return ", ".join(parts) + " on the unix socket"
        who = f"user {self.user}" if self.user else "an unauthenticated client"
        return f"{who} from {self.peer} on the inet socket" if self.peer else who

    def as_struct(self) -> dict[str, object]:
        struct: dict[str, object] = {"via": self.via}
        if self.uid is not None:
            struct["uid"] = self.uid
        if self.pid is not None:
            struct["pid"] = self.pid
        if self.user:
            struct["user"] = self.user
        if self.peer:
            struct["peer"] = self.peer
        return struct


_USER_NAMES: dict[int, str] = {}  # getpwuid reads /etc/passwd: once per uid is enough


def _user_name(uid: int) -> str:
    if uid not in _USER_NAMES:
        import pwd  # only when a request changes a process

        try:
            _USER_NAMES[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            _USER_NAMES[uid] = "no name"
    return _USER_NAMES[uid]


class Cause(NamedTuple):
    kind: str  # "request", "config", "shutdown", "reload", "health", ...
    text: str
    requester: Requester | None = None


class Transition(NamedTuple):
    """One entry: ``from_state`` -> ``to_state`` at ``time`` (wall clock) and why."""

    time: float
    from_state: str  # a state name; "" before a process's first transition
    to_state: str  # a state name, or "REMOVED" when update removed its group
    reason: str  # "exit", "signal", "oom", "request", "config", "health", "autostart", ...
    description: str
    pid: int = 0
    exitstatus: int | None = None
    signal: int | None = None
    requester: Requester | None = None
    log_tail: str | None = None  # the last output, on an unexpected exit only

    def as_struct(self) -> dict[str, object]:
        struct: dict[str, object] = {
            "time": self.time,
            "from": self.from_state,
            "to": self.to_state,
            "reason": self.reason,
            "description": self.description,
            "pid": self.pid,
        }
        if self.exitstatus is not None:
            struct["exitstatus"] = self.exitstatus
        if self.signal is not None:
            struct["signal"] = signame(self.signal)
        if self.requester is not None:
            struct["requester"] = self.requester.as_struct()
        if self.log_tail is not None:
            struct["log_tail"] = self.log_tail
        return struct


class HistoryBook:
    def __init__(self, size: int, wallclock: Callable[[], float]) -> None:
        self.size = size
        self._wallclock = wallclock
        self._entries: dict[Key, deque[Transition]] = {}
        self._removed: dict[Key, None] = {}  # insertion-ordered: oldest removal first
        self._causes: dict[Key, Cause] = {}
        self._oom_source: OomSource | None = find_source()
        self._oom_at_start: dict[Key, int] = {}
        self._oom_read: tuple[float, int | None] = (float("-inf"), None)  # (when, count)
        self._request: Callable[[], Requester] | None = None
        self._request_method = ""
        self._cause_of_request: Cause | None = None
        self._daemon_cause: Cause | None = None
        self._supervisor: Supervisor | None = None
        self.log_lines = 0  # history_log_lines: 0 keeps no output tail

    def attach(self, supervisor: Supervisor) -> None:
        """Listen to ``supervisor``'s events (once per daemon run; the book outlives a
        reload)."""
        self._supervisor = supervisor
        self.log_lines = supervisor.config.history_log_lines
        self._daemon_cause = None
        events = supervisor.events
        events.subscribe(ProcessStateEvent, self._on_state)
        events.subscribe(SupervisorStoppingEvent, self._on_stopping)
        events.subscribe(ProcessGroupAddedEvent, self._on_group_added)
        events.subscribe(ProcessGroupRemovedEvent, self._on_group_removed)

    def resize(self, size: int) -> None:
        if size != self.size:
            self.size = size
            self._entries = {k: deque(v, maxlen=size) for k, v in self._entries.items()}

    # -- reading ------------------------------------------------------------------

    def transitions(self, group: str, name: str) -> list[Transition]:
        return list(self._entries.get((group, name), ()))

    def last(self, group: str, name: str) -> Transition | None:
        """The newest transition of a process, if any."""
        entries = self._entries.get((group, name))
        return entries[-1] if entries else None

    def tail_of(self, process: Process) -> OutputTail | None:
        assert self._supervisor is not None
        return self._supervisor.logs_of(process).tail

    def take_over(self, group: str, name: str, transitions: list[Transition]) -> None:
        """A process's transitions as the daemon before a live upgrade had them."""
        self._entries[(group, name)] = deque(transitions, maxlen=self.size)

    # -- the request in progress -----------------------------------------------------

    def begin_request(self, requester: Callable[[], Requester]) -> None:
        """A control request is being handled: transitions it causes are its doing.
        ``requester`` is called only if one does (SO_PEERCRED costs a system call)."""
        self._request, self._request_method, self._cause_of_request = requester, "", None

    def request_method(self, method: str) -> None:
        self._request_method = method

    def end_request(self) -> None:
        self._request = self._cause_of_request = None

    def _request_cause(self) -> Cause | None:
        """The cause the request in progress gives, made once per request."""
        if self._request is None or self._cause_of_request is not None:
            return self._cause_of_request
        requester = self._request()
        method = self._request_method.rpartition(".")[2]
        kind = _METHOD_KINDS.get(method, "request")
        what = f"{method or 'a request'} by {requester.words()}"
        self._cause_of_request = Cause(kind, _PREFIXES.get(kind, "") + what, requester)
        return self._cause_of_request

    # -- causes named by other code ---------------------------------------------------

    def note_cause(self, process: Process, kind: str, text: str) -> None:
        """Record ``text`` now, and give it as the reason of the transitions that follow."""
        key = (process.group_name, process.name)
        self._causes[key] = Cause(kind, text)
        state = process.state.name
        self._add(key, Transition(self._wallclock(), state, state, kind, text, process.pid))

    # -- events ---------------------------------------------------------------------

    def _on_stopping(self, event: SupervisorStoppingEvent) -> None:
        cause = self._request_cause()
        if cause is None:
            assert self._supervisor is not None
            restarting = self._supervisor.mood is SupervisorState.RESTARTING
            kind = "reload" if restarting else "shutdown"
            cause = Cause(kind, f"supervisord {'reloading' if restarting else 'shutting down'}")
        self._daemon_cause = cause

    def _on_group_added(self, event: ProcessGroupAddedEvent) -> None:
        cause = self._request_cause()
        assert self._supervisor is not None
        group = self._supervisor.groups[event.group]
        for process in group.processes.values():
            key = (group.name, process.name)
            self._removed.pop(key, None)
            if self.log_lines:
                self._supervisor.logs_of(process).tail = OutputTail()
            if cause is not None:  # at boot every group is added: nothing worth a line
                self._causes[key] = cause
                was = "REMOVED" if key in self._entries else ""
                text = f"added: {cause.text}"
                self._add(
                    key,
                    Transition(
                        self._wallclock(),
                        was,
                        "STOPPED",
                        cause.kind,
                        text,
                        requester=cause.requester,
                    ),
                )

    def _on_group_removed(self, event: ProcessGroupRemovedEvent) -> None:
        cause = self._request_cause()
        for key in [k for k in self._entries if k[0] == event.group]:
            entries = self._entries[key]
            was = entries[-1].to_state if entries else ""
            text = f"removed: {cause.text}" if cause else "removed"
            self._add(
                key,
                Transition(
                    self._wallclock(),
                    was,
                    "REMOVED",
                    "config",
                    text,
                    requester=cause.requester if cause else None,
                ),
            )
            self._causes.pop(key, None)
            self._removed[key] = None
        while len(self._removed) > MAX_REMOVED:
            oldest = next(iter(self._removed))
            del self._removed[oldest]
            self._entries.pop(oldest, None)

    def _on_state(self, event: ProcessStateEvent) -> None:
        process = event.process
        key = (process.group_name, process.name)
        new, old = process.state, event.from_state
        cause = self._request_cause() or self._daemon_cause
        if cause is not None:
            self._causes[key] = cause
        else:
            cause = self._causes.get(key)
        entry = self._describe(key, process, old, new, event.pid, cause)
        tail = self.tail_of(process) if self.log_lines else None
        if tail is not None and new is ProcessState.STARTING:
            tail.clear()  # a new child: the last one's output is not its own
        elif tail is not None and _unexpected(process, entry):
            entry = entry._replace(log_tail=tail.text(self.log_lines))
        self._add(key, entry)
        if new in (ProcessState.RUNNING, ProcessState.EXITED, ProcessState.FATAL):
            self._causes.pop(key, None)

    def _add(self, key: Key, entry: Transition) -> None:
        entries = self._entries.get(key)
        if entries is None:
            entries = self._entries[key] = deque(maxlen=self.size)
        entries.append(entry)

    # -- reasons ----------------------------------------------------------------------

    def _describe(
        self,
        key: Key,
        process: Process,
        old: ProcessState,
        new: ProcessState,
        pid: int,
        cause: Cause | None,
    ) -> Transition:
        now = self._wallclock()

        def entry(
            reason: str, text: str, exitstatus: int | None = None, sig: int | None = None
        ) -> Transition:
            # Who asked, on the entries that are the request's doing.
            asked = cause is not None and reason == cause.kind
            requester = cause.requester if asked and cause is not None else None
            return Transition(
                now, old.name, new.name, reason, text, pid, exitstatus, sig, requester
            )

        exited = pid and process.waitstatus is not None and new in _AFTER_EXIT
        if new is ProcessState.STARTING:
            start_count = self._oom_count(now)
            if start_count is not None:
                self._oom_at_start[key] = start_count
            if cause is not None:
                return entry(cause.kind, cause.text)
            if old is ProcessState.BACKOFF:
                return entry("backoff", f"start attempt {process.backoff + 1} after backoff")
            if old is ProcessState.EXITED:
                return entry("autorestart", f"autorestart={process.config.autorestart.value}")
            return entry("autostart", "autostart")
        if exited:
            assert process.waitstatus is not None
            reason, text, code, sig = self._exit(key, process.waitstatus)
            if new is ProcessState.STOPPED and cause is not None:
                return entry(cause.kind, f"{text}; {cause.text}", code, sig)
            if new is ProcessState.BACKOFF:
                text += f" within startsecs ({process.config.startsecs} s); " + _retry(process, now)
            elif new is ProcessState.EXITED:
                expected = code in process.config.exitcodes
                text += "; expected" if expected else "; not expected"
            return entry(reason, text, code, sig)
        if new is ProcessState.RUNNING:
            return entry("started", f"up for {process.config.startsecs} s (startsecs)")
        if new is ProcessState.BACKOFF:
            text = process.spawnerr or "could not spawn"
            return entry("spawnerr", f"{text}; {_retry(process, now)}")
        if new is ProcessState.FATAL:
            if cause is not None and cause.kind in ("shutdown", "reload"):
                return entry(cause.kind, f"given up while in BACKOFF; {cause.text}")
            return entry("fatal", "too many start retries too quickly (startretries)")
        if new is ProcessState.UNKNOWN:
            return entry("error", "could not signal it (see the main log)")
        if cause is not None:
            return entry(cause.kind, cause.text)
        return entry("stop", "stopped")

    def _oom_count(self, now: float) -> int | None:
        """The OOM kill count for a process that starts now: read at most once a second
        (500 programs starting at once share one read). A count up to a second old can
        only make an OOM kill of that second look like this process's, if this process
        also dies of SIGKILL: rare, and then the words say which counter moved."""
        when, count = self._oom_read
        if self._oom_source is not None and not 0 <= now - when < OOM_READ_INTERVAL:
            count = read_counter(self._oom_source.path)
            self._oom_read = (now, count)
        return count

    def _exit(self, key: Key, status: int) -> tuple[str, str, int | None, int | None]:
        """(reason, words, exit status, signal) of a wait status."""
        _, words = decode_wait_status(status)
        if os.WIFEXITED(status):
            return "exit", words, os.WEXITSTATUS(status), None
        if not os.WIFSIGNALED(status):
            return "exit", words, None, None
        sig = os.WTERMSIG(status)
        at_start = self._oom_at_start.pop(key, None)
        source = self._oom_source
        if sig == signal.SIGKILL and source is not None and at_start is not None:
            now = read_counter(source.path)
            self._oom_read = (self._wallclock(), now)
            if now is not None and now > at_start:
                if source.scope == "cgroup":
                    words = (
                        f"killed by the kernel's OOM killer ({words}; oom_kill "
                        f"{at_start} -> {now} in {source.path})"
                    )
                else:
                    words = (
                        f"{words}, probably by the kernel's OOM killer (its count "
                        f"of the whole machine went {at_start} -> {now})"
                    )
                return "oom", words, None, sig
        return "signal", words, None, sig


def _retry(process: Process, now: float) -> str:
    if process.config.backoff is None and process.backoff > process.config.startretries:
        return "no attempt left (startretries)"
    return f"next attempt in {max(0.0, process.delay - now):.1f} s"


def _unexpected(process: Process, entry: Transition) -> bool:
    """A crash worth its output: an exit not in exitcodes (or by a signal supervisord did
    not send: those stops are STOPPED), a failed start, or giving up (not at shutdown)."""
    if entry.to_state == "EXITED":
        return entry.exitstatus not in process.config.exitcodes
    if entry.to_state == "FATAL":
        return entry.reason not in ("shutdown", "reload")
    return entry.to_state == "BACKOFF"


# The states a process enters when its child has just exited.
_AFTER_EXIT = (ProcessState.STOPPED, ProcessState.EXITED, ProcessState.BACKOFF)


def open_book(supervisor: Supervisor, size: int, previous: HistoryBook | None) -> HistoryBook:
    """The daemon run's book: the previous run's (a reload keeps the past), or a new one."""
    book = previous if previous is not None else HistoryBook(size, supervisor.wallclock)
    book.resize(size)
    book.attach(supervisor)
    return book
