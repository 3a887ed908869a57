"""backoff = exponential with real processes: a program that always fails to start is
retried for ever, each wait twice the last up to backoff_max, jittered, never FATAL, and
its next attempt is shown by `supervisorctl status` (ours and stock's) and runtime.*.
Stock supervisord 4.3.0 loads the same config (it ignores keys it does not know)."""

from __future__ import annotations

import datetime
import itertools
import re
import time
from pathlib import Path

from supervisor_runtime.ctl.client import connect
from tests.ctl.ctlrun import run_ctl
from tests.harness import build_config, child_cmd, ours_only, program, wait_until

INITIAL, MAXIMUM, JITTER = 0.2, 0.8, 0.25
# It fails after 0.3 s (within startsecs): the first failure comes once the daemon has
# finished starting up (loading its control server), which would delay a timer.
FAILS = program(
    "/bin/sh -c 'sleep 0.3; exit 1'",
    startsecs=1,
    startretries=1,
    backoff="exponential",
    backoff_initial=INITIAL,
    backoff_max=MAXIMUM,
    backoff_jitter=JITTER,
)
# The main log's timestamps: "2026-12-06 17:01:51,123 INFO ..."
LINE = re.compile(r"^(\S+ \S+),(\d{3}) \w+ (exited: flaky|spawned: 'flaky')", re.MULTILINE)


def config(workdir: Path) -> str:
    return build_config(
        workdir,
        {"flaky": FAILS, "app": program(child_cmd("sleep"), startsecs=0)},
        supervisord={"history": True, "history_size": 5},
        unix_socket=True,
        extra={"supervisorctl": {"serverurl": f"unix://{workdir}/supervisor.sock"}},
    )


def waits(log: str) -> list[float]:
    """Seconds from each exit of flaky to its next spawn, as the daemon logged them."""
    events = []
    for match in LINE.finditer(log):
        when = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
        events.append((when.timestamp() + int(match.group(2)) / 1000, match.group(3)))
    return [
        round(b[0] - a[0], 3)
        for a, b in itertools.pairwise(events)
        if a[1].startswith("exited") and b[1].startswith("spawned")
    ]


def test_the_schedule_grows_is_capped_jittered_and_never_fatal(
    impl: str, start_daemon, workdir: Path
) -> None:
    ours_only(impl, "stock gives up after startretries (FATAL)")
    daemon = start_daemon(config(workdir))
    found = wait_until(lambda: len(waits(daemon.mainlog_text())) >= 7, 20, "7 retries of flaky")
    assert found
    measured = waits(daemon.mainlog_text())[:7]
    nominal = [min(MAXIMUM, INITIAL * 2**n) for n in range(7)]  # .2 .4 .8 .8 ...
    for wait, expected in zip(measured, nominal, strict=True):
        # Shortened by up to the jitter, never longer than nominal (plus the loop's latency
        # on a loaded machine; the next doubling would be 0.8 s longer).
        assert expected * (1 - JITTER) - 0.01 <= wait <= expected + 0.1, (measured, nominal)
    assert measured[0] < measured[1] < measured[2]  # growing
    capped = measured[2:]
    assert max(capped) <= MAXIMUM + 0.1  # capped (uncapped: 1.6 s, then 3.2 s...)
    assert len(set(capped)) > 1, capped  # jittered: not one fixed wait
    log = daemon.mainlog_text()
    assert "gave up" not in log and "FATAL" not in log  # startretries=1 long passed
    assert re.search(r"backoff: flaky retries in [\d.]+ s \(try \d+\)", log)

    # The next attempt is visible while it waits: status (ours and stock's ctl) and runtime.*.
    proxy = connect(f"unix://{workdir}/supervisor.sock", timeout=20)

    def in_backoff() -> dict | None:
        struct = proxy.runtime.getProcessHistory("flaky")
        return struct if struct["statename"] == "BACKOFF" else None

    struct = wait_until(in_backoff, 10, "flaky in BACKOFF")
    assert struct["backoff"] == "exponential" and struct["tries"] >= 7
    assert time.time() - 1 <= struct["next_attempt"] <= time.time() + MAXIMUM + 1
    assert "next attempt in" in struct["description"]
    for ctl in ("ours", "stock"):

        def shows_next_attempt(ctl: str = ctl) -> str | None:
            out = run_ctl(ctl, "status", "flaky", conf=workdir / "supervisord.conf").stdout
            return out if "BACKOFF" in out else None

        line = wait_until(shows_next_attempt, 10, f"{ctl} status showing BACKOFF")
        assert re.search(r"next attempt in \d+\.\d s \(\d\d:\d\d:\d\d\), attempt \d+", line)
    # The history holds the failed starts with their exit status.
    reasons = {
        (t["to"], t["reason"]) for t in proxy.runtime.getProcessHistory("flaky")["transitions"]
    }
    assert ("BACKOFF", "exit") in reasons and ("STARTING", "backoff") in reasons


def test_stock_loads_a_config_with_every_new_key(impl: str, start_daemon, workdir: Path) -> None:
    """Stock ignores backoff*, history and history_size: the same file runs there (and its
    flaky program is FATAL after startretries, as stock's backoff is all it knows)."""
    start_daemon(config(workdir))
    proxy = connect(f"unix://{workdir}/supervisor.sock", timeout=20)

    def state(name: str) -> str | None:
        try:
            return proxy.supervisor.getProcessInfo(name)["statename"]
        except OSError:
            return None

    wait_until(lambda: state("app") == "RUNNING", 20, "app RUNNING")
    if impl == "stock":
        wait_until(lambda: state("flaky") == "FATAL", 20, "stock giving up on flaky")
        assert "runtime.getProcessHistory" not in proxy.system.listMethods()
    else:
        assert "runtime.getProcessHistory" in proxy.system.listMethods()
