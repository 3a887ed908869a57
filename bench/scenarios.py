"""Benchmark scenarios. Each takes an implementation name and returns {metric: value}.

Every scenario builds the same config for stock and ours; programs are /bin/sleep (or a
small writer) so the daemon's own cost dominates what is measured.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .harness import BenchDaemon, cpu_seconds, program_section, rss_mib, wait_for

SLEEP = "/bin/sleep 100000"
SUCCESS = r"success: \S+ entered RUNNING"
Metrics = dict[str, float]


def _sleepers(n: int, prefix: str = "p", **options: object) -> str:
    options = {"startsecs": 0, "autorestart": "true", **options}
    return "".join(program_section(f"{prefix}{i}", SLEEP, **options) for i in range(n))


def start_n(n: int) -> Callable[[str], Metrics]:
    def scenario(impl: str) -> Metrics:
        with BenchDaemon(impl, _sleepers(n)) as daemon:
            seconds = daemon.wait_count(SUCCESS, n, timeout=120)
            return {"seconds": seconds}

    scenario.__name__ = f"start_{n}"
    return scenario


def bare_posix_spawn(n: int) -> Metrics:
    """The physical reference for start_n: spawning n sleeps with nothing else."""
    began = time.monotonic()
    pids = [os.posix_spawn("/bin/sleep", ["sleep", "100000"], os.environ) for _ in range(n)]
    seconds = time.monotonic() - began
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return {"seconds": seconds}


def idle_500(impl: str) -> Metrics:
    with BenchDaemon(impl, _sleepers(500)) as daemon:
        daemon.wait_count(SUCCESS, 500, timeout=120)
        time.sleep(2)  # settle: let start-up work finish before the window opens
        window = 10.0
        before = cpu_seconds(daemon.pid)
        time.sleep(window)
        used = cpu_seconds(daemon.pid) - before
        return {"cpu_percent": 100 * used / window, "rss_mib": rss_mib(daemon.pid)}


def chatty_beside_1000(impl: str) -> Metrics:
    writer = Path(tempfile.mkdtemp(prefix="bench-chatty-")) / "chatty.py"
    writer.write_text(
        "import sys, time\n"
        "while True:\n"
        "    sys.stdout.write('tick ' * 10 + '\\n')\n"
        "    sys.stdout.flush()\n"
        "    time.sleep(0.001)\n"
    )
    programs = _sleepers(1000) + program_section(
        "chatty", f"{sys.executable} {writer}", startsecs=0, stdout_logfile_maxbytes="1MB"
    )
    with BenchDaemon(impl, programs) as daemon:
        daemon.wait_count(SUCCESS, 1001, timeout=180)
        time.sleep(2)
        window = 5.0
        before = cpu_seconds(daemon.pid)
        time.sleep(window)
        return {"cpu_percent": 100 * (cpu_seconds(daemon.pid) - before) / window}


def kill_to_running(impl: str) -> Metrics:
    """Seconds from SIGKILL of a program to it being RUNNING again, nobody polling."""
    programs = program_section("app", SLEEP, startsecs=0, autorestart="true")
    with BenchDaemon(impl, programs) as daemon:
        daemon.wait_count(SUCCESS, 1, timeout=30)
        time.sleep(1.5)  # start in the middle of a stock tick, as a real crash would
        (pid,) = daemon.child_pids("app")
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: daemon.count(SUCCESS) >= 2, 30, "RUNNING again", poll=0.001)
        return {"seconds": time.monotonic() - killed_at}


def _term_ignorers(n: int) -> str:
    command = f'{sys.executable} -c "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(100000)"'  # noqa: E501
    return "".join(
        program_section(f"stubborn{i}", command, startsecs=1, stopwaitsecs=1) for i in range(n)
    )


def shutdown_20_term_ignoring(impl: str) -> Metrics:
    with BenchDaemon(impl, _term_ignorers(20)) as daemon:
        daemon.wait_count(SUCCESS, 20, timeout=60)
        return {"seconds": daemon.stop(timeout=120)}


GO_FILE = "go"


def _writer_script(mode: str) -> Path:
    script = Path(tempfile.mkdtemp(prefix="bench-writer-")) / "writer.py"
    if mode == "chunks":
        body = (
            "import os\n"
            "chunk = bytes(range(256)) * 256\n"  # 64 KiB
            "for _ in range(4096):\n"  # 256 MiB
            "    view = memoryview(chunk)\n"
            "    while view:\n"
            "        view = view[os.write(1, view):]\n"
        )
    else:
        body = (
            "import sys\n"
            "out = sys.stdout\n"
            "for i in range(2_000_000):\n"
            "    out.write(f'line {i:08d}\\n')\n"
            "    out.flush()\n"
        )
    # The writer starts when told (GO_FILE appears), so the daemon's own start-up is
    # not counted as the cost of moving its output.
    wait_for_go = (
        "import os, time\n"
        f"while not os.path.exists({str(script.parent / GO_FILE)!r}):\n"
        "    time.sleep(0.005)\n"
    )
    script.write_text(wait_for_go + body + "import time\ntime.sleep(100000)\n")
    return script


EXPECTED_BYTES = {"chunks": 256 * 1024 * 1024, "lines": 2_000_000 * len("line 00000000\n")}


def _logged_bytes(log: Path, backups: int) -> int:
    total = 0
    for path in [log, *(Path(f"{log}.{i}") for i in range(1, backups + 1))]:
        if path.exists():
            total += path.stat().st_size
    return total


def log_throughput(mode: str) -> Callable[[str], Metrics]:
    def scenario(impl: str) -> Metrics:
        script = _writer_script(mode)
        logdir = Path(tempfile.mkdtemp(prefix="bench-logs-"))
        log = logdir / "writer.log"
        programs = program_section(
            "writer",
            f"{sys.executable} {script}",
            startsecs=0,
            autorestart="false",
            stdout_logfile=log,
            stdout_logfile_maxbytes="50MB",
            stdout_logfile_backups=10,
        )
        expected = EXPECTED_BYTES[mode]
        try:
            with BenchDaemon(impl, programs) as daemon:
                daemon.wait_count(SUCCESS, 1, timeout=60)
                began = time.monotonic()
                cpu_before = cpu_seconds(daemon.pid)
                (script.parent / GO_FILE).touch()
                try:
                    wait_for(lambda: _logged_bytes(log, 10) >= expected, 300, "all bytes", 0.02)
                except TimeoutError:
                    pass
                seconds = time.monotonic() - began
                used = cpu_seconds(daemon.pid) - cpu_before
                kept = _logged_bytes(log, 10)
                return {
                    "seconds": seconds,
                    "daemon_cpu_s": used,
                    "mib_per_s": expected / seconds / 2**20,
                    "bytes_lost": expected - kept,
                }
        finally:
            subprocess.run(["rm", "-rf", str(logdir), str(script.parent)], check=False)

    scenario.__name__ = f"log_{mode}"
    return scenario


def cat_reference(mode: str) -> Metrics:
    """Physical limit for log throughput: the writer piped through cat into a file.

    ``daemon_cpu_s`` is cat's CPU: what moving the bytes costs a program written in C."""
    script = _writer_script(mode)
    out = Path(tempfile.mkdtemp(prefix="bench-cat-")) / "out"
    with open(out, "wb") as sink:
        writer = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE)
        cat = subprocess.Popen(["cat"], stdin=writer.stdout, stdout=sink)
        assert writer.stdout is not None
        writer.stdout.close()
        began = time.monotonic()
        (script.parent / GO_FILE).touch()
        wait_for(lambda: out.stat().st_size >= EXPECTED_BYTES[mode], 300, "cat", 0.02)
        seconds = time.monotonic() - began
        cat_cpu = cpu_seconds(cat.pid)  # cat's whole life: it does nothing before the go
        writer.kill()
        writer.wait()
        cat.wait()
    subprocess.run(["rm", "-rf", str(out.parent), str(script.parent)], check=False)
    return {
        "seconds": seconds,
        "daemon_cpu_s": cat_cpu,
        "mib_per_s": EXPECTED_BYTES[mode] / seconds / 2**20,
    }


