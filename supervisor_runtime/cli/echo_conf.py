"""echo_supervisord_conf: print a commented sample supervisord.conf to stdout."""

from __future__ import annotations

import sys
from importlib import resources
from typing import TextIO


def sample_config() -> str:
    """The text of the sample configuration shipped with the package."""
    return (
        resources.files("supervisor_runtime.config")
        .joinpath("sample.conf")
        .read_text(encoding="utf-8")
    )


def main(out: TextIO | None = None) -> int:
    (out or sys.stdout).write(sample_config())
    return 0


if __name__ == "__main__":
    sys.exit(main())
