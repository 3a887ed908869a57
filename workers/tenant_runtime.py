"""Which supervisord runs each app: ours (the default) or stock supervisord 4.3.0.

``HostConfig.tenant_runtime`` chooses; ``"stock"`` needs ``HostConfig.stock_python``, the
Python of a virtualenv where an operator installed ``supervisor`` 4.3.0 from PyPI (its own
virtualenv: its commands have our commands' names). Both speak the same XML-RPC, and stock
ignores the opt-in keys of the configs the platform renders; what stock lacks (config
notices, the state stream) the platform reads as absent.

- In a container, the app sees only its assets and the system: stock's ``supervisor``
  package is copied into the assets (``workers.container.assets``, content-addressed as
  ours is) and ``/opt/hosting/bin/supervisord`` runs it, so the launcher is the same.
- Without containers, the runtime is ``<stock_python> -I -m supervisor.supervisord``, or
  ``runtime_python`` running stock's package when that is set.

Product code never imports stock: it is found and run as the operator's program.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

TENANT_RUNTIMES = ("ours", "stock")
STOCK_MAJOR = "4."
_FIND_STOCK = (
    "import os, importlib.metadata as m, supervisor; "
    "print(os.path.dirname(os.path.realpath(supervisor.__file__))); print(m.version('supervisor'))"
)


class TenantRuntimeError(Exception):
    """The tenant runtime setting cannot be used (unknown name, stock not installed)."""


def check_setting(tenant_runtime: str, stock_python: str | None) -> None:
    """Refuse a setting that cannot run; for stock, find its package now (a clear error at
    host-config time, not at the first app's start)."""
    if tenant_runtime not in TENANT_RUNTIMES:
        names = " or ".join(TENANT_RUNTIMES)
        raise TenantRuntimeError(f"tenant runtime {tenant_runtime!r} is not {names}")
    if tenant_runtime == "stock":
        if not stock_python:
            raise TenantRuntimeError(
                "tenant runtime stock needs stock_python: the Python of a virtualenv with"
                " supervisor 4.3.0 (python3 -m venv DIR && DIR/bin/pip install supervisor==4.3.0)"
            )
        stock_package(stock_python)


@functools.lru_cache(maxsize=4)
def stock_package(stock_python: str) -> Path:
    """The directory of stock's ``supervisor`` package, as ``stock_python`` imports it."""
    if not os.path.isabs(stock_python):
        raise TenantRuntimeError(f"stock_python {stock_python!r} is not an absolute path")
    try:
        done = subprocess.run(
            [stock_python, "-I", "-c", _FIND_STOCK],
            capture_output=True,
            text=True,
            timeout=30,
            env={},
            check=False,
        )
    except OSError as exc:
        raise TenantRuntimeError(f"stock_python {stock_python}: {exc.strerror}") from None
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2:
        why = (done.stderr.strip().splitlines() or ["no answer"])[-1]
        raise TenantRuntimeError(f"{stock_python} cannot import supervisor: {why}")
    package, version = lines
    if not version.startswith(STOCK_MAJOR):
        raise TenantRuntimeError(f"{stock_python} has supervisor {version}, not 4.x")
    return Path(package)


def stock_source(tenant_runtime: str, stock_python: str | None) -> Path | None:
    """In containers: the stock package the assets hold, or None for ours."""
    if tenant_runtime != "stock" or stock_python is None:
        return None
    return stock_package(stock_python)


def plain_runtime(
    tenant_runtime: str, stock_python: str | None, runtime_python: str | None
) -> list[str] | None:
    """Without containers: the argv of stock's supervisord (before ``-n -c CONF``), or
    None for ours (``workers.tenants`` knows how ours runs). With ``runtime_python`` (an
    interpreter the apps' users may run, where the virtualenv's may not be theirs), that
    interpreter runs stock's package from where ``stock_python`` finds it."""
    if tenant_runtime != "stock" or stock_python is None:
        return None
    if runtime_python is None:
        return [stock_python, "-I", "-m", "supervisor.supervisord"]
    source = str(stock_package(stock_python).parent)
    code = (
        f"import sys; sys.path.insert(0, {source!r}); "
        "from supervisor.supervisord import main; sys.exit(main())"
    )
    return [runtime_python, "-I", "-c", code]
