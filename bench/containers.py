"""What a tenant container costs, against the same tenant runtime without one.

    python -m bench.containers [--repeat N]      # as root: containers need it

One tenant: our runtime with three programs (``sleep``), started bare (the system Python
running the runtime, as the app's user) and in its container (``workers.container.launch``:
cgroup, network namespace, setpriv, bwrap). Measured side by side, alternating:

- start: from the launch to all three programs RUNNING, as the runtime reports them;
- private memory (USS, ``smaps_rollup`` Private_*): the runtime, plus bwrap's own process
  that waits outside the container.
"""

from __future__ import annotations

import argparse
import os
import pwd
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from supervisor_runtime.ctl.client import connect
from workers.container import assets, cgroups, netns
from workers.container.enter import container_init
from workers.container.spec import ContainerSpec

PYTHON = "/usr/bin/python3"
PROGRAMS = 3
Metrics = dict[str, float]


def uss_mib(pid: int) -> float:
    private = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            private += int(line.split()[1])
    return private / 1024


def base_conf(root: str) -> str:
    programs = "".join(
        f"[program:p{i}]\ncommand=/bin/sleep 100000\nstartsecs=0\n" for i in range(PROGRAMS)
    )
    return (
        f"[unix_http_server]\nfile={root}/run/supervisor.sock\nchmod=0700\n"
        f"[supervisord]\nlogfile={root}/log/supervisord.log\npidfile={root}/run/sd.pid\n"
        f"childlogdir={root}/log\nnodaemon=true\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
        + programs
    )


class Tenant:
    """One app's user and root (conf, log, run), made for the measurements."""

    def __init__(self, base: Path) -> None:
        self.user = f"hbench{secrets.token_hex(3)}"
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", self.user],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(self.user)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        self.root = base / "apps" / self.user / "srv"
        self.root.mkdir(parents=True)
        for directory in (self.root.parent, self.root):
            directory.chmod(0o711)
        for name in ("conf", "log", "run"):
            (self.root / name).mkdir()
            os.chown(self.root / name, self.uid, self.gid)

    def write_conf(self, root_seen: str) -> None:
        path = self.root / "conf" / "supervisord.conf"
        path.write_text(base_conf(root_seen))
        os.chown(path, 0, self.gid)
        path.chmod(0o640)
        os.chown(self.root / "conf", 0, self.gid)
        (self.root / "conf").chmod(0o750)

    def remove(self) -> None:
        cgroups.remove_app(self.user)
        netns.remove(netns.name_for(self.user))
        subprocess.run(["userdel", self.user], capture_output=True, check=False)
        subprocess.run(["groupdel", self.user], capture_output=True, check=False)


def _all_running(socket_path: Path) -> bool:
    try:
        with connect(f"unix://{socket_path}", timeout=2) as proxy:
            infos = proxy.supervisor.getAllProcessInfo()
    except OSError:
        return False
    return len(infos) == PROGRAMS and all(i["statename"] == "RUNNING" for i in infos)


def _wait(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.002)


def measure(kind: str, base: Path, assets_dir: Path) -> Metrics:
    tenant = Tenant(base)
    try:
        if kind == "bare":
            tenant.write_conf(str(tenant.root))
            # The same runtime, outside: its package from the assets' lib on the host.
            run = (
                f"import sys; sys.path.insert(0, {str(assets_dir / 'lib')!r}); "
                "from supervisor_runtime.cli.supervisord import main; sys.exit(main())"
            )
            conf = str(tenant.root / "conf/supervisord.conf")
            command = [PYTHON, "-IS", "-c", run, "-n", "-c", conf]
            began = time.monotonic()
            process = subprocess.Popen(
                command,
                user=tenant.uid,
                group=tenant.gid,
                extra_groups=[],
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        else:
            tenant.write_conf("/srv")
            spec = ContainerSpec(
                app="bench",
                key=tenant.user,
                user=tenant.user,
                uid=tenant.uid,
                gid=tenant.gid,
                root=str(tenant.root),
                assets=str(assets_dir),
                python=PYTHON,
            )
            spec_path = base / f"{tenant.user}.json"
            spec_path.write_text(spec.to_json())
            spec_path.chmod(0o600)
            began = time.monotonic()
            process = subprocess.Popen(
                [sys.executable, "-m", "workers.container.launch", str(spec_path)],
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        _wait(lambda: _all_running(tenant.root / "run" / "supervisor.sock"), "RUNNING")
        seconds = time.monotonic() - began
        time.sleep(0.5)  # let start-up garbage settle before reading memory
        if kind == "bare":
            memory = uss_mib(process.pid)
        else:
            memory = uss_mib(container_init(spec)) + uss_mib(process.pid)  # runtime + bwrap
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        return {"start_s": seconds, "uss_mib": memory}
    finally:
        tenant.remove()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.containers needs root", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="bench-ct-", dir="/tmp"))
    base.chmod(0o711)
    try:
        assets_dir = assets.install(base / "container", PYTHON)
        runs: dict[str, list[Metrics]] = {"bare": [], "container": []}
        for _ in range(args.repeat):
            for kind in runs:
                runs[kind].append(measure(kind, base, assets_dir))
                print(f"  {kind}: {runs[kind][-1]}", file=sys.stderr)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(render(runs, args.repeat))
    return 0


def render(runs: dict[str, list[Metrics]], repeat: int) -> str:
    medians = {
        kind: {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        for kind, rows in runs.items()
    }
    lines = [
        f"Tenant container against a bare runtime ({PROGRAMS} programs), medians of {repeat}:",
        "",
        "| metric | bare | container | container - bare |",
        "|---|---|---|---|",
    ]
    for key in ("start_s", "uss_mib"):
        bare, boxed = medians["bare"][key], medians["container"][key]
        lines.append(f"| {key} | {bare:.3f} | {boxed:.3f} | {boxed - bare:+.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
