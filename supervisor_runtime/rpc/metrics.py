"""Ours, opt-in ([supervisord] metrics = true): ``GET /metrics`` for Prometheus.

Served by every HTTP server of the daemon (the unix socket and the inet port), behind that
server's own authentication (server.py checks it before routing). Without the key the path
is a 404, as stock's. The page is the Prometheus text format 0.0.4 (prometheus.py), made
at each scrape from the tables the daemon keeps anyway plus the counters of counters.py;
docs/RUNTIME_METRICS.md lists the metrics.

A process's state is one series, ``supervisord_process_state{group,name,state}``: its
value is supervisord's state number (getProcessInfo's ``state``), the ``state`` label its
name, so a Grafana table shows the name and a state timeline maps the numbers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .. import SUPERVISOR_VERSION, VERSION
from ..states import ProcessState
from .prometheus import CONTENT_TYPE, Exposition, Sample, escape_label, labels

if TYPE_CHECKING:
    from ..counters import Counts
    from ..process import Process
    from ..supervisor import Supervisor
    from .http import Request, Responder

Row = tuple[str, "Process"]  # ('group="g",name="n"', the process)


class MetricsPage:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        # 'group="g",name="n"' per process: escaped once, not at every scrape.
        self._label_text: dict[tuple[str, str], str] = {}
        self._start_time: float | None = None

    def handle(self, request: Request, responder: Responder) -> None:
        if request.method not in ("GET", "HEAD"):
            responder.error(405, headers=[("Allow", "GET, HEAD")])
            return
        responder.respond(200, self.render(), CONTENT_TYPE)

    # -- the page ---------------------------------------------------------------------

    def render(self) -> bytes:
        supervisor = self.supervisor
        page = Exposition()
        self._daemon(page)
        rows = [(self._process_labels(p), p) for p in supervisor.all_processes()]
        now = supervisor.wallclock()

        def each(value_of: Callable[[Process], float]) -> Iterator[Sample]:
            return ((f"{{{text}}}", value_of(p)) for text, p in rows)

        page.family(
            "supervisord_process_state",
            "gauge",
            "The state of the process: supervisord's state number, its name in the state label.",
            ((f'{{{text},state="{p.state.name}"}}', int(p.state)) for text, p in rows),
        )
        page.family(
            "supervisord_process_up",
            "gauge",
            "1 while the process is RUNNING, else 0.",
            each(lambda p: int(p.state is ProcessState.RUNNING)),
        )
        page.family(
            "supervisord_process_start_time_seconds",
            "gauge",
            "When the process was last started, in seconds since the epoch (0: never).",
            each(lambda p: p.laststart),
        )
        page.family(
            "supervisord_process_uptime_seconds",
            "gauge",
            "Seconds since the running child was started (0 when no child runs).",
            each(lambda p: max(0.0, now - p.laststart) if p.pid else 0.0),
        )
        page.family(
            "supervisord_process_exit_status",
            "gauge",
            "The exit status of the last child that exited (as getProcessInfo's exitstatus).",
            each(lambda p: p.exitstatus or 0),
        )
        page.family(
            "supervisord_process_backoff_tries",
            "gauge",
            "Failed starts in a row (BACKOFF); 0 once a start reaches RUNNING.",
            each(lambda p: p.backoff),
        )
        counters = supervisor.counters
        if counters is not None:
            page.family(
                "supervisord_process_starts_total",
                "counter",
                "Starts of the process, by the restart history's reason when history = true.",
                self._by_reason(rows, counters.starts),
            )
            page.family(
                "supervisord_process_exits_total",
                "counter",
                "Exits of the process's children, by the restart history's reason "
                "when history = true.",
                self._by_reason(rows, counters.exits),
            )
        page.family(
            "supervisord_process_log_bytes_total",
            "counter",
            "Bytes the process wrote on its stdout or stderr (stream label).",
            self._log_bytes(rows),
        )
        return page.body()

    def _process_labels(self, process: Process) -> str:
        key = (process.group_name, process.name)
        text = self._label_text.get(key)
        if text is None:
            if len(self._label_text) > 4 * len(self.supervisor.groups) + 1024:
                self._label_text.clear()  # groups came and went: forget the old names
            text = f'group="{escape_label(key[0])}",name="{escape_label(key[1])}"'
            self._label_text[key] = text
        return text

    @staticmethod
    def _by_reason(rows: list[Row], table: dict[tuple[str, str], Counts]) -> Iterator[Sample]:
        for text, process in rows:
            counts = table.get((process.group_name, process.name))
            if not counts:
                continue
            for reason, count in sorted(counts.items()):
                reason_text = f',reason="{escape_label(reason)}"' if reason else ""
                yield f"{{{text}{reason_text}}}", count

    def _log_bytes(self, rows: list[Row]) -> Iterator[Sample]:
        logs_of = self.supervisor.logs_of
        for text, process in rows:
            written = logs_of(process).written
            if written is not None:
                yield f'{{{text},stream="stdout"}}', written["stdout"]
                yield f'{{{text},stream="stderr"}}', written["stderr"]

    def _daemon(self, page: Exposition) -> None:
        supervisor = self.supervisor
        page.family(
            "supervisord_info",
            "gauge",
            "Always 1: the supervisord version clients see, and this runtime's release.",
            [
                (
                    labels(
                        ("version", SUPERVISOR_VERSION),
                        ("runtime_version", VERSION),
                        ("identifier", supervisor.identifier),
                    ),
                    1,
                )
            ],
        )
        mood = supervisor.mood
        page.family(
            "supervisord_state",
            "gauge",
            "The daemon's state: supervisord's number (getState), its name in the state label.",
            [(labels(("state", mood.name)), int(mood))],
        )
        times = os.times()
        page.family(
            "supervisord_cpu_seconds_total",
            "counter",
            "CPU time the daemon itself used (user and system), its children not included.",
            [("", times.user + times.system)],
        )
        page.family(
            "supervisord_resident_memory_bytes",
            "gauge",
            "The daemon's resident memory.",
            [("", _resident_bytes())],
        )
        page.family(
            "supervisord_open_fds",
            "gauge",
            "File descriptors the daemon has open.",
            [("", len(os.listdir("/proc/self/fd")))],
        )
        if self._start_time is None:
            self._start_time = _own_start_time()
        page.family(
            "supervisord_start_time_seconds",
            "gauge",
            "When the daemon's process started, in seconds since the epoch (kept by a live "
            "upgrade and a reload: the same process).",
            [("", self._start_time if self._start_time is not None else time.time())],
        )


# -- the daemon's own process, from /proc/self (the kernel's, never a tenant's path) -----


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _own_start_time() -> float | None:
    """Boot time plus the process's start in clock ticks after boot (/proc/self/stat)."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as machine:
            boot = next(int(line.split()[1]) for line in machine if line.startswith(b"btime "))
        # starttime is the 22nd field; the ones after the ")" start with the 3rd.
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
