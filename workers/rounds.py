"""The loop of the host's helper programs (status poller, job reconciler): one round now,
then one every ``interval`` seconds, for as long as the host runtime runs them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


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
