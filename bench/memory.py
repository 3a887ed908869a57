"""Private memory of one tenant runtime, ours against stock supervisord 4.3.0 (issue 18).

    python -m bench.memory [--repeat N] [--keys plain|tenant|both] [--runtime-lib DIR]

A runtime configured as the platform configures a tenant's (platform/hosting/rendering.py:
socket, logs, ``[include]`` with ``skip_broken``; with ``--keys tenant`` also ``history`` and
``state_stream``, which tenant runtimes get) runs three programs (a main program, a
memcached-like daemon and one more: plain ``sleep`` and Python children), each written as
the platform writes a tenant's (hosting/catalog.py ``ProgramSection``: its own
``directory=``, an ``environment=``, a log file of its own with ``redirect_stderr``), the
first two printing more output than a crash log's tail keeps. It answers one
``supervisorctl status``; with the tenant keys a state stream reader stays connected, as
the platform's feeder does (it asks what workers/state_lines.py asks and reads every line);
then its ``/proc/<pid>/smaps_rollup`` is read:

- USS: Private_Clean + Private_Dirty, what this process alone costs the host;
- Private_Dirty: the part that can never be dropped and re-read from a file;
- RSS: what ``ps`` shows (shared pages of the interpreter and libc included).

Ours is started as the tenant container starts it (workers/container/launch.py: the system
Python with ``-IS`` running a small script that puts the runtime's directory first on
sys.path, which is read-only there); stock by its console script in .venv-stock. The floor
is the same Python with the same flags doing nothing (``import time; time.sleep(...)``).
Medians of N runs.
``bench.run`` has the same measurement as its "memory" scenario.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from workers.host import HostConfig
from workers.state_lines import request

from .harness import REPO, BenchDaemon, wait_for

Metrics = dict[str, float]

# The tenant's programs: a main program, a memcached-like daemon and one more. The first
# two print more than history's tail of their output keeps (output_tail.TAIL_BYTES), as
# a busy program does, before they sleep.
PRINT_LINES = 200  # of about 50 bytes: 10 KB, over the 4 KiB tail
PROGRAMS = (
    (
        "web",
        f"{sys.executable} -IS -c 'import time; "
        f'[print("request", i, "x" * 36, flush=True) for i in range({PRINT_LINES})]; '
        "time.sleep(100000)'",
    ),
    (
        "memcached",
        f"/bin/sh -c 'for i in $(seq {PRINT_LINES}); do echo \"<$i new auto-negotiating "
        "client connection xxxxxxxxxx\" >&2; done; exec /bin/sleep 100000'",
    ),
    ("worker", "/bin/sleep 100001"),
)
# As catalog.ProgramSection writes every program of a tenant (the paths are this run's).
PROGRAM_KEYS = (
    'environment=PORT="8000",HOME="{dir}"\ndirectory={dir}\n'
    "autostart=true\nautorestart=true\nstartsecs=0\nstopasgroup=true\nkillasgroup=true\n"
    "stdout_logfile={dir}/{name}.log\nstdout_logfile_maxbytes=2MB\nstdout_logfile_backups=5\n"
    "redirect_stderr=true\n"
)
TENANT_KEYS = "history = true\nstate_stream = true\n"
FEEDER_HEARTBEAT = 300.0  # what workers/feeder.py asks for (its HEARTBEAT)
SMAPS_FIELDS = ("Rss", "Private_Clean", "Private_Dirty")
# The directory holding the supervisor_runtime to measure (--runtime-lib): another
# checkout's, to compare a branch with main; None: the one this Python imports.
RUNTIME_LIB: Path | None = None
# The Python to run ours and the floor on (--python); None: system_python()'s choice.
PYTHON: str | None = None
# Measure each process with a second one of its kind running beside it (--alone: without),
# as on a host, where many runtimes share the pages of their Python's binary: alone, a
# process counts the binary pages that only it maps as private (Private_Clean, 0.04-0.08
# MiB for /usr/bin/python3), which no tenant of a host with more than one pays.
NEIGHBOUR = True


def smaps(pid: int) -> Metrics:
    """USS, Private_Dirty and RSS of ``pid`` in MiB, from smaps_rollup."""
    kib: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in SMAPS_FIELDS:
            kib[key] = int(rest.split()[0])
    return {
        "uss_mib": (kib["Private_Clean"] + kib["Private_Dirty"]) / 1024,
        "private_dirty_mib": kib["Private_Dirty"] / 1024,
        "rss_mib": kib["Rss"] / 1024,
    }


def system_python() -> str:
    """The Python tenant runtimes run on: the hosts' default (``HostConfig.tenant_python``,
    a distribution's Python, linked statically) where there is one, else the one this venv
    was made from (``--python`` chooses). Which one matters: the same runtime keeps 6.12 MiB
    on pyenv's 3.11.7 (a shared libpython, whose relocated data each process has to itself)
    and 5.99 on Debian's 3.11.2, each measured alone."""
    if PYTHON is not None:
        return PYTHON
    if os.path.exists(HostConfig.tenant_python):
        return HostConfig.tenant_python
    return os.path.realpath(sys.executable)


