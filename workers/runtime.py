"""Talking to one runtime (a tenant's or the host's) over its control socket.

``update`` does what ``supervisorctl update`` does: re-read the config, then stop and remove
the groups that are gone, replace the changed ones, add the new ones; programs whose config
did not change keep running with their PIDs. ``wait_for`` then polls until each program is in
the state asked for, or says why not (its state, and the tail of its log). Every wait has a
deadline. A runtime that is not up yet (no socket, connection refused, shutting down) raises
``RuntimeUnavailable``, which the jobs treat as transient (RQ retries them).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import xmlrpc.client
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from supervisor_runtime import states as runtime_states
from supervisor_runtime.ctl.client import ServerProxy, ServerUnreachable, connect
from supervisor_runtime.ctl.httpclient import BadResponse
from supervisor_runtime.rpc.faults import FaultCode

# getProcessInfo answers with state names: the runtime's own sets, by name (supervisord's
# STOPPED_STATES include UNKNOWN, as supervisorctl's do).
RUNNING_STATES = frozenset(state.name for state in runtime_states.RUNNING_STATES)
STOPPED_STATES = frozenset(state.name for state in runtime_states.STOPPED_STATES)
POLL_SECONDS = 0.1
# wait_for's first look again comes sooner: a wait that is over within a few milliseconds
# (a program that exits on SIGTERM) cost up to POLL_SECONDS more with a flat delay. (Issue
# 17's click bench did not show it: the stop there is mostly over by the first look.)
FIRST_POLL_SECONDS = 0.005
LOG_TAIL_BYTES = 4096
RPC_TIMEOUT = 30.0
# The largest answer read from a runtime: a 1 MiB log tail, escaped, or getAllProcessInfo
# of thousands of processes fit; a hostile runtime's endless body does not.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
# A config notice's fields and types (supervisor.getConfigNotices), how many are kept, and
# how much of each text (a set-aside value may be a 10 MiB line).
NOTICE_FIELDS: dict[str, type] = {
    "file": str,
    "line": int,
    "section": str,
    "key": str,
    "value": str,
    "error": str,
}
MAX_NOTICES = 20
MAX_NOTICE_CHARS = 300


class RuntimeUnavailable(Exception):
    """The runtime's socket does not answer (yet): a transient condition."""


class RuntimeRefused(Exception):
    """The runtime refused what we asked (e.g. its config does not parse); not transient."""


class ProgramFailed(Exception):
    """A program did not reach the state asked for; ``log_tail`` holds the end of its log."""

    def __init__(self, message: str, log_tail: str | None = None) -> None:
        super().__init__(message)
        self.log_tail = log_tail


@dataclass
class UpdateResult:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"added": self.added, "changed": self.changed, "removed": self.removed}


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (ServerUnreachable, ConnectionRefusedError, FileNotFoundError)):
        return True
    return isinstance(exc, xmlrpc.client.Fault) and exc.faultCode == FaultCode.SHUTDOWN_STATE


def _reason(exc: BaseException) -> str:
    """What went wrong, without the socket's host path (tenants read job errors)."""
    if isinstance(exc, xmlrpc.client.Fault):
        return exc.faultString
    errno = getattr(exc, "errno", None)
    return os.strerror(errno) if errno else type(exc).__name__


def _notice_field(value: Any, kind: type) -> Any:
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else 0
    return value[:MAX_NOTICE_CHARS] if isinstance(value, str) else ""


