"""How long a process waits in BACKOFF before its next start attempt.

supervisord waits 1 s after the first failed start, 2 s after the second... and gives up
(FATAL) after ``startretries``. Ours, opt-in per program (``backoff = exponential``,
config/restarts.py): the wait doubles from ``backoff_initial`` up to ``backoff_max`` and
the process is retried for ever; each wait is shortened at random by up to
``backoff_jitter`` (a fraction of it), so that programs that failed together (their
database went away) do not all come back at the same instant.
"""

from __future__ import annotations

from collections.abc import Callable

from .config.model import BackoffConfig

# 2 ** 64 seconds is beyond any cap: stop doubling there rather than overflow a float.
MAX_DOUBLINGS = 64


def backoff_delay(
    config: BackoffConfig, attempt: int, rand: Callable[[], float] | None = None
) -> float:
    """Seconds to wait after the ``attempt``-th failed start in a row (1 for the first)."""
    nominal = min(config.maximum, config.initial * 2.0 ** min(attempt - 1, MAX_DOUBLINGS))
    if not config.jitter:
        return nominal
    if rand is None:
        import random  # only programs with this backoff pay for the import

        rand = random.random
    # Shortened only, never lengthened: waits at the cap are spread too (a longer one
    # would have to be clipped back to the cap, and many would end up equal there).
    return nominal * (1.0 - config.jitter * rand())


def next_attempt_words(when: float, now: float, attempt: int) -> str:
    """``next attempt in 4.2 s (17:04:32), attempt 6``: the status line of a process in
    BACKOFF that retries for ever (local time, as supervisorctl shows stop times)."""
    import time

    clock = time.strftime("%H:%M:%S", time.localtime(when))
    return f"next attempt in {max(0.0, when - now):.1f} s ({clock}), attempt {attempt}"
