"""Ours, opt-in: the keys of the backoff that never gives up and of the restart history.

[program:x] (and [eventlistener:x], [fcgi-program:x]: every section with processes):

- ``backoff = exponential`` retries a program that keeps failing to start for ever, never
  FATAL; ``linear`` (the default) is supervisord's 1, 2, 3 s then FATAL after startretries.
- ``backoff_initial`` (seconds, default 1): the first wait;
- ``backoff_max`` (seconds, default 300): no wait is longer;
- ``backoff_jitter`` (a fraction from 0 to 1, default 0.1): each wait is shortened at
  random by up to that fraction of it, so programs that failed together do not all
  retry at the same moment.

[supervisord]: ``history = true`` keeps the last ``history_size`` (default 20) state
transitions of every process, with their reason (see supervisor_runtime/history.py);
``history_log_lines`` (default 20, 0 for none): the last lines a program wrote, kept with
the entry of an unexpected exit (output_tail.py).

supervisord 4.3.0 ignores keys it does not know, so a file using these still loads there.
"""

from __future__ import annotations

from collections.abc import Mapping

from supervisor_runtime.config import datatypes as dt
from supervisor_runtime.config.model import BackoffConfig
from supervisor_runtime.config.reader import SectionReader

BACKOFF_KINDS = ("linear", "exponential")
MAX_SECONDS = 86400.0  # a day: a longer wait is more likely a typo than a wish
DEFAULT_HISTORY_SIZE = 20
DEFAULT_HISTORY_LOG_LINES = 20
MAX_HISTORY_LOG_LINES = 1000  # the tail is bounded in bytes anyway (output_tail.py)
MAX_HISTORY_SIZE = 1000  # a transition costs about 200 bytes: 1,000 programs x 1,000 = 200 MB


def seconds(text: str) -> float:
    """A positive number of seconds (fractions allowed), at most a day."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= MAX_SECONDS:  # also refuses nan and inf
        raise ValueError(f"must be more than 0 and at most {MAX_SECONDS:g} seconds")
    return value


def fraction(text: str) -> float:
    """A number from 0 to 1."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:  # also refuses nan
        raise ValueError("must be from 0 to 1")
    return value


def backoff_kind(text: str) -> str:
    folded = str(text).strip().lower()
    if folded not in BACKOFF_KINDS:
        raise ValueError(f"must be one of {', '.join(BACKOFF_KINDS)}")
    return folded


def backoff_of(reader: SectionReader, names: Mapping[str, object]) -> BackoffConfig | None:
    """The program's BackoffConfig, or None for supervisord's own (linear) backoff."""
    kind = reader.convert("backoff", "linear", backoff_kind, names)
    if kind == "linear":
        for key in ("backoff_initial", "backoff_max", "backoff_jitter"):
            if reader.raw(key) is not None:
                raise reader.error(key, "only used with backoff = exponential")
        return None
    defaults = BackoffConfig()
    initial = reader.convert("backoff_initial", str(defaults.initial), seconds, names)
    maximum = reader.convert("backoff_max", str(defaults.maximum), seconds, names)
    jitter = reader.convert("backoff_jitter", str(defaults.jitter), fraction, names)
    if maximum < initial:
        raise reader.error("backoff_max", f"is less than backoff_initial ({initial:g})")
    return BackoffConfig(initial, maximum, jitter)


def history_size_of(reader: SectionReader, names: Mapping[str, object]) -> int:
    """Transitions kept per process: 0 without ``history = true``."""
    size = reader.convert("history_size", DEFAULT_HISTORY_SIZE, dt.integer, names)
    if not 1 <= size <= MAX_HISTORY_SIZE:
        raise reader.error("history_size", f"must be from 1 to {MAX_HISTORY_SIZE}")
    if not reader.convert("history", "false", dt.boolean, names):
        return 0
    return size


def history_log_lines_of(reader: SectionReader, names: Mapping[str, object]) -> int:
    """Lines of output kept with the history entry of an unexpected exit (0: none)."""
    lines = reader.convert("history_log_lines", DEFAULT_HISTORY_LOG_LINES, dt.integer, names)
    if not 0 <= lines <= MAX_HISTORY_LOG_LINES:
        raise reader.error("history_log_lines", f"must be from 0 to {MAX_HISTORY_LOG_LINES}")
    return lines
