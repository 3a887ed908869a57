"""``[supervisord] autostart_concurrency = N`` (ours, opt-in): at boot, at most N autostarted
programs are STARTING at once, every one of them starts, and nothing else waits for them.
Stock 4.3.0 loads the same file and starts everything at once, as ours does without it.

Real daemons and children: how many were STARTING at once is read from the main log, whose
``spawned:`` and ``success:`` (or ``exited:``/``gave up:``) lines the daemon writes in the
order it acts."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from supervisor_runtime.config import ConfigError, load_config
from tests.e2e.test_restart_history import proxy, wait_state
from tests.e2e.test_sd_notify import FakeSystemd
from tests.harness import Daemon, build_config, ours_only, program, wait_until

NAMES = [f"p{n}" for n in range(6)]
EVENT = re.compile(
    r"(spawned): '(\w+)' with pid|(success): (\w+) entered RUNNING|(exited): (\w+) "
    r"|(gave up): (\w+) entered FATAL"
)


def conf(workdir: Path, limit: int | None, **programs: dict[str, object]) -> str:
    settings = {} if limit is None else {"autostart_concurrency": limit}
    every = programs or {name: program("sleep 1000", startsecs=1) for name in NAMES}
    return build_config(workdir, every, supervisord=settings, unix_socket=True)


def most_starting_at_once(daemon: Daemon) -> int:
    """The largest number of programs between their ``spawned:`` and the line that ends
    their STARTING, over the main log."""
    starting: set[str] = set()
    most = 0
    for match in EVENT.finditer(daemon.mainlog_text()):
        verb, name = [group for group in match.groups() if group is not None]
        if verb == "spawned":
            starting.add(name)
            most = max(most, len(starting))
        else:
            starting.discard(name)
    return most


def all_running(daemon: Daemon, names: list[str], timeout: float = 30) -> None:
    for name in names:
        wait_until(
            lambda name=name: f"success: {name} entered RUNNING" in daemon.mainlog_text(),
            timeout,
            f"{name} RUNNING",
        )


@pytest.mark.parametrize("limit", [None, 2])
def test_stock_and_ours_without_the_key_start_everything_at_once(
    impl: str, start_daemon, workdir: Path, limit: int | None
) -> None:
    if impl == "ours" and limit is not None:
        pytest.skip("ours with the key: the next test")
    daemon = start_daemon(conf(workdir, limit))  # stock loads the key and ignores it
    all_running(daemon, NAMES)
    assert most_starting_at_once(daemon) == len(NAMES)


def test_at_most_n_are_starting_at_once_and_all_start_in_order(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "the key is ours")
    daemon = start_daemon(conf(workdir, 2))
    all_running(daemon, NAMES)
    assert most_starting_at_once(daemon) == 2
    assert daemon.log_order(r"spawned: '(\w+)'") == NAMES  # supervisord's order, once each
    states = {
        info["name"]: info["statename"] for info in proxy(workdir).supervisor.getAllProcessInfo()
    }
    assert states == dict.fromkeys(NAMES, "RUNNING")


def test_a_program_that_fails_to_start_frees_its_place(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "the key is ours")
    broken = program("/nonexistent/command", startsecs=1, startretries=0)
    quick = program("/bin/sh -c 'exit 0'", startsecs=1, startretries=0, autorestart=False)
    sleeper = program("sleep 1000", startsecs=1)
    daemon = start_daemon(conf(workdir, 1, a=broken, b=quick, c=sleeper, d=sleeper))
    all_running(daemon, ["c", "d"])
    assert wait_state(workdir, "a", "FATAL") and wait_state(workdir, "b", "FATAL")
    assert most_starting_at_once(daemon) == 1


def test_a_start_by_hand_jumps_the_queue_and_its_turn_does_nothing(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "the key is ours")
    slow = program("sleep 1000", startsecs=3)
    names = ["a", "b", "c", "d"]
    daemon = start_daemon(conf(workdir, 1, **dict.fromkeys(names, slow)))
    wait_state(workdir, "a", "STARTING")
    server = proxy(workdir).supervisor
    assert server.getProcessInfo("d")["statename"] == "STOPPED"  # waiting its turn
    assert server.startProcess("d", False) is True  # at once, not after a, b and c
    assert server.getProcessInfo("d")["statename"] == "STARTING"
    assert server.getProcessInfo("b")["statename"] == "STOPPED"
    all_running(daemon, names, timeout=60)
    assert daemon.log_order(r"spawned: '(\w+)'") == ["a", "d", "b", "c"]


def test_a_group_removed_while_it_waits_is_left_out(impl: str, start_daemon, workdir: Path) -> None:
    ours_only(impl, "the key is ours")
    slow = program("sleep 1000", startsecs=2)
    daemon = start_daemon(conf(workdir, 1, a=slow, b=slow, c=slow))
    wait_state(workdir, "a", "STARTING")
    server = proxy(workdir).supervisor
    assert server.removeProcessGroup("b") is True  # STOPPED, waiting: removable
    all_running(daemon, ["a", "c"])
    assert daemon.log_order(r"spawned: '(\w+)'") == ["a", "c"]


@pytest.mark.parametrize(
    ("value", "reason"), [("-1", "0 \\(no limit\\) or more"), ("x", "not an integer")]
)
def test_a_bad_value_names_the_key(tmp_path: Path, value: str, reason: str) -> None:
    path = tmp_path / "supervisord.conf"
    path.write_text(
        f"[supervisord]\nautostart_concurrency={value}\n[program:a]\ncommand=/bin/true\n"
    )
    with pytest.raises(ConfigError, match=reason) as caught:
        load_config(str(path))
    assert (caught.value.section, caught.value.key, caught.value.value) == (
        "supervisord",
        "autostart_concurrency",
        value,
    )
    path.write_text("[supervisord]\n[program:a]\ncommand=/bin/true\n")
    assert load_config(str(path)).autostart_concurrency == 0


def test_sd_notify_ready_waits_for_the_whole_queue(impl: str, start_daemon, workdir: Path) -> None:
    ours_only(impl, "the key and sd_notify are ours")
    notify = FakeSystemd(str(workdir / "notify.sock"), str(workdir / "notify.sock"))
    try:
        names = ["a", "b", "c"]
        every = dict.fromkeys(names, program("sleep 1000", startsecs=1))
        env = dict(os.environ, NOTIFY_SOCKET=notify.address)
        daemon = start_daemon(conf(workdir, 1, **every), env=env)
        ready = notify.next_with("READY")
        # Not when a, the first in, was RUNNING while b and c waited (STOPPED).
        assert "success: c entered RUNNING state" in daemon.mainlog_text()
        assert ready["STATUS"] == "3 processes: 3 RUNNING"
    finally:
        notify.sock.close()