def tenant_launcher(directory: Path) -> list[str]:
    """Our supervisord as the container starts it: ``python -IS script`` with the runtime's
    directory first on sys.path (as workers/container/assets.py writes the script)."""
    lib = RUNTIME_LIB or Path(__import__("supervisor_runtime").__file__).resolve().parent.parent
    # Its bytecode up to date, as the container's is (assets.compile_lib): the view is
    # read-only, and a runtime that compiles its modules at start keeps 2.3 MiB more.
    subprocess.run(
        [system_python(), "-IS", "-m", "compileall", "-q", str(lib / "supervisor_runtime")],
        capture_output=True,
        check=True,
    )
    script = directory / "supervisord"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(lib)!r})\n"
        "from supervisor_runtime.cli.supervisord import main\n"
        "sys.exit(main())\n"
    )
    return read_only_view(lib, [system_python(), "-IS", str(script)])


def read_only_view(lib: Path, command: list[str]) -> list[str]:
    """``command`` in a mount namespace of its own where ``lib`` is read-only, as the
    container's /opt/hosting is (bwrap --ro-bind): the runtime leaves out what it keeps only
    for a release installed over its files (the upgrade code, upgrade/controller.py
    ``preload``). As root only (a bind mount); otherwise ``command`` itself."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return command
    remount = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    namespace = ["unshare", "--mount", "--propagation", "private"]
    return [*namespace, "/bin/sh", "-c", remount, str(lib), *command]


class TenantDaemon(BenchDaemon):
    """A BenchDaemon laid out as a tenant's runtime: base file + conf/supervisor.d/*.conf."""

    def __init__(self, impl: str, keys: str) -> None:
        super().__init__(impl, "")
        included = self.dir / "supervisor.d"
        included.mkdir()
        for name, command in PROGRAMS:
            options = PROGRAM_KEYS.format(dir=self.dir, name=name)
            text = f"[program:{name}]\ncommand={command}\n{options}"
            (included / f"{name}.conf").write_text(text)
        # As rendering.render_app_base lays it out (the paths are this run's).
        self.conf.write_text(
            f"[unix_http_server]\nfile={self.socket}\nchmod=0700\n"
            f"[supervisord]\nlogfile={self.mainlog}\nlogfile_maxbytes=2MB\nlogfile_backups=5\n"
            f"pidfile={self.dir / 'supervisord.pid'}\nchildlogdir={self.dir}\nnodaemon=true\n"
            f"{keys}"
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
            f"[supervisorctl]\nserverurl=unix://{self.socket}\n"
            "[include]\nfiles = supervisor.d/*.conf\nskip_broken = true\n"
        )

    def start(self) -> TenantDaemon:
        if self.impl != "ours":
            super().start()
            return self
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [*tenant_launcher(self.dir), "-n", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.dir,
        )
        return self


