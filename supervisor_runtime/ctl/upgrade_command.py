"""supervisorctl upgrade: the daemon re-executes itself in place (runtime.liveUpgrade),
every program keeps running; the command waits until the new daemon answers."""

from __future__ import annotations

import time
from typing import Any

from supervisor_runtime.ctl import client
from supervisor_runtime.ctl.httpclient import ServerUnreachable
from supervisor_runtime.ctl.registry import command, usage_error
from supervisor_runtime.ctl.session import InitExit, Session
from supervisor_runtime.rpc.faults import FaultCode

UPGRADE_WAIT = 60.0  # the new daemon's start-up: the check already imported its code
POLL_INTERVAL = 0.1
NOT_SUPPORTED = (
    "ERROR: this supervisord cannot upgrade in place (a stock supervisord or an older "
    "release); use reload, or restart it"
)


@command(
    "upgrade",
    "upgrade\t\tre-execute supervisord in place, maybe as a newer installed release;",
    "\t\tevery program keeps running (the same pids, no log line lost). Refused,",
    "\t\twith the reason, while the config file holds changes not applied yet or",
    "\t\twhen the new code cannot start (its check runs first). Also: SIGUSR1.",
    extension=True,
)
def do_upgrade(session: Session, arg: str) -> None:
    if arg:
        usage_error(session, "Error: upgrade accepts no arguments", "upgrade", 1)
        return
    if session.options.interactive and not session.read_line(
        "Really upgrade the remote supervisord process in place y/N? "
    ).lower().startswith("y"):
        return
    try:
        before = session.proxy().runtime.liveUpgrade()
    except client.Fault as exc:
        session.exitstatus = InitExit.GENERIC
        if exc.faultCode == FaultCode.UNKNOWN_METHOD:
            session.output(NOT_SUPPORTED)
        elif exc.faultCode == FaultCode.SHUTDOWN_STATE:
            session.output("ERROR: already shutting down")
        else:
            session.output(f"ERROR: {exc.faultString}")
        return
    after = _wait_for_new_daemon(session, before["generation"])
    if after is None:
        session.exitstatus = InitExit.GENERIC
        session.output(
            f"ERROR: supervisord did not answer as upgraded within {UPGRADE_WAIT:g} s; see its log"
        )
    elif isinstance(after, ServerUnreachable):
        session.exitstatus = InitExit.GENERIC
        session.output(
            f"ERROR: supervisord is gone: the new code could not start and stopped every "
            f"program ({after}); see its log"
        )
    else:
        session.output(
            f"Upgraded supervisord in place: pid {after['pid']}, release "
            f"{before['version']} -> {after['version']}"
        )


def _wait_for_new_daemon(
    session: Session, generation: int
) -> dict[str, Any] | ServerUnreachable | None:
    """The new daemon's info once it answers (a fresh connection each try: the old one
    was closed by the exec), or None after UPGRADE_WAIT. The listening socket stays open
    across the exec, so a refused connection means the daemon is gone (returned)."""
    deadline = time.monotonic() + UPGRADE_WAIT
    while time.monotonic() < deadline:
        session.reset_connection()
        try:
            info: dict[str, Any] = session.proxy().runtime.getDaemonInfo()
        except ServerUnreachable as gone:
            return gone
        except (OSError, client.Fault, client.ProtocolError):
            info = {}
        if info.get("generation", generation) > generation:
            return info
        time.sleep(POLL_INTERVAL)
    return None
