"""The platform with stock supervisord 4.3.0 as the tenant runtime (``tenant_runtime =
"stock"``): an app is created, its program runs under stock's daemon (in its container when
we are root, and as a plain process), a restart job works and the status poller writes its
status.

Real parts only: a host runtime with RQ workers and the status program, Redis, SQLite, and
stock supervisor from its own virtualenv (tests/stock.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hosting.status import read_app_status

from tests.stock import stock_python
from tests.workers.fixtures import Platform, wait_until
from workers.container.spec import load_spec
from workers.files import ConfigRefused
from workers.host import host_config
from workers.runtime import Runtime
from workers.tenants import spec_path

pytestmark = pytest.mark.timeout(300)


def runtime_command_line(platform: Platform, app_id: int) -> str:
    """The command line of the app's runtime: the container's PID 1, or (without
    containers) the process behind its socket, the host runtime's child."""
    config = platform.host_of(app_id)
    if config.containers:
        pid = platform.container_init(app_id)
    else:
        with Runtime(platform.app_serverurl(app_id)) as runtime:
            pid = runtime.call("getPID")
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.mark.parametrize("containers", [None, False], ids=["containers-if-possible", "plain"])
def test_apps_run_under_stock_supervisord(platform: Platform, containers: bool | None) -> None:
    python = str(stock_python())
    platform.add_host("h1", containers=containers, tenant_runtime="stock", stock_python=python)
    config = platform.hosts["h1"]
    app_id, port = platform.create_app()
    platform.run("create_app", app_id)
    wait_until(lambda: platform.http_get(app_id, port), 15, "the app to answer")

    with Runtime(platform.app_serverurl(app_id)) as runtime:
        assert runtime.call("getSupervisorVersion") == "4.3.0"
        # Stock's own method table: none of our extensions (ours serves getConfigNotices).
        methods = runtime.proxy.system.listMethods()
        assert "supervisor.getConfigNotices" not in methods
        assert "supervisor.getProcessInfo" in methods
        before = runtime.states()["app:app"]["pid"]
    command = runtime_command_line(platform, app_id)
    if config.containers:
        # PID 1 runs /opt/hosting/bin/supervisord of the stock assets, which imports stock.
        assert "/opt/hosting/bin/supervisord -n -c /srv/conf/supervisord.conf" in command
        assets = Path(load_spec(spec_path(config, "web")).assets)
        assert assets.name.startswith("stock-")
        script = (assets / "bin" / "supervisord").read_text()
        assert "from supervisor.supervisord import main" in script
        assert (assets / "lib" / "supervisor" / "version.txt").read_text().strip() == "4.3.0"
    else:
        # The tests' host runs it with runtime_python (the virtualenv is root's).
        assert "from supervisor.supervisord import main" in command
        assert command.startswith(f"{config.runtime_python} -I -c")

    job = platform.run("program_action", app_id, action="restart", program="app")
    after = job.result["processes"]["app:app"]
    assert after["state"] == "RUNNING" and after["pid"] != before
    wait_until(lambda: platform.http_get(app_id, port), 15, "the app to answer again")

    # The status program reads stock's daemon: up, the app's program, and no notices
    # (stock has no getConfigNotices: that is none, not an error).
    def current_status() -> dict | None:
        status = read_app_status(platform.redis, app_id)
        processes = (status or {}).get("processes") or []
        seen = [(p.get("name"), p.get("pid"), p.get("statename")) for p in processes]
        return status if seen == [("app", after["pid"], "RUNNING")] else None

    status = wait_until(current_status, 15, "a status with the restarted app RUNNING")
    assert status["runtime"] == "up"
    assert "notices" not in status and "error" not in status


def test_stock_python_must_import_supervisor(tmp_path: Path) -> None:
    """(No stock_python at all, or an unknown runtime: tests/workers/test_host_config.py.)"""
    settings = {"redis_url": "redis://x", "database_url": "sqlite://", "containers": False}
    with pytest.raises(ConfigRefused, match="/usr/bin/python3 cannot import supervisor"):
        host_config(
            str(tmp_path), "q", tenant_runtime="stock", stock_python="/usr/bin/python3", **settings
        )
