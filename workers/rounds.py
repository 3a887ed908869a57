"""What the host's helper programs (status poller, job reconciler) share: their command
line (``--host-root``, ``--once``), the host's settings, Redis and database they open, and
their loop: one round now, then one every ``interval`` seconds, for as long as the host
runtime runs them."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hosting.db import make_engine, make_session_factory
from sqlalchemy.orm import Session, sessionmaker

from workers.host import HostConfig


@dataclass(frozen=True)
class Helper:
    """A helper program's settings and connections, from its command line."""

    host: HostConfig
    redis: Any
    sessions: sessionmaker[Session]
    once: bool


def start_helper(argv: Sequence[str] | None, prog: str, description: str | None) -> Helper:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host-root", help="the host root (default $HOSTING_HOST_ROOT)")
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    from redis import Redis

    host = HostConfig.load(args.host_root)
    sessions = make_session_factory(make_engine(host.database_url))
    return Helper(host, Redis.from_url(host.redis_url), sessions, args.once)


def run_rounds(
    round_: Callable[[], object], interval: float, *, once: bool, log: logging.Logger
) -> int:
    """Run ``round_`` now and then every ``interval`` seconds (start to start); ``once``:
    a single round. A round that fails (Redis or the database away for a moment) is
    logged, and the next one tries again."""
    while True:
        started = time.monotonic()
        try:
            round_()
        except Exception:
            log.exception("round failed")
        if once:
            return 0
        time.sleep(max(0.1, interval - (time.monotonic() - started)))
