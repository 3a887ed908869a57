"""Helpers for programs that run under supervisord: event listeners and capture mode.

Works the same under our runtime and under stock supervisord, and keeps the
names listener authors know from ``supervisor.childutils``::

    from supervisor_runtime import childutils

    while True:
        headers, payload = childutils.listener.wait()
        if headers["eventname"].startswith("PROCESS_STATE"):
            fields, _ = childutils.eventdata(payload + "\\n")
            ...
        childutils.listener.ok()
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

BEGIN_TOKEN = "<!--XSUPERVISOR:BEGIN-->"
END_TOKEN = "<!--XSUPERVISOR:END-->"
READY = "READY\n"


def get_headers(line: str) -> dict[str, str]:
    """``'ver:3.0 server:x serial:1'`` -> ``{'ver': '3.0', 'server': 'x', 'serial': '1'}``."""
    headers = {}
    for token in line.split():
        key, _, value = token.partition(":")
        headers[key] = value
    return headers


def eventdata(payload: str) -> tuple[dict[str, str], str]:
    """Split a payload into its first-line fields and the data after the newline."""
    header_line, _, data = payload.partition("\n")
    return get_headers(header_line), data


def get_asctime(now: float | None = None) -> str:
    """A timestamp formatted like supervisord's log lines: ``2026-11-22 02:34:00,123``."""
    now = time.time() if now is None else now
    millis = int((now - int(now)) * 1000)
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now))},{millis:03d}"


def getRPCInterface(env: Mapping[str, str] = os.environ) -> Any:  # noqa: N802 - known name
    """An XML-RPC proxy for the supervisord this program runs under.

    Uses SUPERVISOR_SERVER_URL (unix:// or http://) and, if set,
    SUPERVISOR_USERNAME / SUPERVISOR_PASSWORD.
    """
    from .ctl.client import connect

    return connect(
        env["SUPERVISOR_SERVER_URL"],
        env.get("SUPERVISOR_USERNAME") or None,
        env.get("SUPERVISOR_PASSWORD") or None,
    )


rpc_interface = getRPCInterface


class ProcessCommunication:
    """Capture mode: text sent here becomes a PROCESS_COMMUNICATION event, not log output."""

    def send(self, message: str, stream: TextIO | None = None) -> None:
        stream = stream or sys.stdout
        stream.write(f"{BEGIN_TOKEN}{message}{END_TOKEN}")
        stream.flush()

    def stdout(self, message: str) -> None:
        self.send(message, sys.stdout)

    def stderr(self, message: str) -> None:
        self.send(message, sys.stderr)


class EventListener:
    """The listener side of the protocol: READY, read one event, answer OK or FAIL."""

    def wait(
        self, stdin: TextIO | None = None, stdout: TextIO | None = None
    ) -> tuple[dict[str, str], str]:
        """Say READY, then block until an event arrives; returns (headers, payload)."""
        stdin = stdin or sys.stdin
        self.ready(stdout)
        headers = get_headers(stdin.readline())
        payload = stdin.read(int(headers["len"]))
        return headers, payload

    def ready(self, stdout: TextIO | None = None) -> None:
        stdout = stdout or sys.stdout
        stdout.write(READY)
        stdout.flush()

    def ok(self, stdout: TextIO | None = None) -> None:
        self.send("OK", stdout)

    def fail(self, stdout: TextIO | None = None) -> None:
        self.send("FAIL", stdout)

    def send(self, data: str, stdout: TextIO | None = None) -> None:
        """Answer the current event with ``data`` (the result handler decides what it means)."""
        stdout = stdout or sys.stdout
        stdout.write(f"RESULT {len(data)}\n{data}")
        stdout.flush()


pcomm = ProcessCommunication()
listener = EventListener()
