"""A worker prepares once what each job's forked work horse would otherwise do again."""

from __future__ import annotations

import subprocess
import sys

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
