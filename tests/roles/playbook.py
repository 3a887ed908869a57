"""Helpers for the roles tests: one wheel per session, ansible-playbook runs into a prefix,
the PLAY RECAP, and the processes a prefix install started.

Everything a run installs lives under its prefix (see roles/*/defaults/main.yml), so a test
owns its prefix and cleans it up with the SysV script the roles installed there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
BIN = Path(sys.executable).parent
ANSIBLE_PLAYBOOK = BIN / "ansible-playbook"
ANSIBLE_LINT = BIN / "ansible-lint"
RECAP_RE = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)
PLAYBOOK_TIMEOUT = 300


def built_once(shared_dir: Path, name: str, build: Callable[[Path], None]) -> Path:
    """``shared_dir/name``, made by ``build(path)`` once for all xdist workers: a file lock
    serializes them (an in-tree setuptools build must not run twice at once), and a build is
    renamed into place only once it is complete, so a failed one is never reused."""
    shared_dir.mkdir(parents=True, exist_ok=True)
    target = shared_dir / name
    with open(shared_dir / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            partial = shared_dir / f"{name}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            build(partial)
            partial.rename(target)
    return target


def build_wheel(shared_dir: Path) -> Path:
    """A wheel of the project, built once for all xdist workers."""

    def build(wheel_dir: Path) -> None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--wheel-dir",
                str(wheel_dir),
                str(REPO),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )

    wheels = sorted(built_once(shared_dir, "wheel", build).glob("hosting_platform-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip wheel left no hosting_platform wheel in {shared_dir}/wheel")
    return wheels[-1]


def build_wheelhouse(shared_dir: Path) -> Path:
    """An offline wheelhouse made by scripts/wheelhouse for this interpreter, once for all
    xdist workers."""

    def build(path: Path) -> None:
        done = subprocess.run(
            [str(REPO / "scripts/wheelhouse"), str(path), "--python", sys.executable],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"scripts/wheelhouse failed:\n{done.stdout}{done.stderr[-3000:]}")

    return built_once(shared_dir, "wheelhouse", build)


def offline_pip_env(index_url: str) -> dict[str, str]:
    """This environment with no package index for pip: the machine's pip config files and
    PIP_* variables (their find-links and mirrors) left out, PIP_NO_INDEX set, and
    PIP_INDEX_URL pointing at ``index_url`` (an address that refuses connections), should
    anything ignore PIP_NO_INDEX."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_INDEX_URL=index_url)
    return env


def local_ansible_env(workdir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of an ansible-playbook run on localhost whose temporary and home
    directories stay inside ``workdir``: ``base`` (None: this process's) with those set."""
    return dict(
        os.environ if base is None else base,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(workdir / "ansible-local"),
        ANSIBLE_REMOTE_TEMP=str(workdir / "ansible-remote"),
        ANSIBLE_HOME=str(workdir / "ansible-home"),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Recap:
    ok: int
    changed: int
    unreachable: int
    failed: int


RECAP_KEYS = ("ok", "changed", "unreachable", "failed")  # Recap's fields, in its order


@dataclass
class Install:
    """One prefix install: where it is and the extra vars its runs use."""

    workdir: Path
    wheel: Path
    web_port: int
    # Extra vars on top of extra_vars()'s, and the environment of ansible-playbook (None:
    # this process's).
    more_vars: dict[str, object] = field(default_factory=dict)
    env: dict[str, str] | None = None

    @property
    def prefix(self) -> Path:
        return self.workdir / "prefix"

    @property
    def venv_bin(self) -> Path:
        return self.prefix / "opt/hosting/venv/bin"

    @property
    def system_conf(self) -> Path:
        return self.prefix / "etc/supervisord.conf"

    @property
    def host_home(self) -> Path:
        return self.prefix / "srv/hosting"

    @property
    def host_conf(self) -> Path:
        return self.host_home / "conf/supervisord.conf"

    @property
    def initd(self) -> Path:
        return self.prefix / "etc/init.d/supervisord"

    @property
    def redis_socket(self) -> Path:
        return self.prefix / "run/hosting-redis/redis.sock"

    @property
    def redis_password_file(self) -> Path:
        return self.prefix / "etc/hosting/redis_password"

    def redis_password(self) -> str:
        return self.redis_password_file.read_text(encoding="utf-8").strip()

    def extra_vars(self) -> dict[str, object]:
        # No Redis URL or port: the roles' defaults (a unix socket with a password, no TCP).
        return {
            "prefix": str(self.prefix),
            "supervisor_runtime_source": str(self.wheel),
            "supervisor_runtime_python": sys.executable,
            "platform_web_bind": f"127.0.0.1:{self.web_port}",
            "platform_web_gunicorn_workers": 1,
            "platform_host_worker_numprocs": 1,
            **self.more_vars,
        }

    def inventory(self) -> Path:
        """localhost in both groups, run with connection=local and this interpreter."""
        path = self.workdir / "inventory.ini"
        host = f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}"
        path.write_text(f"[web]\n{host}\n\n[app_hosts]\n{host}\n", encoding="utf-8")
        return path

    def playbook(self, *args: str) -> tuple[subprocess.CompletedProcess[str], Recap]:
        return run_playbook(self.workdir, self.inventory(), self.extra_vars(), self.env, *args)

    def ctl(self, conf: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv_bin / "supervisorctl"), "-c", str(conf), *args],
            capture_output=True,
            text=True,
            timeout=30,
        )

    def pids(self) -> set[int]:
        """Every process this install runs: both supervisords and all their programs."""
        found: set[int] = set()
        pidfile = self.prefix / "run/supervisor/supervisord.pid"
        if pidfile.exists():
            found.add(int(pidfile.read_text().strip()))
        for conf in (self.system_conf, self.host_conf):
            if conf.exists():
                out = self.ctl(conf, "pid", "all").stdout
                found.update(int(word) for word in out.split() if word.isdigit() and word != "0")
        return found | processes_mentioning(str(self.prefix))

    def stop(self) -> None:
        if self.initd.exists():
            subprocess.run([str(self.initd), "stop"], capture_output=True, timeout=120)


