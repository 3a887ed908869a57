"""LiveUpgrade: one daemon's live upgrade, from the request to the exec.

A request (``runtime.liveUpgrade``, SIGUSR1) runs the pre-flight checks at once and
answers; the exec follows on the next loop turn, after the answer has gone out. The new
daemon is the same process (same pid), started as this one was (same interpreter, same
argv, from the same directory), so a newer installed release takes over the children.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING, NamedTuple, Protocol

from .. import VERSION
from ..states import SupervisorState
from . import HANDOVER_ENV

# The rest is imported when an upgrade is asked for: every daemon creates a LiveUpgrade,
# few ever use it, and start-up time counts (json, subprocess).

if TYPE_CHECKING:
    from typing import Any

    from ..listeners import Listener
    from ..supervisor import Supervisor


QUIET_WAIT = 1.0  # how long calls under way may take before the exec cuts them off
QUIET_POLL = 0.005


class ControlServerLike(Protocol):
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    @property
    def quiet(self) -> bool: ...


class Origin(NamedTuple):
    """How the daemon was started: what a live upgrade runs again."""

    executable: str
    argv: tuple[str, ...]
    cwd: str  # before daemonizing moved it: a relative -c path is relative to this

    @classmethod
    def of_this_process(cls, cwd: str) -> Origin:
        return cls(sys.executable, tuple(sys.orig_argv), cwd)


def _in_directory(path: str, run: Callable[[], None]) -> None:
    """``run()`` with ``path`` as the working directory, then back."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        run()
    finally:
        os.chdir(previous)


def files_are_read_only() -> bool:
    """Whether this package's directory is on a read-only filesystem."""
    try:
        return bool(os.statvfs(os.path.dirname(__file__)).f_flag & os.ST_RDONLY)
    except OSError:
        return False


class LiveUpgrade:
    def __init__(
        self,
        supervisor: Supervisor,
        listeners: list[Listener],
        origin: Origin,
        *,
        generation: int = 0,
        environment: dict[str, str] | None = None,
        before_exec: Callable[[], None] = lambda: None,
        after_failed_exec: Callable[[], None] = lambda: None,
    ) -> None:
        self.supervisor = supervisor
        self.listeners = listeners
        self.origin = origin
        self.generation = generation  # live upgrades this daemon has been through
        self.started = time.time()
        # The environment the new daemon gets (NOTIFY_SOCKET back in, see runner).
        self.environment = dict(os.environ if environment is None else environment)
        self.before_exec = before_exec
        self.after_failed_exec = after_failed_exec
        self._scheduled = False
        self._quiet_deadline = 0.0
        # The control server, once attached (the runner sets it): paused before the exec.
        self.control: ControlServerLike | None = None

    def preload(self) -> None:
        """Import the code this daemon runs for an upgrade, once its programs are started.

        Not at the request: by then a new release may be installed over the files, and
        this (old) daemon must run its own release's checks and hand-over, not the new
        one's. Not at import either: start-up time counts, and most daemons never upgrade.
        Not at all when this release's files are on a read-only filesystem (a tenant
        container's view of them, workers/container/assets.py): nothing can be installed
        over them, and these modules stay out of every tenant runtime (issue 18).
        """
        if files_are_read_only():
            return
        from . import fields, handover, preflight, reexec  # noqa: F401

    def info(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "version": VERSION,
            "pid": os.getpid(),
            "started": int(self.started),
        }

    def request(self, who: str) -> dict[str, Any]:
        """Check, then exec on the next loop turn; raises UpgradeRefused (nothing done)."""
        from .preflight import UpgradeRefused, check_applied, check_new_code

        log = self.supervisor.log
        if self.supervisor.mood < SupervisorState.RUNNING:
            raise UpgradeRefused("supervisord is shutting down or reloading")
        if self._scheduled:
            raise UpgradeRefused("a live upgrade is already under way")
        log.warn(f"live upgrade requested by {who}: checking the new code")
        try:
            # From the start-up directory, as the new daemon will read it: a relative -c
            # path was relative to it, not to where daemonizing moved (directory=).
            _in_directory(self.origin.cwd, lambda: check_applied(self.supervisor))
            summary = check_new_code(
                self.supervisor,
                self.origin.executable,
                self.origin.argv,
                self.origin.cwd,
                self.environment,
            )
        except UpgradeRefused as refusal:
            log.error(f"live upgrade refused: {refusal}")
            raise
        log.info(f"live upgrade: release {summary['version']} passed its check")
        self._scheduled = True
        self.supervisor.loop.call_soon(self._exec)
        return self.info()

    def _exec(self) -> None:
        """Accept no one new, let the calls under way finish (at most QUIET_WAIT), then
        exec: a client is never cut off in the middle of a call it already made."""
        if self.control is not None:
            self.control.pause()
        self._quiet_deadline = time.monotonic() + QUIET_WAIT
        self._exec_when_quiet()

    def _exec_when_quiet(self) -> None:
        loop = self.supervisor.loop
        if self.supervisor.mood < SupervisorState.RUNNING:
            # A shutdown or reload was asked for meanwhile: it wins.
            self.supervisor.log.warn("live upgrade abandoned: supervisord is stopping")
            self._undo()
            return
        quiet = self.control is None or self.control.quiet
        if not quiet and time.monotonic() < self._quiet_deadline:
            loop.call_later(QUIET_POLL, self._exec_when_quiet)
            return
        from .handover import write_document
        from .reexec import reexec

        log = self.supervisor.log
        document, keep = self._capture()
        fd = write_document(document)
        environment = dict(self.environment, **{HANDOVER_ENV: str(fd)})
        log.warn(
            f"live upgrade: re-executing {' '.join(self.origin.argv)} with "
            f"{len(keep)} descriptors handed over"
        )
        self.before_exec()
        error = reexec(
            self.origin.executable, self.origin.argv, self.origin.cwd, environment, [*keep, fd]
        )
        os.close(fd)
        log.critical(f"live upgrade failed, this daemon goes on: cannot exec: {error}")
        self._undo()
        self.after_failed_exec()

    def _undo(self) -> None:
        self._scheduled = False
        if self.control is not None:
            self.control.resume()

    def _capture(self) -> tuple[dict[str, Any], list[int]]:
        from .fields import child_descriptors, freeze_event, save_process
        from .handover import FORMAT

        supervisor = self.supervisor
        processes: dict[str, dict[str, Any]] = {}
        keep: list[int] = [listener.sock.fileno() for listener in self.listeners]
        for name, group in supervisor.groups.items():
            saved_group = processes[name] = {}
            for process_name, process in group.processes.items():
                saved = saved_group[process_name] = save_process(process, supervisor)
                keep += child_descriptors(saved.get("child"))
        document = {
            "format": FORMAT,
            "version": VERSION,
            "generation": self.generation + 1,
            "origin_cwd": self.origin.cwd,
            "cwd": os.getcwd(),
            "pidfile": supervisor.config.pidfile,
            "logfile": supervisor.config.logfile,
            "listeners": [
                {"kind": listener.kind, "fd": listener.sock.fileno(), "path": listener.path}
                for listener in self.listeners
            ],
            "events": {"serial": supervisor.events.upcoming_serial()},
            "pools": {
                name: {
                    "serial": pool.upcoming_pool_serial(),
                    "buffer": [freeze_event(event) for event in pool.buffer],
                }
                for name, pool in supervisor.pools.items()
            },
            "processes": processes,
        }
        return document, keep
