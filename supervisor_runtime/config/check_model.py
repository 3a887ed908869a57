"""The record of one readiness or liveness check (ours, opt-in; parsed by config.checks),
and the keys that declare one.

Apart from ``model`` so that the parser's modules and ``model`` can both import it; the
keys are here rather than in ``checks`` so that a config without any check does not load
that parser (config.programs imports it for the first section that has one).
"""

from __future__ import annotations

from supervisor_runtime.static_types import NamedTuple

KINDS = ("tcp", "unix", "http", "command")
READY, HEALTH = "readycheck", "healthcheck"
CHECK_SUFFIXES = ("_status", "_interval", "_timeout", "_startperiod", "_failures")
# Every key of both families (a section with none of them is not read for them at all).
CHECK_KEYS = frozenset(f + suffix for f in (READY, HEALTH) for suffix in ("", *CHECK_SUFFIXES))


class CheckConfig(NamedTuple):
    """One check: how to probe the program, and how often."""

    kind: str  # one of KINDS
    target: str  # as written after the key, shown in logs and status
    host: str = ""  # tcp, http: an IP address
    port: int = 0
    path: str = ""  # unix: the socket's path; http: the request path
    command: str = ""  # command: the command line, run like the program itself
    statuses: tuple[int, ...] = (200,)  # http: the status codes that mean success
    interval: float = 1.0
    timeout: float = 1.0
    startperiod: float = 0.0
    failures: int = 3  # healthcheck: failed probes in a row that restart the program