def clean_notices(notices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Config notices a runtime gave, cut to the known fields, types and sizes."""
    return [
        {key: _notice_field(notice.get(key), kind) for key, kind in NOTICE_FIELDS.items()}
        for notice in notices[:MAX_NOTICES]
    ]


class Runtime:
    """A runtime reached at ``serverurl`` (``unix:///…/run/supervisor.sock``). ``label``
    names it in errors (say "the runtime of app shop"); ``check_peer`` vets each new
    connection before it is used (see workers.peer).

    A tenant's runtime runs the tenant's code as much as the platform's: it may answer
    slowly, a byte at a time, or with a gigabyte. So every call has a deadline for the
    whole call (``timeout``: the socket is shut down when it passes, however the bytes
    trickle in), and an answer larger than MAX_RESPONSE_BYTES is refused unread."""

    def __init__(
        self,
        serverurl: str,
        *,
        timeout: float = RPC_TIMEOUT,
        label: str | None = None,
        check_peer: Callable[[socket.socket], None] | None = None,
    ) -> None:
        self.serverurl = serverurl
        self.label = label or serverurl
        self.timeout = timeout
        self.proxy: ServerProxy = connect(
            serverurl, timeout=timeout, check_peer=check_peer, max_response=MAX_RESPONSE_BYTES
        )

    def close(self) -> None:
        self.proxy.close()

    def abort(self) -> None:
        """End a call in progress from another thread (a deadline)."""
        self.proxy.transport.abort()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, *args: Any) -> Any:
        """``supervisor.<method>(*args)`` (or ``<namespace>.<method>``, e.g.
        ``runtime.getAllProcessHistory``) within the deadline; transient failures become
        RuntimeUnavailable, answers that are not XML-RPC become RuntimeRefused."""
        passed = threading.Event()

        def cut_off() -> None:
            passed.set()  # before the abort: the call fails as soon as the socket shuts
            self.abort()

        deadline = threading.Timer(self.timeout, cut_off)
        deadline.start()
        try:
            namespace, _, name = method.rpartition(".")
            return getattr(getattr(self.proxy, namespace or "supervisor"), name)(*args)
        except (OSError, xmlrpc.client.Fault, ValueError) as exc:
            if passed.is_set():
                message = f"{self.label} did not answer within {self.timeout:g}s"
                raise RuntimeUnavailable(message) from exc
            if isinstance(exc, (BadResponse, ValueError)):
                raise RuntimeRefused(f"{self.label} gave a bad answer: {exc}") from exc
            if is_transient(exc):
                raise RuntimeUnavailable(f"{self.label}: {_reason(exc)}") from exc
            raise
        finally:
            deadline.cancel()

    # -- being up ------------------------------------------------------------------

    def is_up(self) -> bool:
        try:
            return self.call("getState")["statename"] == "RUNNING"
        except RuntimeUnavailable:
            return False

    def wait_up(self, timeout: float) -> None:
        """Until the runtime answers as RUNNING; RuntimeUnavailable after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.is_up():
            if time.monotonic() > deadline:
                raise RuntimeUnavailable(f"{self.label} did not answer within {timeout:g}s")
            time.sleep(POLL_SECONDS)

    # -- state -----------------------------------------------------------------------

    def processes(self) -> list[dict[str, Any]]:
        """getAllProcessInfo, checked to be what supervisord answers: a list of structs
        with a text ``name``, ``group`` and ``statename`` (a tenant's runtime may answer
        anything)."""
        infos = self.call("getAllProcessInfo")
        fields = ("name", "group", "statename")
        if not isinstance(infos, list) or not all(
            isinstance(info, dict) and all(isinstance(info.get(key), str) for key in fields)
            for info in infos
        ):
            raise RuntimeRefused(f"{self.label} gave a bad answer to getAllProcessInfo")
        return infos

    def config_notices(self) -> list[dict[str, Any]]:
        """The tenant files the runtime set aside ([include] skip_broken), as
        {file, line, section, key, value, error}, checked for shape and cut to size (the
        tenant wrote them); none from a runtime without the option."""
        try:
            notices = self.call("getConfigNotices")
        except xmlrpc.client.Fault as exc:
            if exc.faultCode == FaultCode.UNKNOWN_METHOD:
                return []
            raise
        if not isinstance(notices, list) or not all(isinstance(n, dict) for n in notices):
            raise RuntimeRefused(f"{self.label} gave a bad answer to getConfigNotices")
        return clean_notices(notices)

    def states(self) -> dict[str, dict[str, Any]]:
        """Process infos by full name ``group:name``."""
        return {f"{info['group']}:{info['name']}": info for info in self.processes()}

    def groups(self) -> set[str]:
        return {info["group"] for info in self.processes()}

    def log_tail(self, name: str, channel: str = "stdout", nbytes: int = LOG_TAIL_BYTES) -> str:
        method = "tailProcessStderrLog" if channel == "stderr" else "tailProcessStdoutLog"
        try:
            text, _offset, _overflow = self.call(method, name, 0, nbytes)
        except xmlrpc.client.Fault as exc:
            return f"(no log: {exc.faultString})"
        return text

    # -- update ----------------------------------------------------------------------

    def update(self, only: Iterable[str] | None = None, stop_timeout: float = 60.0) -> UpdateResult:
        """reloadConfig, then remove/replace/add groups as ``supervisorctl update`` does
        (limited to the groups in ``only`` when given, as ``supervisorctl update NAME``).
        Convergent: run again after an interruption, it finishes the job."""
        try:
            added, changed, removed = self.call("reloadConfig")[0]
        except xmlrpc.client.Fault as exc:
            if exc.faultCode == FaultCode.CANT_REREAD:
                message = f"the runtime cannot read its config: {exc.faultString}"
                raise RuntimeRefused(message) from None
            raise
        if only is not None:
            keep = set(only)
            added, changed, removed = (
                [g for g in names if g in keep] for names in (added, changed, removed)
            )
        result = UpdateResult(sorted(added), sorted(changed), sorted(removed))
        for group in result.removed:
            self._remove_group(group, stop_timeout)
        for group in result.changed:
            self._remove_group(group, stop_timeout)
            self._add_group(group)
        for group in result.added:
            self._add_group(group)
        return result

    def _add_group(self, group: str) -> None:
        try:
            self.call("addProcessGroup", group)
        except xmlrpc.client.Fault as exc:
            if exc.faultCode != FaultCode.ALREADY_ADDED:
                raise

    def _remove_group(self, group: str, stop_timeout: float) -> None:
        self.stop([group], timeout=stop_timeout)
        deadline = time.monotonic() + stop_timeout
        while True:
            try:
                self.call("removeProcessGroup", group)
                return
            except xmlrpc.client.Fault as exc:
                if exc.faultCode == FaultCode.BAD_NAME:
                    return  # gone already (a retried job)
                if exc.faultCode != FaultCode.STILL_RUNNING or time.monotonic() > deadline:
                    raise
            time.sleep(POLL_SECONDS)

    # -- start / stop ----------------------------------------------------------------

    def targets(
        self, names: Iterable[str] | None, states: dict[str, dict[str, Any]] | None = None
    ) -> list[str]:
        """Full process names for program/group names (``None`` or "all" means all), among
        ``states`` (default: asked for)."""
        states = self.states() if states is None else states
        if names is None:
            return sorted(states)
        names = list(names)
        if "all" in names:
            return sorted(states)
        wanted = []
        for name in names:
            matches = [
                full
                for full, info in states.items()
                if name in (full, info["group"]) or (":" not in name and info["name"] == name)
            ]
            if not matches:
                raise RuntimeRefused(f"no such program: {name}")
            wanted += matches
        return sorted(set(wanted))

    def start(self, names: Iterable[str] | None = None, timeout: float = 60.0) -> list[str]:
        """Start the processes of ``names`` that are not running and wait until all are
        RUNNING; ProgramFailed (with its log tail) otherwise."""
        states = self.states()  # one look serves both (a click waits for each)
        targets = self.targets(names, states)
        for full in targets:
            if states[full]["statename"] not in RUNNING_STATES:
                try:
                    self.call("startProcess", full, False)
                except xmlrpc.client.Fault as exc:
                    if exc.faultCode != FaultCode.ALREADY_STARTED:
                        raise ProgramFailed(
                            f"{full} cannot start: {exc.faultString}", self.log_tail(full)
                        ) from None
        self.wait_for(running=targets, timeout=timeout)
        return targets

    def stop(self, names: Iterable[str] | None = None, timeout: float = 60.0) -> list[str]:
        """Stop the processes of ``names`` and wait until none runs."""
        states = self.states()
        try:
            targets = self.targets(names, states)
        except RuntimeRefused:
            return []  # nothing by that name runs: stopped already
        for full in targets:
            if states[full]["statename"] in RUNNING_STATES:
                try:
                    self.call("stopProcess", full, False)
                except xmlrpc.client.Fault as exc:
                    if exc.faultCode != FaultCode.NOT_RUNNING:
                        raise
        self.wait_for(stopped=targets, timeout=timeout)
        return targets

    def restart(self, names: Iterable[str] | None = None, timeout: float = 60.0) -> list[str]:
        names = list(names) if names is not None else None
        self.stop(names, timeout)
        return self.start(names, timeout)

    # -- waiting ---------------------------------------------------------------------

    def wait_for(
        self,
        *,
        running: Iterable[str] = (),
        stopped: Iterable[str] = (),
        gone_groups: Iterable[str] = (),
        timeout: float = 60.0,
    ) -> dict[str, dict[str, Any]]:
        """Poll until every process in ``running`` is RUNNING, every one in ``stopped`` is
        stopped and no process of ``gone_groups`` remains. A process that cannot get there
        any more (FATAL, or STOPPED while it should run) fails at once; the rest fail at the
        deadline. Names are full names (``group:name``)."""
        running, stopped, gone = set(running), set(stopped), set(gone_groups)
        deadline = time.monotonic() + timeout
        delays = poll_delays()
        while True:
            states = self.states()
            waiting: list[str] = []
            for full in sorted(running):
                info = states.get(full)
                if info is None:
                    waiting.append(f"{full} is not configured")
                    continue
                state = info["statename"]
                if state == "RUNNING":
                    continue
                if state in ("FATAL", "STOPPED"):
                    raise self._failure(full, info)
                waiting.append(f"{full} is {state}")
            for full in sorted(stopped):
                info = states.get(full)
                if info is not None and info["statename"] not in STOPPED_STATES:
                    waiting.append(f"{full} is {info['statename']}")
            groups = {info["group"] for info in states.values()}
            waiting += [f"group {group} is still there" for group in sorted(gone & groups)]
            if not waiting:
                return states
            if time.monotonic() > deadline:
                first = next((f for f in sorted(running) if f in states), None)
                tail = self.log_tail(first) if first is not None else None
                raise ProgramFailed(f"gave up after {timeout:g}s: {'; '.join(waiting)}", tail)
            time.sleep(next(delays))

    def _failure(self, full: str, info: dict[str, Any]) -> ProgramFailed:
        detail = info.get("spawnerr") or info.get("description") or ""
        message = f"{full} is {info['statename']}" + (f" ({detail})" if detail else "")
        return ProgramFailed(message, self.log_tail(full))


def poll_delays() -> Iterator[float]:
    """The sleeps between wait_for's looks: FIRST_POLL_SECONDS, doubling up to POLL_SECONDS
    (looks at 0, 5, 15, 35, 75 ms, then 10 a second: one getAllProcessInfo each)."""
    delay = FIRST_POLL_SECONDS
    while True:
        yield delay
        delay = min(delay * 2, POLL_SECONDS)


def full_names(group: str, process_names: Iterable[str]) -> list[str]:
    return [f"{group}:{name}" for name in process_names]
