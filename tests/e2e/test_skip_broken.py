"""[include] skip_broken with real daemons: a broken included file never stops the runtime.

Without the key, a broken include is refused exactly as stock 4.3.0 refuses it (side by side);
with it, ours sets the file aside at boot, on SIGHUP and on reread/update, says so in the
main log, over XML-RPC and after `supervisorctl status`, and keeps the rest running.
"""

from __future__ import annotations

import signal
import subprocess
import time
import xmlrpc.client
from pathlib import Path

import pytest

from supervisor_runtime.ctl.client import connect
from tests.ctl.ctlrun import run_ctl
from tests.harness import (
    Daemon,
    build_config,
    child_cmd,
    ours_only,
    pid_alive,
    program,
    supervisord_bin,
    wait_until,
)

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seeds"
SEED_002_TYPO = (SEEDS / "002_redis_numprocs_l.conf").read_text(encoding="utf-8")
SLEEPER = program(child_cmd("sleep"), startsecs=0)


def main_config(workdir: Path, *, skip_broken: bool | None) -> str:
    include: dict[str, object] = {"files": "conf.d/*.conf"}
    if skip_broken is not None:
        include["skip_broken"] = skip_broken
    return build_config(
        workdir,
        {"main": SLEEPER},
        unix_socket=True,
        extra={
            "supervisorctl": {"serverurl": f"unix://{workdir}/supervisor.sock"},
            "include": include,
        },
    )