def runtime_memory(keys: str) -> Callable[[str], Metrics]:
    def scenario(impl: str) -> Metrics:
        with contextlib.ExitStack() as stack:
            count = 2 if NEIGHBOUR else 1
            daemons = [stack.enter_context(TenantDaemon(impl, keys)) for _ in range(count)]
            for each in daemons:
                each.wait_count(r"success: \S+ entered RUNNING", len(PROGRAMS), timeout=60)
                wait_for(lambda each=each: printed(each), 60, "the programs' output logged")
            daemon = daemons[-1]
            reader = None
            if impl == "ours" and "state_stream" in keys:
                reader = stack.enter_context(StateStreamReader(daemon.socket))
            done = daemon.ctl("status")
            if done.returncode != 0 or done.stdout.count(b"RUNNING") != len(PROGRAMS):
                raise RuntimeError(f"status failed: {done.stdout!r} {done.stderr!r}")
            time.sleep(0.5)  # let the answer's buffers go before reading
            if reader is not None:
                reader.drain()  # as the feeder does: nothing left queued in the daemon
            return smaps(daemon.pid)

    scenario.__name__ = "runtime_memory"
    return scenario


def printed(daemon: TenantDaemon) -> bool:
    """Whether every printing program's output has reached its log (and so its tail)."""
    logs = [daemon.dir / f"{name}.log" for name, _ in PROGRAMS[:2]]
    return all(log.exists() and log.read_bytes().count(b"\n") >= PRINT_LINES for log in logs)


class StateStreamReader:
    """A state stream reader connected as the platform's feeder connects
    (workers/state_lines.request): the snapshot read, then every line as it comes."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(path))
        self.sock.sendall(request(FEEDER_HEARTBEAT))
        received = b""
        while b"\n" not in received.partition(b"\r\n\r\n")[2]:  # the head and the snapshot
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"the state stream closed: {received[:300]!r}")
            received += chunk
        if not received.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"no state stream: {received[:300]!r}")

    def drain(self) -> None:
        self.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while self.sock.recv(65536):
                pass
        self.sock.setblocking(True)

    def __enter__(self) -> StateStreamReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def bare_python() -> Metrics:
    """The floor: the same Python, same flags, doing nothing."""
    procs = [
        subprocess.Popen(
            [system_python(), "-IS", "-c", "import time; print(1, flush=True); time.sleep(60)"],
            stdout=subprocess.PIPE,
        )
        for _ in range(2 if NEIGHBOUR else 1)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            wait_for(proc.stdout.readline, 10, "bare python")
        return smaps(procs[-1].pid)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keys", choices=("plain", "tenant", "both"), default="both")
    parser.add_argument(
        "--runtime-lib", type=Path, help="measure the supervisor_runtime in this directory"
    )
    parser.add_argument("--python", help="the Python tenant runtimes run on (see system_python)")
    parser.add_argument("--alone", action="store_true", help="no neighbour (see NEIGHBOUR)")
    args = parser.parse_args(argv)
    global RUNTIME_LIB, PYTHON, NEIGHBOUR
    RUNTIME_LIB, PYTHON, NEIGHBOUR = args.runtime_lib, args.python, not args.alone
    variants = {"plain": "", "tenant": TENANT_KEYS}
    chosen = list(variants) if args.keys == "both" else [args.keys]
    rows: list[tuple[str, Metrics]] = []
    floor = [bare_python() for _ in range(args.repeat)]
    rows.append(("bare python -IS", _median(floor)))
    for name in chosen:
        run = runtime_memory(variants[name])
        for impl in ("stock", "ours"):
            rows.append((f"{impl}, {name} keys", _median([run(impl) for _ in range(args.repeat)])))
    stock = {label.split(", ")[1]: m for label, m in rows if label.startswith("stock")}
    print(f"medians of {args.repeat}; ours run as `{system_python()} -IS` (tenant launcher)")
    print("| runtime | USS MiB | Private_Dirty MiB | RSS MiB | USS ours/stock |")
    print("|---|---|---|---|---|")
    for label, m in rows:
        ratio = ""
        if label.startswith("ours"):
            ratio = f"{m['uss_mib'] / stock[label.split(', ')[1]]['uss_mib']:.2f}"
        print(
            f"| {label} | {m['uss_mib']:.2f} | {m['private_dirty_mib']:.2f} | "
            f"{m['rss_mib']:.2f} | {ratio} |"
        )
    return 0


def _median(samples: list[Metrics]) -> Metrics:
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


if __name__ == "__main__":
    os.chdir(REPO)
    tempfile.tempdir = "/tmp"
    raise SystemExit(main())
