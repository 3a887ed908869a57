"""A worker prepares once, before its first job, what that job would otherwise pay for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.stock import REPO_ROOT

CHECK = """
from hosting.models import Job
from workers.worker import preload
assert not Job.__mapper__.configured, "configured before preload: nothing to test"
preload()
print(Job.__mapper__.configured)
"""


def test_preload_configures_the_models_mappers_before_any_fork() -> None:
    # A fresh interpreter: in this one, other tests may have configured them already.
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_preload_opens_the_jobs_database_engines(tmp_path: Path) -> None:
    from workers import job_handlers
    from workers.worker import preload

    url = f"sqlite:///{tmp_path / 'hosting.db'}"
    preload(url)
    for read_only in (False, True):
        engine = job_handlers._sessions(url, read_only=read_only).kw["bind"]
        # The connection is made and back in the pool, for the first job to take.
        assert engine.pool.checkedin() == 1, read_only


def test_preload_leaves_an_unreachable_database_to_the_jobs(tmp_path: Path) -> None:
    from workers.worker import preload

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    preload(f"sqlite:///{blocker / 'hosting.db'}")  # logged, not raised: the worker starts
