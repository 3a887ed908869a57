"""Ours, opt-in: the probing of one process's readiness and liveness checks (health.py).

Imported by the monitor when a group with a check is added, so a runtime whose programs
declare none (every tenant's, today) keeps this code out (issue 18: what the daemon
imports).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING

from .config.check_model import CheckConfig
from .loop import TimerHandle
from .restarts import restart_process
from .states import ProcessState

if TYPE_CHECKING:
    from typing import Any

    from .health import HealthMonitor
    from .probes import Probe
    from .process import Process
    from .supervisor import Supervisor

# on_result(ok, detail) -> whether to keep probing.
OnResult = Callable[[bool, str], bool]


class CheckRunner:
    """Runs one check of one process again and again, one probe at a time."""

    def __init__(
        self, supervisor: Supervisor, process: Process, check: CheckConfig, on_result: OnResult
    ) -> None:
        self.supervisor = supervisor
        self.process = process
        self.check = check
        self.on_result = on_result
        self._timer: TimerHandle | None = None
        self._probe: Probe | None = None

    @property
    def active(self) -> bool:
        return self._timer is not None or self._probe is not None

    def start(self) -> None:
        """First probe ``startperiod`` seconds after the spawn (at once if that is past)."""
        self.stop()
        delay = self.process.laststart + self.check.startperiod - self.supervisor.wallclock()
        self._timer = self.supervisor.loop.call_later(max(0.0, delay), self._run)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._probe is not None:
            probe, self._probe = self._probe, None
            probe.cancel()

    def _run(self) -> None:
        self._timer = None
        from .probes import start_probe  # only a daemon with checks runs them

        config = self.process.config
        other_user = config.uid is not None and config.uid != os.geteuid()
        self._probe = start_probe(
            self.supervisor.loop,
            self.check,
            self._done,
            lambda command, on_exit: self.supervisor.spawn_helper(self.process, command, on_exit),
            other_user,
        )

    def _done(self, ok: bool, detail: str) -> None:
        self._probe = None
        if self.on_result(ok, detail) and self._timer is None:
            self._timer = self.supervisor.loop.call_later(self.check.interval, self._run)


class ProcessHealth:
    """What the checks of one process have found since its last spawn."""

    def __init__(self, monitor: HealthMonitor, process: Process) -> None:
        self.process = process
        self.monitor = monitor
        self.ready = False
        self.failures = 0  # liveness probes failed in a row
        self.last_detail = ""  # what the last probe of either check said
        config = process.config
        supervisor = monitor.supervisor
        self.readiness = (
            CheckRunner(supervisor, process, config.readycheck, self._readiness_result)
            if config.readycheck is not None
            else None
        )
        self.liveness = (
            CheckRunner(supervisor, process, config.healthcheck, self._liveness_result)
            if config.healthcheck is not None
            else None
        )

    def state_changed(self, state: ProcessState) -> None:
        if state is ProcessState.STARTING:
            self.stop()
            self.ready = False
            self.failures = 0
            self.last_detail = ""
            if self.readiness is not None:
                self.readiness.start()
        elif state is ProcessState.RUNNING:
            if self.liveness is not None and not self.liveness.active:
                self.liveness.start()
        else:
            self.stop()
            if self.ready:
                self.ready = False
                self.monitor.readiness_changed(self.process)

    def stop(self) -> None:
        for runner in (self.readiness, self.liveness):
            if runner is not None:
                runner.stop()

    def _readiness_result(self, ok: bool, detail: str) -> bool:
        self.last_detail = detail
        name = self.process.name
        if not ok:
            self.monitor.supervisor.log.debug(f"{name} is not ready yet: {detail}")
            return True
        self.ready = True
        self.monitor.supervisor.log.info(f"ready: {name} ({detail})")
        self.monitor.readiness_changed(self.process)
        return False

    def _liveness_result(self, ok: bool, detail: str) -> bool:
        self.last_detail = detail
        check = self.process.config.healthcheck
        assert check is not None
        if ok:
            self.failures = 0
            return True
        self.failures += 1
        supervisor = self.monitor.supervisor
        supervisor.log.warn(
            f"health check of {self.process.name} failed ({self.failures} of "
            f"{check.failures}): {detail}"
        )
        if self.failures < check.failures:
            return True
        restart_process(supervisor, self.process, f"health check failed: {detail}")
        return False

    def as_struct(self) -> dict[str, Any]:
        config = self.process.config
        return {
            "name": self.process.name,
            "group": self.process.group_name,
            "readycheck": config.readycheck.target if config.readycheck else "",
            "ready": self.ready,
            "healthcheck": config.healthcheck.target if config.healthcheck else "",
            "failures": self.failures,
            "last_check": self.last_detail,
        }
