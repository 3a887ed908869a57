"""The package's fixed rules: platform/ is a source root, hosting imports nothing of ours."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import hosting

PLATFORM = Path(hosting.__file__).resolve().parent.parent


def test_platform_is_a_source_root_not_a_package() -> None:
    assert PLATFORM.name == "platform"
    assert not (PLATFORM / "__init__.py").exists()


def test_hosting_imports_none_of_our_other_packages() -> None:
    modules = sorted(
        f"hosting.{path.stem}"
        for path in (PLATFORM / "hosting").glob("*.py")
        if path.stem != "__init__"
    )
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(result.stdout)
    ours = ("supervisor_runtime", "workers", "admin_web", "supervisor")
    assert [m for m in loaded if m.split(".")[0] in ours] == []
