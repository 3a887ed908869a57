"""The record of one readiness or liveness check (ours, opt-in; parsed by config.checks).

Apart from ``model`` so that the parser's modules and ``model`` can both import it.
"""

from __future__ import annotations

from supervisor_runtime.static_types import NamedTuple

KINDS = ("tcp", "unix", "http", "command")


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
