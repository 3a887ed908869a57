"""The status poller of a host: ``python -m workers.status --host-root DIR``.

Run by the host runtime. Every ``status_interval`` seconds it asks each app of this host for
``getAllProcessInfo`` and its config notices (tenant files set aside) over the app's socket
and stores them with ``hosting.status``; an app whose runtime does not answer is stored as
``runtime: down``, with the host runtime's state of it (BACKOFF, FATAL...) and the last
lines it wrote (``runtime_state``). Entries expire, so a stopped poller leaves no stale
status behind. It also stores the host's own state (containers or not, and why), which
the panel shows.

No app can hold up the others: apps are read side by side (``POLL_THREADS`` at a time), each
read is cut off after ``APP_SECONDS`` (a socket that answers one byte a second is aborted,
not waited for), and a round ends after ``ROUND_SECONDS`` whatever is left unread. Every
connection is checked to be the app's runtime (``workers.tenants.connect``).
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from hosting.db import session_scope
from hosting.identities import instance_id, user_prefix
from hosting.live_events import publish_app_event
from hosting.models import App, Host
from hosting.status import read_app_status, write_app_status, write_host_status
from sqlalchemy import select

from workers.host import HostConfig, host_runtime
from workers.layout import AppLayout, app_user_name, find_owner
from workers.metrics import round_done
from workers.rounds import run_rounds, start_helper
from workers.tenants import HostView, connect, host_views

log = logging.getLogger("workers.status")
APP_SECONDS = 2.0
ROUND_SECONDS = 5.0
POLL_THREADS = 16


@dataclass(frozen=True)
class AppRef:
    id: int
    name: str
    user: str
    layout: AppLayout


def host_apps(sessions: Any, host: HostConfig) -> list[AppRef]:
    with session_scope(sessions) as session:
        rows = session.execute(
            select(App.id, App.name, Host.apps_root)
            .join(Host, Host.id == App.host_id)
            .where(Host.queue == host.queue)
        ).all()
        prefix = host.user_prefix or user_prefix(instance_id(session))
    return [
        AppRef(app_id, name, app_user_name(app_id, prefix), AppLayout.of(apps_root, name))
        for app_id, name, apps_root in rows
    ]


AppRead = tuple[str, list[dict[str, Any]], str | None, list[dict[str, Any]]]


def read_app(host: HostConfig, app: AppRef) -> AppRead:
    """("up", processes, None, notices) or ("down", [], why, []), within APP_SECONDS per
    call. Notices are the tenant files its runtime set aside ([include] skip_broken)."""
    owner = find_owner(app.user)
    if owner is None:
        return "down", [], "the app has no system user yet", []
    # The whole call has APP_SECONDS (workers.runtime.Runtime: a deadline per call).
    runtime = connect(host, app.name, app.layout, owner, app.user, timeout=APP_SECONDS)
    try:
        return "up", runtime.processes(), None, runtime.config_notices()
    except Exception as exc:  # refused, not answering, garbled: this app only
        return "down", [], str(exc) or repr(exc), []
    finally:
        runtime.close()


def host_views_of(host: HostConfig, app_names: list[str]) -> dict[str, HostView]:
    """Why the runtimes of ``app_names`` do not answer, as the host runtime sees them (its
    own socket and logs: root's); {} when there are none or it does not answer in time."""
    if not app_names:
        return {}
    try:
        with host_runtime(host, timeout=APP_SECONDS) as runtime:
            return host_views(runtime, app_names)
    except Exception as exc:  # the host runtime busy or restarting: no cause this round
        log.warning("host runtime: no state of %d down apps: %s", len(app_names), exc)
        return {}


def poll_once(host: HostConfig, sessions: Any, redis: Any, pool: ThreadPoolExecutor) -> int:
    """Write the status of every app of the host that answers within the round; returns
    how many were up."""
    ttl = max(10, int(host.status_interval * 5))
    write_host_status(redis, host.queue, host.containers, host.containers_off, ttl)
    apps = host_apps(sessions, host)
    random.shuffle(apps)  # slow apps must not always take the round's time from the same ones
    futures = {pool.submit(read_app, host, app): app for app in apps}
    done, late = wait(futures, timeout=ROUND_SECONDS)
    for future in late:
        future.cancel()  # not started yet: its app keeps its last status until next round
    results = {futures[future]: future.result() for future in done}
    views = host_views_of(host, [app.name for app, (state, *_) in results.items() if state != "up"])
    up = 0
    for app, (runtime, processes, why, notices) in results.items():
        view = views.get(app.name)
        before = read_app_status(redis, app.id)
        try:
            write_app_status(
                redis,
                app.id,
                processes,
                ttl,
                runtime=runtime,
                error=why,
                runtime_state=view.as_dict() if view is not None else None,
                notices=notices,
            )
        except (TypeError, ValueError) as exc:  # an answer JSON cannot hold: this app only
            log.warning("app %s: status not stored: %s", app.name, exc)
            continue
        if _shown(before) != _shown(read_app_status(redis, app.id)):
            publish_app_event(redis, app.id, "status")  # open pages read it now
        up += runtime == "up"
    return up


def _shown(status: dict[str, Any] | None) -> Any:
    """What a page shows of a status, without what every round changes (the time, the
    uptime in descriptions): a round that changes nothing publishes nothing."""
    if status is None:
        return None
    processes = [
        {key: value for key, value in info.items() if key not in ("now", "description")}
        for info in status.get("processes", [])
    ]
    rest = {key: value for key, value in status.items() if key not in ("updated", "processes")}
    return rest, processes


def main(argv: Sequence[str] | None = None) -> int:
    helper = start_helper(argv, "python -m workers.status", __doc__)
    with ThreadPoolExecutor(POLL_THREADS, thread_name_prefix="status") as pool:

        def round_() -> None:
            poll_once(helper.host, helper.sessions, helper.redis, pool)
            round_done(helper.redis, helper.host.queue, "status")

        return run_rounds(
            round_,
            helper.host.status_interval,
            once=helper.once,
            log=log,
        )


if __name__ == "__main__":
    sys.exit(main())
