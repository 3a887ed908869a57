"""hostingctl host-config: the host runtime's config and host.json as the roles get them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from supervisor_runtime.config import load_config
from tests.stock import stock_python
from workers.cli import main
from workers.host import HostConfig, host_config_text

URLS = ["--database-url", "sqlite:////nowhere/hosting.db", "--redis-url", "redis://r:6379/0"]


def host_config(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str]:
    code = main([*URLS, "host-config", "--host-root", str(root), "--queue", "Web.1", *args])
    return code, capsys.readouterr().out


def test_writes_once_reports_what_changed_and_checks_without_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "host"
    code, out = host_config(capsys, root, "--check")
    assert code == 0
    assert out.splitlines() == [
        "changed conf/supervisord.conf",
        "changed conf/host.json",
        "check only: nothing was written",
    ]
    assert not root.exists()

    code, out = host_config(capsys, root, "--workers", "3")
    assert (code, out) == (0, "changed conf/supervisord.conf\nchanged conf/host.json\n")
    config = HostConfig.load(root)
    assert (config.queue, config.workers, config.database_url) == (
        "Web.1",
        3,
        "sqlite:////nowhere/hosting.db",
    )
    assert config.conf.read_text() == host_config_text(config)
    assert not Path("/nowhere").exists()  # no database is opened for this command

    code, out = host_config(capsys, root, "--workers", "3")
    assert out == "unchanged conf/supervisord.conf\nunchanged conf/host.json\n"
    code, out = host_config(capsys, root, "--workers", "3", "--status-interval", "5", "--check")
    assert out.splitlines()[:2] == ["unchanged conf/supervisord.conf", "changed conf/host.json"]
    assert HostConfig.load(root).status_interval == 2.0


def test_worker_umask_and_hosts_without_apps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "host"
    assert host_config(capsys, root, "--worker-umask", "007")[0] == 0
    groups = {
        group.name: group for group in load_config(str(root / "conf/supervisord.conf")).groups
    }
    # Where tenants run in containers, the front is there too (workers.front).
    front = {"front-web-1"} if HostConfig.load(root).containers else set()
    assert set(groups) == {"worker-web-1", "reconcile-web-1", "status-web-1", "usage-web-1", *front}
    # Every helper that may be the first to open the SQLite database makes its files
    # group-writable for the panel (the same umask), not only the workers.
    for group in groups.values():
        assert group.processes[0].umask == 0o007, group.name
    # One that cannot start backs off and ends FATAL: no respawn loop shown as RUNNING.
    for group in groups.values():
        process = group.processes[0]
        assert (process.startsecs, process.startretries) == (1, 10), group.name

    # A web-only host (the roles' web group): no workers, no status poller.
    assert host_config(capsys, root, "--workers", "0", "--no-status-poller")[0] == 0
    assert load_config(str(root / "conf/supervisord.conf")).groups == ()
    settings = json.loads((root / "conf/host.json").read_text())
    assert (settings["workers"], settings["status_poller"]) == (0, False)

    # A sampler interval of 0: the host keeps no CPU and memory graphs.
    assert host_config(capsys, root, "--usage-interval", "0")[0] == 0
    groups = {group.name for group in load_config(str(root / "conf/supervisord.conf")).groups}
    assert "usage-web-1" not in groups and "worker-web-1" in groups
    assert HostConfig.load(root).usage_interval == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--worker-umask", "99"], "is not an octal mode like 007"),
        (["--workers", "-1"], "argument --workers: must be from 0 to 64, not -1"),
        (["--tenant-pids", "99999999999999999999"], "--tenant-pids: must be from 8 to"),
        (["--status-interval", "inf"], "--status-interval: must be from 0.1 to 3600, not inf"),
        (["--usage-interval", "301"], "--usage-interval: must be from 0 to 300, not 301"),
        (["--tenant-runtime", "stock"], "tenant runtime stock needs stock_python"),
        (["--tenant-runtime", "runit"], "--tenant-runtime: invalid choice: 'runit'"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = main([*URLS, "host-config", "--host-root", str(tmp_path / "h"), "--queue", "q", *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "h").exists()


def test_status_mode_picks_the_feeder_or_the_poller(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "host"

    def status_command() -> str:
        groups = load_config(str(root / "conf/supervisord.conf")).groups
        return next(g for g in groups if g.name == "status-web-1").processes[0].command

    assert host_config(capsys, root)[0] == 0  # the default: pushed
    assert " -m workers.feeder --host-root " in status_command()
    assert host_config(capsys, root, "--status-mode", "poll")[0] == 0
    assert " -m workers.status --host-root " in status_command()
    assert json.loads((root / "conf/host.json").read_text())["status_mode"] == "poll"
    # The host runtime itself streams its states (the feeder follows tenant-<app>).
    text = (root / "conf/supervisord.conf").read_text()
    assert "state_stream=true\nhistory=true\n" in text
    code = main(
        [*URLS, "host-config", "--host-root", str(root), "--queue", "q", "--status-mode", "push"]
    )
    assert code == 2
    assert "--status-mode: invalid choice: 'push'" in capsys.readouterr().err


def test_stock_as_the_tenant_runtime(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    python = str(stock_python())
    root = tmp_path / "host"
    code, _out = host_config(capsys, root, "--tenant-runtime", "stock", "--stock-python", python)
    assert code == 0
    config = HostConfig.load(root)
    assert (config.tenant_runtime, config.stock_python) == ("stock", python)


def test_the_host_runtime_starts_its_tenants_a_bounded_number_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "host"

    def concurrency() -> int:
        return load_config(str(root / "conf/supervisord.conf")).autostart_concurrency

    assert host_config(capsys, root)[0] == 0
    assert concurrency() == 30 * (os.cpu_count() or 1)  # the default: 30 per core
    assert host_config(capsys, root, "--start-concurrency", "7")[0] == 0
    assert concurrency() == 7 and HostConfig.load(root).start_concurrency == 7
    assert host_config(capsys, root, "--start-concurrency", "0")[0] == 0
    assert concurrency() == 0  # all at once, as stock: the key is left out
    assert "autostart_concurrency" not in (root / "conf/supervisord.conf").read_text()
    code = main(
        [
            *URLS,
            "host-config",
            "--host-root",
            str(root),
            "--queue",
            "q",
            "--start-concurrency",
            "-1",
        ]
    )
    assert code == 2
    assert "--start-concurrency: must be from 0 to 100000" in capsys.readouterr().err
