"""The tenant-attack suite: a hostile tenant with a shell in its own app, and what it gets.

Every attack runs as the tenant would: ``hostingctl exec APP -- ...``, i.e. as the app's user
inside its container, then (where the attack is a trap for the platform) a platform job on
that app. Each test records its attempts and crossings in ``Ledger``; a crossing fails the
test, and the counts are printed at the end of the run (the README quotes them).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

if importlib.util.find_spec("rq") is None:
    collect_ignore_glob = ["*.py"]
else:
    from tests.workers.fixtures import base_dir, platform, redis_url, sqlite_template  # noqa: F401

LEDGER_ENV = "HOSTING_ATTACK_LEDGER"  # made by tests/conftest.py; counts go there


@dataclass
class Ledger:
    """Attempts and crossings of one test's attacks."""

    name: str
    attempts: int = 0
    crossings: list[str] = field(default_factory=list)

    def attempt(self, what: str, crossed: bool) -> None:
        self.attempts += 1
        if crossed:
            self.crossings.append(what)


@pytest.fixture
def ledger(request: pytest.FixtureRequest) -> Iterator[Ledger]:
    book = Ledger(request.node.name)
    yield book
    path = os.environ.get(LEDGER_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps([book.name, book.attempts, len(book.crossings)]) + "\n")
    assert not book.crossings, f"the tenant crossed: {book.crossings}"


def hostingctl(
    host_root: Path, *args: str, timeout: float = 60, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).parent / "hostingctl"),
        "exec",
        "--host-root",
        str(host_root),
        *args,
    ]
    env = {key: value for key, value in os.environ.items() if key not in ("TERM",)}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, input=input, check=False
    )
