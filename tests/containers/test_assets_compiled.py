"""The runtime's files reach containers compiled (issue 18): containers see them read-only,
and a runtime that compiles its modules at start keeps 2.3 MiB more private memory."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from workers.container import assets

from .fixtures import SYSTEM_PYTHON

pytestmark = pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason="no system Python")


def test_every_module_of_the_runtime_is_installed_with_its_bytecode(tmp_path: Path) -> None:
    lib = assets.install(tmp_path, SYSTEM_PYTHON) / "lib"
    sources = sorted(lib.rglob("*.py"))
    assert len(sources) > 50
    # Where the tenants' Python looks for each one's bytecode.
    where = subprocess.run(
        [SYSTEM_PYTHON, "-IS", "-c", "import importlib.util, sys\n"
         "for p in sys.argv[1:]: print(importlib.util.cache_from_source(p))",
         *map(str, sources)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    assert [path for path in where if not os.path.isfile(path)] == []
    # Unchecked: used as they are, never compared with the sources (which never change).
    flags = {int.from_bytes(Path(path).read_bytes()[4:8], "little") for path in where}
    assert flags == {0b01}