def run_playbook(
    workdir: Path,
    inventory: Path,
    extra_vars: dict[str, object],
    env: dict[str, str] | None = None,
    *args: str,
    timeout: float = PLAYBOOK_TIMEOUT,
) -> tuple[subprocess.CompletedProcess[str], Recap]:
    """roles/site.yml run on ``inventory`` with ``extra_vars``; Ansible's own files go in
    ``workdir``. ``env``: the environment of ansible-playbook (None: this process's)."""
    vars_file = workdir / "extra-vars.json"
    vars_file.write_text(json.dumps(extra_vars), encoding="utf-8")
    env = local_ansible_env(workdir, env)
    env.update(
        ANSIBLE_ROLES_PATH=str(ROLES),
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_STDOUT_CALLBACK="default",
    )
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(ROLES / "site.yml"),
         "-e", f"@{vars_file}", *args],
        cwd=ROLES, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    return proc, parse_recap(proc.stdout)


def parse_recap(stdout: str) -> Recap:
    """The PLAY RECAP's counts, summed over its hosts."""
    hosts = parse_recaps(stdout).values()
    return Recap(*(sum(getattr(recap, key) for recap in hosts) for key in RECAP_KEYS))


def parse_recaps(stdout: str) -> dict[str, Recap]:
    """The PLAY RECAP's counts of each host it names."""
    found = {
        match["host"]: Recap(*(int(match[key]) for key in RECAP_KEYS))
        for match in RECAP_RE.finditer(stdout)
    }
    if not found:
        raise AssertionError(f"no PLAY RECAP in ansible-playbook output:\n{stdout[-3000:]}")
    return found


def processes_mentioning(text: str) -> set[int]:
    """Live processes whose command line contains ``text`` (e.g. a prefix path)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.add(int(entry.name))
    return found


def redis_call(path: Path, *commands: str, timeout: float = 5.0) -> bytes:
    """Send inline commands to Redis on its unix socket, then QUIT; everything it answered."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall("".join(f"{command}\r\n" for command in (*commands, "QUIT")).encode())
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data


def tcp_listeners(pid: int) -> list[str]:
    """The TCP sockets process ``pid`` listens on, as "address:port" (hex, from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = []
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(fields[1])
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is as good as gone


def wait_until_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    left = {pid for pid in pids if alive(pid)}
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {pid for pid in left if alive(pid)}
    return left


def kill_leftovers(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def tear_down(installs: list[Install], workdir: Path) -> set[int]:
    """Stop every install with the SysV script it installed, wait for all their processes
    to go, kill what is left, remove ``workdir``; the processes that had to be killed."""
    pids = set().union(*(inst.pids() for inst in installs))
    # All at once: each stop mostly waits for its programs to exit.
    with ThreadPoolExecutor(max_workers=max(len(installs), 1)) as pool:
        list(pool.map(Install.stop, installs))
    left = wait_until_gone(pids, timeout=30)
    kill_leftovers(left)
    remove_tree(workdir)
    return left


def running(status_out: str) -> dict[str, str]:
    """Program name -> state, from `supervisorctl status`."""
    states = {}
    for line in status_out.splitlines():
        words = line.split()
        if len(words) >= 2:
            states[words[0]] = words[1]
    return states


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def http_status(port: int, path: str = "/") -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="GET")
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def wait_ready(port: int, timeout: float = 60) -> int:
    """The deployed panel's /readyz status, once it is 200 or ``timeout`` seconds passed (the
    workers register a moment after the panel answers)."""
    deadline = time.monotonic() + timeout
    while (status := http_status(port, "/readyz")) != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    return status


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def installed_versions(venv: Path) -> dict[str, str]:
    done = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    pins = (line.split("==", 1) for line in done.stdout.splitlines() if "==" in line)
    return {name.lower(): version for name, version in pins}


def pins(constraints: Path) -> dict[str, str]:
    """name -> version of every `name==version` line (names lower case, - for _ and .)."""
    found = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            found[name.strip().lower().replace("_", "-").replace(".", "-")] = version.strip()
    return found


def check_pinned(venv: Path, constraints: Path) -> None:
    """Every package in the virtualenv but pip's own and the project (installed by path,
    pip freeze names it by its wheel's URL) is at its pin."""
    installed = {
        name.replace("_", "-").replace(".", "-"): version
        for name, version in installed_versions(venv).items()
    }
    for tool in ("pip", "setuptools", "wheel", "hosting-platform"):
        installed.pop(tool, None)
    pinned = pins(constraints)
    needed = {"sqlalchemy", "rq", "redis", "gunicorn", "flask", "alembic", "prometheus-client"}
    assert needed <= installed.keys()
    assert {name: pinned.get(name) for name in installed} == installed


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
