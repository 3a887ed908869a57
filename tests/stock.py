"""Locating the stock supervisor 4.3.0 virtualenv used as ground truth.

Stock supervisor installs commands named like ours, so it lives in a virtualenv of its own
(created by scripts/test as `<repo>/.venv-stock`, or named by STOCK_SUPERVISOR_VENV).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def stock_venv() -> Path | None:
    """The stock virtualenv's directory, or None when it is not installed."""
    venv = Path(os.environ.get("STOCK_SUPERVISOR_VENV", REPO_ROOT / ".venv-stock"))
    return venv if (venv / "bin" / "supervisord").exists() else None


def stock_bin(name: str) -> Path:
    """Path of a stock command (supervisord, supervisorctl, python); skips if absent."""
    venv = stock_venv()
    if venv is None:
        pytest.skip("stock supervisor 4.3.0 virtualenv not found (run scripts/test)")
    return venv / "bin" / name


def stock_python() -> Path:
    return stock_bin("python")