def write_include(workdir: Path, name: str, text: str) -> Path:
    path = workdir / "conf.d" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def program_file(name: str, **options: object) -> str:
    lines = [f"[program:{name}]", f"command={child_cmd('sleep')}", "startsecs=0"]
    lines += [f"{key}={value}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def rpc(workdir: Path):  # type: ignore[no-untyped-def]
    return connect(f"unix://{workdir}/supervisor.sock", timeout=20)


def running(workdir: Path) -> dict[str, int]:
    """name -> pid of every RUNNING process."""
    infos = rpc(workdir).supervisor.getAllProcessInfo()
    return {info["name"]: info["pid"] for info in infos if info["statename"] == "RUNNING"}


def wait_running(workdir: Path, names: set[str]) -> dict[str, int]:
    """Wait until exactly ``names`` are RUNNING."""

    def settled() -> dict[str, int] | None:
        try:
            found = running(workdir)
        except (OSError, xmlrpc.client.Fault):  # not listening yet, or restarting
            return None
        return found if set(found) == names else None

    return wait_until(settled, 20, f"exactly {sorted(names)} RUNNING")


@pytest.mark.parametrize("skip_broken", [None, False])
def test_without_the_key_a_broken_include_is_refused_like_stock(
    impl: str, workdir: Path, skip_broken: bool | None
) -> None:
    write_include(workdir, "good.conf", program_file("good"))
    write_include(workdir, "mine.conf", SEED_002_TYPO)
    conf = workdir / "supervisord.conf"
    conf.write_text(main_config(workdir, skip_broken=skip_broken))
    result = subprocess.run(
        [str(supervisord_bin(impl)), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result
    assert "'l'" in result.stderr and "program:redis_6376" in result.stderr
    assert not (workdir / "supervisord.pid").exists()  # nothing started


def test_with_the_key_and_good_files_stock_and_ours_run_the_same(
    impl: str, start_daemon, workdir: Path
) -> None:
    # Stock ignores the key it does not know: the same config runs the same programs.
    write_include(workdir, "good.conf", program_file("good"))
    start_daemon(main_config(workdir, skip_broken=True))
    wait_running(workdir, {"main", "good"})
    methods = rpc(workdir).system.listMethods()
    assert ("supervisor.getConfigNotices" in methods) == (impl == "ours")
    assert run_ctl("ours", "status", conf=workdir / "supervisord.conf").stdout.count("\n") == 2


def test_without_the_key_the_notices_method_does_not_exist(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "the method is ours")
    write_include(workdir, "good.conf", program_file("good"))
    start_daemon(main_config(workdir, skip_broken=None))
    wait_running(workdir, {"main", "good"})
    assert "supervisor.getConfigNotices" not in rpc(workdir).system.listMethods()


def test_boot_sets_the_seed_002_typo_aside_and_says_so_everywhere(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "skip_broken is ours")
    write_include(workdir, "good.conf", program_file("good"))
    mine = write_include(workdir, "mine.conf", SEED_002_TYPO)
    daemon = start_daemon(main_config(workdir, skip_broken=True))
    wait_running(workdir, {"main", "good"})
    daemon.wait_log(
        rf"WARN included file {mine} set aside: line 7 \[program:redis_6376\] "
        r"numprocs = 'l': not an integer: 'l'"
    )
    (notice,) = rpc(workdir).supervisor.getConfigNotices()
    assert notice == {
        "file": str(mine),
        "line": 7,
        "section": "program:redis_6376",
        "key": "numprocs",
        "value": "l",
        "error": "not an integer: 'l'",
    }
    status = run_ctl("ours", "status", conf=workdir / "supervisord.conf")
    lines = status.stdout.splitlines()
    assert [line.split()[0] for line in lines[:2]] == ["good", "main"]
    assert lines[2:] == [
        f"notice: included file {mine} set aside: line 7 [program:redis_6376] "
        "numprocs = 'l': not an integer: 'l'"
    ]
    assert status.rc == 0
    # Stock's supervisorctl against ours sees the table only.
    stock_status = run_ctl("stock", "status", conf=workdir / "supervisord.conf")
    assert [line.split()[:2] for line in stock_status.stdout.splitlines()] == [
        line.split()[:2] for line in lines[:2]
    ]


def test_reread_and_update_keep_a_program_whose_file_broke(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "skip_broken is ours")
    conf = workdir / "supervisord.conf"
    write_include(workdir, "good.conf", program_file("good"))
    mine = write_include(workdir, "mine.conf", program_file("mine"))
    daemon = start_daemon(main_config(workdir, skip_broken=True))
    before = wait_running(workdir, {"main", "good", "mine"})

    # mine.conf breaks, the platform adds a program: the add goes through, mine keeps running.
    mine.write_text(program_file("mine", numprocs="l"))
    write_include(workdir, "added.conf", program_file("added"))
    assert rpc(workdir).supervisor.reloadConfig() == [[["added"], [], []]]
    update = run_ctl("ours", "update", conf=conf)
    assert update.stdout == "added: added process group\n", update
    after = wait_running(workdir, {"main", "good", "mine", "added"})
    assert after["mine"] == before["mine"] and pid_alive(before["mine"])
    (notice,) = rpc(workdir).supervisor.getConfigNotices()
    assert (notice["file"], notice["key"]) == (str(mine), "numprocs")
    daemon.wait_log(rf"WARN included file {mine} set aside")

    # A new broken file adds nothing; the notices follow the last read.
    write_include(workdir, "new.conf", program_file("new") + "[progam:typo]\n")
    assert run_ctl("ours", "update", conf=conf).stdout == ""
    assert set(running(workdir)) == {"main", "good", "mine", "added"}
    files = [n["file"] for n in rpc(workdir).supervisor.getConfigNotices()]
    assert files == [str(mine), str(workdir / "conf.d" / "new.conf")]

    # Fixed: the file applies again (a changed program is restarted by update).
    mine.write_text(program_file("mine", startretries=5))
    (workdir / "conf.d" / "new.conf").unlink()
    assert rpc(workdir).supervisor.reloadConfig() == [[[], ["mine"], []]]
    assert rpc(workdir).supervisor.getConfigNotices() == []


def test_sighup_reload_boots_without_the_broken_file(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "skip_broken is ours")
    write_include(workdir, "good.conf", program_file("good"))
    mine = write_include(workdir, "mine.conf", program_file("mine"))
    daemon: Daemon = start_daemon(main_config(workdir, skip_broken=True))
    wait_running(workdir, {"main", "good", "mine"})
    mine.write_text(SEED_002_TYPO)
    daemon.signal(signal.SIGHUP)
    daemon.wait_log(r"received SIGHUP indicating restart request")
    wait_running(workdir, {"main", "good"})
    daemon.wait_log(rf"WARN included file {mine} set aside: line 7")
    assert [n["file"] for n in rpc(workdir).supervisor.getConfigNotices()] == [str(mine)]


# ----------------------------------------------------------------------------- item 7

NUL_OR_HUGE = {
    "nul": "/bin/true\x00evil",
    "10 MiB": "/bin/echo " + "x" * (10 * 1024 * 1024),
}


@pytest.mark.parametrize("command", NUL_OR_HUGE.values(), ids=NUL_OR_HUGE.keys())
def test_nul_and_huge_commands_are_refused_at_boot_quickly(
    impl: str, workdir: Path, command: str
) -> None:
    ours_only(impl, "stock hangs on both (no spawn, or shlex for hours)")
    conf = workdir / "supervisord.conf"
    conf.write_text(build_config(workdir, {"x": program(command)}))
    started = time.monotonic()
    result = subprocess.run(
        [str(supervisord_bin(impl)), "-c", str(conf)], capture_output=True, text=True, timeout=60
    )
    assert time.monotonic() - started < 20  # an idle machine: 0.3 s
    assert result.returncode == 2
    assert "invalid value for command" in result.stderr
    assert "in section [program:x]" in result.stderr
    assert "NUL byte" in result.stderr or "MAX_ARG_STRLEN" in result.stderr


@pytest.mark.parametrize("command", NUL_OR_HUGE.values(), ids=NUL_OR_HUGE.keys())
def test_a_reread_of_nul_or_huge_commands_is_refused_and_the_socket_answers(
    impl: str, start_daemon, workdir: Path, command: str
) -> None:
    ours_only(impl, "stock hangs on both")
    start_daemon(main_config(workdir, skip_broken=None))
    wait_running(workdir, {"main"})
    write_include(workdir, "x.conf", f"[program:x]\ncommand={command}\n")
    started = time.monotonic()
    reread = run_ctl("ours", "reread", conf=workdir / "supervisord.conf")
    assert reread.rc == 1 and "invalid value for command" in reread.stdout
    assert "program:x" in reread.stdout and len(reread.stdout) < 2000
    assert set(running(workdir)) == {"main"}  # and the control socket answers at once
    assert time.monotonic() - started < 20