# -- scenarios through the control socket ------------------------------------------------


def _rpc(daemon: BenchDaemon):  # noqa: ANN202 - an xmlrpc proxy
    from supervisor_runtime.ctl.client import connect

    return connect(f"unix://{daemon.socket}")


def _ready(daemon: BenchDaemon, n: int) -> None:
    daemon.wait_count(SUCCESS, n, timeout=180)
    wait_for(daemon.socket.exists, 30, "control socket")


def get_all_process_info_500(impl: str) -> Metrics:
    """Daemon CPU for one getAllProcessInfo call at 500 programs (same client for both)."""
    with BenchDaemon(impl, _sleepers(500)) as daemon:
        _ready(daemon, 500)
        proxy = _rpc(daemon)
        proxy.supervisor.getState()
        calls = 10
        before = cpu_seconds(daemon.pid)
        began = time.monotonic()
        for _ in range(calls):
            assert len(proxy.supervisor.getAllProcessInfo()) == 500
        return {
            "daemon_cpu_s": (cpu_seconds(daemon.pid) - before) / calls,
            "seconds": (time.monotonic() - began) / calls,
        }


def ctl_status_500(impl: str) -> Metrics:
    """Wall time of `supervisorctl status` at 500 programs, each with its own supervisorctl."""
    with BenchDaemon(impl, _sleepers(500)) as daemon:
        _ready(daemon, 500)
        samples = []
        for _ in range(5):
            began = time.monotonic()
            result = daemon.ctl("status")
            samples.append(time.monotonic() - began)
            assert result.stdout.count(b"RUNNING") == 500, result.stdout[-300:]
        return {"seconds": sorted(samples)[len(samples) // 2]}


def ctl_restart_one(impl: str) -> Metrics:
    programs = _sleepers(20) + program_section("app", SLEEP, startsecs=1)
    with BenchDaemon(impl, programs) as daemon:
        _ready(daemon, 21)
        began = time.monotonic()
        result = daemon.ctl("restart", "app")
        assert b"app: started" in result.stdout, result.stdout
        return {"seconds": time.monotonic() - began}


def kill_to_running_polled(impl: str) -> Metrics:
    """As kill_to_running, with a client calling getAllProcessInfo every 100 ms."""
    programs = program_section("app", SLEEP, startsecs=0, autorestart="true")
    with BenchDaemon(impl, programs) as daemon:
        _ready(daemon, 1)
        proxy = _rpc(daemon)
        time.sleep(1.5)
        (pid,) = daemon.child_pids("app")
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        while True:
            info = proxy.supervisor.getProcessInfo("app")
            if info["statename"] == "RUNNING" and info["pid"] != pid:
                return {"seconds": time.monotonic() - killed_at}
            time.sleep(0.1)


def update_500_changed_10_added_10(impl: str) -> Metrics:
    """reread + update after editing 10 programs and adding 10; unchanged pids must stay."""
    with BenchDaemon(impl, _sleepers(500)) as daemon:
        _ready(daemon, 500)
        pids_before = {
            name: pid
            for name, pid in re.findall(r"spawned: '(p\d+)' with pid (\d+)", daemon.log_text())
        }
        text = daemon.conf.read_text()
        for i in range(10):  # change p0..p9
            text = text.replace(
                f"[program:p{i}]\ncommand={SLEEP}", f"[program:p{i}]\ncommand=/bin/sleep 100001"
            )
        text += _sleepers(10, prefix="new")
        daemon.conf.write_text(text)
        began = time.monotonic()
        daemon.ctl("reread")
        result = daemon.ctl("update")
        seconds = time.monotonic() - began
        assert result.returncode == 0, result
        daemon.wait_count(SUCCESS, 520, timeout=60)
        pids_after = dict(re.findall(r"spawned: '(p\d+)' with pid (\d+)", daemon.log_text()))
        kept = sum(
            pids_after[name] == pid for name, pid in pids_before.items() if int(name[1:]) >= 10
        )
        return {"seconds": seconds, "unchanged_pids_kept": kept}


def stop_all_20_term_ignoring(impl: str) -> Metrics:
    with BenchDaemon(impl, _term_ignorers(20)) as daemon:
        _ready(daemon, 20)
        began = time.monotonic()
        daemon.ctl("stop", "all")
        return {"seconds": time.monotonic() - began}
