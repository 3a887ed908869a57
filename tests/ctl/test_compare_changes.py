"""Side by side for commands that change the daemon: each supervisorctl gets its own fresh,
identical daemon, runs the same command lines, and must print the same (pids and dates
normalized) with the same exit codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ctl.ctlrun import (
    QUIET,
    READY_STATES,
    Run,
    assert_same,
    bare_config,
    ctl_config,
    run_ctl,
)
from tests.harness import Daemon, program

pytestmark = pytest.mark.stock

Pair = Callable[..., tuple[Daemon, Daemon]]


def both(pair: tuple[Daemon, Daemon], *lines: str) -> list[tuple[Run, Run]]:
    """Run each line with stock's ctl on the first daemon and ours on the second."""
    stock_d, ours_d = pair
    return [
        (
            _hide_workdir(run_ctl("stock", *line.split(), conf=stock_d.conf_path), stock_d),
            _hide_workdir(run_ctl("ours", *line.split(), conf=ours_d.conf_path), ours_d),
        )
        for line in lines
    ]


def _hide_workdir(run: Run, daemon: Daemon) -> Run:
    """Each daemon has its own directory; error messages naming files differ only there."""
    where = str(daemon.workdir)
    return Run(run.stdout.replace(where, "WORKDIR"), run.stderr.replace(where, "WORKDIR"), run.rc)


def assert_all_same(results: list[tuple[Run, Run]], *, unordered: bool = False) -> None:
    """Same output per line pair; `unordered` compares sorted lines, for group and `all`
    results, which supervisord lists in the order the processes happened to stop."""
    for stock, ours in results:
        if unordered:
            stock, ours = _sorted_lines(stock), _sorted_lines(ours)
        assert_same(stock, ours, pids=True)


def _sorted_lines(run: Run) -> Run:
    return Run("".join(sorted(run.stdout.splitlines(keepends=True))), run.stderr, run.rc)


def steady_config(workdir: Path) -> str:
    """ctl_config without the programs that fail or exit: with them, which result comes
    last (and so the exit code of `start all`) and whether `quick` counts as started
    depend on timing inside supervisord."""
    return ctl_config(workdir, failing=False)


@pytest.mark.parametrize(
    "lines",
    [
        ["stop app", "status app", "stop app", "start app", "status app"],
        ["start manual", "status manual", "stop manual"],
        ["restart app", "restart web:w1 app", "restart nope"],
        ["stop web:*", "status", "start web:*", "restart web:*"],
        ["stop web:w1", "restart web:*"],
        ["stop multi:multi_00", "status multi:*", "start multi:*", "stop multi:"],
        ["stop quick", "status quick"],
        ["stop all", "status", "start all", "restart all"],
    ],
    ids=["process", "manual", "restart", "group", "group-half", "numprocs", "exited", "all"],
)
def test_start_stop_restart(daemon_pair: Pair, lines: list[str]) -> None:
    if "stop all" in lines:
        pair = daemon_pair(steady_config, {k: v for k, v in READY_STATES.items() if k != "quick"})
    else:
        pair = daemon_pair()
    assert_all_same(both(pair, *lines), unordered=True)


def test_spawn_error_exits_7(daemon_pair: Pair) -> None:
    results = both(daemon_pair(), "start dies", "status dies", "start missing")
    (stock, ours), _, _ = results
    assert stock.stdout == "dies: ERROR (spawn error)\n"
    assert ours.rc == stock.rc == 7
    assert_all_same(results)


def test_signal_all_and_clear(daemon_pair: Pair) -> None:
    pair = daemon_pair()
    # Stop the programs that would die of HUP first (sleep, cat), so only trapping ones stay.
    # Each daemon lists multi_00 and multi_01 in the order it happened to see them stop:
    # stock reaps right after each kill, and a sleep already dead then is listed at once,
    # before one still dying (1 run in 5, two stock daemons disagree).
    assert_all_same(both(pair, "stop multi:* web:w2"), unordered=True)
    results = both(
        pair,
        "signal HUP all",
        "signal USR2 web:*",
        "clear app",
        "tail app",
        "clear all",
        "clear app web:w1",
    )
    assert_all_same(results)


def test_shutdown(daemon_pair: Pair) -> None:
    pair = daemon_pair()
    results = both(pair, "shutdown")
    assert results[0][0].stdout == "Shut down\n"
    for daemon in pair:
        daemon.wait_exit(15)
    results += both(pair, "shutdown", "status", "start app")
    assert_all_same(results)


def test_reload(daemon_pair: Pair) -> None:
    pair = daemon_pair()
    results = both(pair, "reload")
    assert results[0][0].stdout == "Restarted supervisord\n"
    assert_all_same(results)


def _before(workdir: Path) -> str:
    return bare_config(
        workdir,
        {
            "app": program(f'/bin/sh -c "{QUIET}"'),
            "old": program("/bin/sleep 1000"),
            "keep": program("/bin/sleep 1000"),
        },
    )


def _after(workdir: Path) -> str:
    return bare_config(
        workdir,
        {
            "app": program(f'/bin/sh -c "{QUIET}"', startsecs=0),  # changed
            "keep": program("/bin/sleep 1000"),
            "new": program("/bin/sleep 1000"),  # added; old disappeared
        },
    )


STATES = {"app": "RUNNING", "old": "RUNNING", "keep": "RUNNING"}


def _rewrite(pair: tuple[Daemon, Daemon]) -> None:
    for daemon in pair:
        daemon.write_config(_after(daemon.workdir))


def test_reread_and_update(daemon_pair: Pair) -> None:
    pair = daemon_pair(_before, STATES)
    _rewrite(pair)
    results = both(pair, "reread", "avail", "update", "reread")
    assert results[0][0].stdout == "app: changed\nnew: available\nold: disappeared\n"
    assert_all_same(results)


def test_update_named_groups(daemon_pair: Pair) -> None:
    pair = daemon_pair(_before, STATES)
    _rewrite(pair)
    results = both(pair, "update new nope", "update old", "update all", "avail")
    assert_all_same(results)


def test_add_and_remove(daemon_pair: Pair) -> None:
    pair = daemon_pair(_before, STATES)
    _rewrite(pair)
    results = both(
        pair,
        "reread",
        "add new",
        "add new",
        "remove old",
        "stop old",
        "remove old keep",
        "remove old",
        "add old",
        "avail",
    )
    assert_all_same(results)


def test_reread_with_a_broken_config(daemon_pair: Pair) -> None:
    pair = daemon_pair(_before, STATES)
    for daemon in pair:
        daemon.write_config(_before(daemon.workdir) + "\n[program:bad]\n")
    results = both(pair, "reread", "update")
    stock = results[0][0]
    assert stock.stdout.startswith("ERROR: CANT_REREAD:"), stock.stdout
    assert_all_same(results)
