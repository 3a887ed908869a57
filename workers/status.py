"""The status poller of a host: ``python -m workers.status --host-root DIR``.

Run by the host runtime. Every ``status_interval`` seconds it asks each app of this host for
``getAllProcessInfo`` over the app's socket and stores it with ``hosting.status``; an app whose
runtime does not answer is stored as ``runtime: down``. Entries expire, so a stopped poller
leaves no stale status behind.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from hosting.db import make_engine, make_session_factory, session_scope
from hosting.models import App, Host
from hosting.status import write_app_status
from sqlalchemy import select

from workers.host import HostConfig
from workers.layout import AppLayout
from workers.runtime import Runtime, RuntimeUnavailable

log = logging.getLogger("workers.status")
RPC_TIMEOUT = 2.0


def host_apps(sessions: Any, queue: str) -> list[tuple[int, AppLayout]]:
    with session_scope(sessions) as session:
        rows = session.execute(
            select(App.id, App.name, Host.apps_root)
            .join(Host, Host.id == App.host_id)
            .where(Host.queue == queue)
        ).all()
    return [(app_id, AppLayout.of(apps_root, name)) for app_id, name, apps_root in rows]


def poll_once(host: HostConfig, sessions: Any, redis: Any) -> int:
    """Write the status of every app of the host; returns how many answered."""
    ttl = max(10, int(host.status_interval * 5))
    up = 0
    for app_id, layout in host_apps(sessions, host.queue):
        try:
            with Runtime(layout.serverurl, timeout=RPC_TIMEOUT) as runtime:
                processes = runtime.processes()
        except (RuntimeUnavailable, OSError) as exc:
            write_app_status(redis, app_id, [], ttl, runtime="down", error=str(exc))
            continue
        except Exception as exc:  # a fault or a garbled answer: say so, keep polling others
            write_app_status(redis, app_id, [], ttl, runtime="down", error=repr(exc))
            continue
        write_app_status(redis, app_id, processes, ttl, runtime="up")
        up += 1
    return up


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.status", description=__doc__)
    parser.add_argument("--host-root", help="the host root (default $HOSTING_HOST_ROOT)")
    parser.add_argument("--once", action="store_true", help="poll once and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    from redis import Redis

    host = HostConfig.load(args.host_root)
    redis = Redis.from_url(host.redis_url)
    engine = make_engine(host.database_url)
    sessions = make_session_factory(engine)
    while True:
        started = time.monotonic()
        try:
            poll_once(host, sessions, redis)
        except Exception:  # the database or Redis away for a moment: try again next round
            log.exception("status poll failed")
        if args.once:
            return 0
        time.sleep(max(0.1, host.status_interval - (time.monotonic() - started)))


if __name__ == "__main__":
    sys.exit(main())
