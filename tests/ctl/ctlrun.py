"""Running stock's and our supervisorctl side by side and comparing what they print.

Both run as real commands. Output is normalized only where two runs legitimately differ:
uptimes (the clock moves), pids and dates when the two talk to two daemons, the file/line of
`error: <class ...>` reports (they name each implementation's own source), and the program
path in usage errors.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.harness import (
    Daemon,
    build_config,
    program,
    render_ini,
    supervisord_section,
    wait_until,
)
from tests.stock import stock_bin

CTL_TIMEOUT = 20
# A program that prints a fixed log and then ignores the signals the tests send it.
QUIET = "trap '' HUP USR1 USR2; echo hello; echo oops >&2; exec sleep 1000"


def ours_ctl() -> Path:
    return Path(sys.executable).parent / "supervisorctl"


def ctl_bin(which: str) -> Path:
    return stock_bin("supervisorctl") if which == "stock" else ours_ctl()


@dataclass
class Run:
    stdout: str
    stderr: str
    rc: int

    def normalized(self, *, pids: bool = False) -> tuple[str, str, int]:
        return normalize(self.stdout, pids=pids), normalize(self.stderr, pids=pids), self.rc


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONIOENCODING"] = "utf-8"
    env.pop("PYTHONWARNINGS", None)
    return env


def run_ctl(
    which: str,
    *args: str,
    conf: Path | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> Run:
    """Run `which` ("stock" or "ours") supervisorctl to completion."""
    argv = [str(ctl_bin(which))]
    if conf is not None:
        argv += ["-c", str(conf)]
    argv += list(args)
    result = subprocess.run(
        argv,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=CTL_TIMEOUT,
        env=_env(),
        cwd=cwd,
    )
    return Run(result.stdout, result.stderr, result.returncode)


_UPTIME = re.compile(r"uptime \d+:\d\d:\d\d|uptime \d+ days?, \d+:\d\d:\d\d")
_PID = re.compile(r"pid \d+")
_BARE_NUMBER = re.compile(r"^\d+$", re.MULTILINE)
_DATE = re.compile(r"[A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M")
_TRACE = re.compile(r"file: \S+ line: \d+")
_PROG = re.compile(r"For help, use \S+ -h")


def normalize(text: str, *, pids: bool = False) -> str:
    text = _UPTIME.sub("uptime U", text)
    text = _TRACE.sub("file: F line: L", text)
    text = _PROG.sub("For help, use PROG -h", text)
    if pids:
        text = _PID.sub("pid N", text)
        text = _BARE_NUMBER.sub("N", text)
        text = _DATE.sub("DATE", text)
    return text


def assert_same(stock: Run, ours: Run, *, pids: bool = False) -> None:
    assert ours.normalized(pids=pids) == stock.normalized(pids=pids)


def assert_same_except_help(stock: Run, ours: Run, our_help: Sequence[str]) -> None:
    """For usage errors that print the command's help after the error line: our help text
    is our own prose, so compare the error line, the exit code and that help follows."""
    assert ours.rc == stock.rc
    assert ours.stderr == stock.stderr
    stock_first, _, _ = stock.stdout.partition("\n")
    ours_first, _, ours_rest = ours.stdout.partition("\n")
    assert ours_first == stock_first
    assert ours_rest == "".join(line + "\n" for line in our_help)


def interrupt_after(
    which: str, args: Sequence[str], conf: Path, ready: Callable[[str], bool], stdin: int | None
) -> Run:
    """Start supervisorctl, wait until its stdout satisfies `ready`, then Ctrl-C it."""
    proc = subprocess.Popen(
        [str(ctl_bin(which)), "-c", str(conf), *args],
        stdin=subprocess.PIPE if stdin is None else stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    seen = b""
    deadline = time.monotonic() + 10
    try:
        while not ready(seen.decode(errors="replace")):
            assert time.monotonic() < deadline, f"{which} printed only {seen!r}"
            assert proc.poll() is None, f"{which} exited early: {seen!r}"
            chunk = proc.stdout.read()
            if chunk:
                seen += chunk
            else:
                time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        os.set_blocking(proc.stdout.fileno(), True)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Run((seen + out).decode(), err.decode(), proc.returncode)


# ----------------------------------------------------------------------------- the daemon


def ctl_config(
    workdir: Path, *, auth: tuple[str, str] | None = None, failing: bool = True
) -> str:
    """The daemon every comparison runs against: one running program with a fixed log, one
    that has exited, one not started, a group of two, two instances of one program, and
    two that fail to start (on request only; `failing=False` leaves out these three)."""
    sock = workdir / "supervisor.sock"
    programs: dict[str, dict[str, object]] = {
        "app": program(f'/bin/sh -c "{QUIET}"'),
        "quick": program("/bin/sh -c 'exit 3'", startsecs=0, autorestart=False),
        "manual": program("/bin/sleep 1000", autostart=False),
        "w1": program(f'/bin/sh -c "{QUIET}"'),
        "w2": program("/bin/cat"),
        "multi": program(
            "/bin/sleep 1000", numprocs=2, process_name="%(program_name)s_%(process_num)02d"
        ),
        "missing": program("/nonexistent/command", autostart=False),
        "dies": program("/bin/sh -c 'exit 1'", autostart=False, startretries=0),
    }
    if not failing:
        for name in ("quick", "missing", "dies"):
            del programs[name]
    text = build_config(
        workdir,
        programs,
        unix_socket=True,
        extra={
            "group:web": {"programs": "w1,w2"},
            "supervisorctl": {"serverurl": f"unix://{sock}"},
        },
    )
    if auth is not None:
        text = text.replace(
            f"[unix_http_server]\nfile={sock}",
            f"[unix_http_server]\nfile={sock}\nusername={auth[0]}\npassword={auth[1]}",
        )
    return text


READY_STATES = {
    "app": "RUNNING",
    "quick": "EXITED",
    "manual": "STOPPED",
    "w1": "RUNNING",
    "w2": "RUNNING",
    "multi_00": "RUNNING",
    "multi_01": "RUNNING",
}


def wait_ready(
    daemon: Daemon,
    auth: tuple[str, str] | None = None,
    timeout: float = 15,
    states: Mapping[str, str] = READY_STATES,
) -> None:
    """Poll over XML-RPC until every program reached its steady state (stock ticks once a
    second, and startsecs=1)."""
    from supervisor_runtime.ctl.client import connect

    sock = daemon.workdir / "supervisor.sock"
    wait_until(
        lambda: sock.exists() or daemon.returncode is not None, timeout, f"socket {sock}"
    )
    assert daemon.returncode is None, f"supervisord exited: {daemon.output_text()}"
    user, password = auth or (None, None)

    def settled() -> bool:
        try:
            with connect(f"unix://{sock}", user, password, timeout=5) as proxy:
                infos = proxy.supervisor.getAllProcessInfo()
        except OSError:
            return False
        seen = {info["name"]: info["statename"] for info in infos}
        return all(seen.get(name) == state for name, state in states.items())

    wait_until(settled, timeout, "programs to settle")


def bare_config(workdir: Path, programs: dict[str, dict[str, object]]) -> str:
    """A minimal socket-serving config (for reread/update tests that rewrite it)."""
    sock = workdir / "supervisor.sock"
    sections: dict[str, dict[str, object]] = {
        "supervisord": supervisord_section(workdir),
        "unix_http_server": {"file": sock},
        "rpcinterface:supervisor": {
            "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
        },
        "supervisorctl": {"serverurl": f"unix://{sock}"},
    }
    for name, options in programs.items():
        sections[f"program:{name}"] = options
    (workdir / "childlogs").mkdir(exist_ok=True)
    return render_ini(sections)
