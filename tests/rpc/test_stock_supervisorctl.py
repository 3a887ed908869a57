"""Stock supervisorctl against our daemon: the same output and exit codes as against stock's."""

from __future__ import annotations

import os
import re
import select
import subprocess
import time

from tests.harness import child_cmd, program, wait_until
from tests.rpc.conftest import Pair, Side
from tests.stock import stock_bin

PROGRAMS = {
    "app": program(child_cmd("sleep")),
    "talker": program(child_cmd("lines", 5, "--stream", "both")),
    "idle": program(child_cmd("sleep"), autostart=False),
}


def clean(text: str, side: Side) -> str:
    text = text.replace(str(side.workdir), "<W>")
    text = re.sub(r"pid \d+, uptime \d+:\d\d:\d\d", "pid N, uptime T", text)
    text = re.sub(r"[A-Z][a-z]{2} \d{2} \d{2}:\d{2} [AP]M", "<DATE>", text)
    return re.sub(r"(?m)^\d+$", "<PID>", text)


def same(sides: Pair, *args: str, any_order: bool = False) -> str:
    """Run on both; equal exit codes and cleaned output (with `any_order`, as sets of lines:
    supervisord's order of group results depends on which child dies first)."""
    outcomes = {impl: side.ctl(*args) for impl, side in sides.items()}
    cleaned = {impl: (rc, clean(out, sides[impl])) for impl, (rc, out) in outcomes.items()}
    if any_order:
        cleaned = {k: (rc, "".join(sorted(out.splitlines(True))))
                   for k, (rc, out) in cleaned.items()}
    assert cleaned["ours"] == cleaned["stock"], f"supervisorctl {' '.join(args)}"
    return cleaned["ours"][1]


def test_supervisorctl_commands(pair) -> None:
    sides = pair(PROGRAMS)
    for side in sides.values():
        side.wait_state("app", "RUNNING")
        side.wait_state("talker", "RUNNING")
    assert "RUNNING" in same(sides, "status")
    same(sides, "status", "app")
    same(sides, "status", "nope")
    same(sides, "start", "app")
    same(sides, "stop", "app")
    same(sides, "stop", "app")
    same(sides, "start", "app")
    same(sides, "restart", "app")
    same(sides, "start", "nope")
    same(sides, "pid")
    same(sides, "pid", "app")
    same(sides, "pid", "idle")
    same(sides, "avail")
    same(sides, "signal", "CONT", "app")
    same(sides, "signal", "BOGUS", "app")
    same(sides, "signal", "CONT", "idle")
    same(sides, "clear", "app")
    for side in sides.values():
        wait_until(lambda side=side: "line4" in side.ctl("tail", "talker")[1], 10, "talker log")
    same(sides, "tail", "talker")
    same(sides, "tail", "talker", "stderr")
    same(sides, "tail", "-5", "talker")
    same(sides, "reread")
    same(sides, "update")
    same(sides, "status")
    same(sides, "stop", "all", any_order=True)
    same(sides, "start", "all", any_order=True)
    for impl, side in sides.items():
        rc, out = side.ctl("maintail")
        assert rc == 0 and " INFO " in out, impl
        rc, out = side.ctl("version")
        assert rc == 0 and re.fullmatch(r"\d+\.\d+\.\d+\n", out), impl
    same(sides, "shutdown")
    for side in sides.values():
        assert side.daemon.wait_exit(15) == 0


def follow(side: Side, *args: str, want: str) -> str:
    """Run `supervisorctl tail -f ...` until `want` shows, then end it like Ctrl-C would."""
    proc = subprocess.Popen(
        [str(stock_bin("supervisorctl")), "-c", str(side.daemon.conf_path), "tail", "-f", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    seen = b""
    deadline = time.monotonic() + 10
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while want.encode() not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                seen += chunk
    finally:
        proc.terminate()
        proc.wait(5)
    text = seen.decode()
    assert want in text, f"{side.impl}: {text!r}"
    return text


def test_supervisorctl_tail_f_follows_new_output(pair) -> None:
    sides = pair(PROGRAMS)
    for side in sides.values():
        side.wait_state("talker", "RUNNING")
    outputs = {}
    for impl, side in sides.items():
        outputs[impl] = follow(side, "talker", want="line4\n")
        assert follow(side, "talker", "stderr", want="lineerr4\n")
        # New output arrives while following: restart the talker during a follow.
        proc = subprocess.Popen(
            [str(stock_bin("supervisorctl")), "-c", str(side.daemon.conf_path), "tail", "-f",
             "app"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.3)
        assert proc.poll() is None, "tail -f ended by itself"
        proc.terminate()
        proc.wait(5)
    assert outputs["ours"] == outputs["stock"]
