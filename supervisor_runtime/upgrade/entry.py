"""Where ``supervisord``'s command line meets a live upgrade: the two runs of new code.

- the check child (``CHECK_ENV`` set): load the config as a start would, print the
  summary the old daemon compares (preflight.check_summary), exit 0, start nothing;
- the new daemon (``HANDOVER_ENV`` set): take the hand-over before anything else, and if
  it cannot start after all, stop the children it inherited rather than orphan them.
"""

from __future__ import annotations

import os
import sys

from supervisor_runtime.static_types import TYPE_CHECKING

from ..config.model import SupervisordConfig
from . import CHECK_ENV, HANDOVER_ENV

if TYPE_CHECKING:
    from typing import Any


def take_handover() -> dict[str, Any] | None:
    """The hand-over of the daemon this process was before its exec, or None."""
    if HANDOVER_ENV not in os.environ:
        return None
    from .handover import HandoverError, take_from_environment

    try:
        return take_from_environment()
    except HandoverError as error:
        sys.stderr.write(f"Error: live upgrade: {error}\n")
        raise SystemExit(2) from None


def is_check_run() -> bool:
    return os.environ.get(CHECK_ENV) == "1"


def answer_check(config: SupervisordConfig) -> int:
    import json

    from .preflight import check_summary

    sys.stdout.write(json.dumps(check_summary(config)) + "\n")
    return 0


def give_up(handover: dict[str, Any] | None, reason: str) -> None:
    """The new daemon cannot start: stop what it inherited (no-op without a hand-over)."""
    if handover is None:
        return
    from .restore import abandon

    abandon(handover, reason)
