"""A tenant container from the inside, tried as the tenant would (through ``enter``, as its
user, in its namespaces): what it sees, what it can reach, and how it ends."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import pytest

from tests.containers.fixtures import Tenants, program, wait_until
from workers.container import cgroups
from workers.container.spec import Limits

pytestmark = pytest.mark.timeout(180)

HTTP_APP = "python3 -m http.server 8080 --bind 127.0.0.1"


def test_the_runtime_is_pid_1_with_a_clean_environment(tenants: Tenants) -> None:
    box = tenants.make(programs={"app": program("app", HTTP_APP)})
    box.start()
    done = box.run("sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; env; id -u", check=True)
    cmdline, *env_lines, uid = done.stdout.strip().splitlines()
    assert "/opt/hosting/bin/supervisord -n -c /srv/conf/supervisord.conf" in cmdline
    env = dict(line.split("=", 1) for line in env_lines)
    assert set(env) == {"PATH", "HOME", "USER", "LOGNAME", "LANG", "PWD"}
    assert env["HOME"] == env["PWD"] == "/srv"
    assert int(uid) == box.spec.uid
    # The runtime's own environment (what its programs inherit) is as clean.
    environ = box.run("cat", "/proc/1/environ", check=True).stdout.split("\0")
    names = {item.split("=", 1)[0] for item in environ if item}
    assert names <= {"PATH", "HOME", "USER", "LOGNAME", "LANG", "PWD", "SUPERVISOR_ENABLED"}


def test_supervisorctl_needs_no_arguments_inside(tenants: Tenants) -> None:
    box = tenants.make(programs={"app": program("app", HTTP_APP)})
    box.start()
    wait_until(lambda: "RUNNING" in box.ctl("status").stdout, 30, "app RUNNING")
    before = box.ctl("status", "app").stdout.split()[3]
    restart = box.ctl("restart", "app")
    assert restart.returncode == 0, restart.stdout + restart.stderr
    assert "app: started" in restart.stdout
    assert box.ctl("status", "app").stdout.split()[3] != before


def test_the_view_holds_the_app_and_the_system_only(tenants: Tenants) -> None:
    box = tenants.make()
    box.start()
    top = set(box.run("ls", "/", check=True).stdout.split())
    assert top <= {
        "bin",
        "dev",
        "etc",
        "lib",
        "lib32",
        "lib64",
        "libx32",
        "opt",
        "proc",
        "run",
        "sbin",
        "srv",
        "tmp",
        "usr",
        "var",
    }
    # No other part of the host: not the test's base, not the host root, not /root.
    probe = box.run(
        "sh",
        "-c",
        f"ls {tenants.base} /root {box.spec.assets} 2>&1; "
        "touch /usr/x /etc/x /x 2>&1; echo x > /tmp/x && cat /tmp/x",
    )
    assert "No such file or directory" in probe.stdout
    assert probe.stdout.count("Read-only file system") == 3
    assert probe.stdout.strip().endswith("x")
    # Processes: only the container's own.
    pids = box.run("ls", "/proc", check=True).stdout.split()
    assert max(int(p) for p in pids if p.isdigit()) < 50


def test_every_container_has_its_own_loopback(tenants: Tenants) -> None:
    first = tenants.make("one", programs={"app": program("app", HTTP_APP)})
    second = tenants.make("two", programs={"app": program("app", HTTP_APP)})
    first.start()
    second.start()
    for box in (first, second):
        wait_until(lambda box=box: "RUNNING" in box.ctl("status", "app").stdout, 30, "app")
        (box.root / "app" / "who").write_text(box.spec.app)
    fetch = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080/who').read())"
    assert "b'one'" in first.run("python3", "-c", fetch, check=True).stdout
    assert "b'two'" in second.run("python3", "-c", fetch, check=True).stdout
    # Nothing of theirs on the host's loopback.
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", 8080), timeout=2):
        pass


def test_stop_reaches_the_runtime_which_stops_its_programs(tenants: Tenants) -> None:
    box = tenants.make(programs={"app": program("app", HTTP_APP)})
    box.start()
    wait_until(lambda: "RUNNING" in box.ctl("status", "app").stdout, 30, "app RUNNING")
    box.stop()
    log = (box.root / "log" / "supervisord.log").read_text()
    assert "received SIGTERM indicating exit request" in log
    assert "stopped: app (terminated by SIGTERM)" in log
    assert cgroups.detect().cgroup(box.spec.key).pids() == set()


def test_kill_9_of_the_runtime_leaves_no_orphans(tenants: Tenants) -> None:
    box = tenants.make(
        programs={
            "app": program("app", HTTP_APP),
            "forker": program("forker", "sh -c 'sleep 300 & sleep 301 & wait'"),
        }
    )
    box.start()
    wait_until(lambda: box.ctl("status").stdout.count("RUNNING") == 2, 30, "both RUNNING")
    cgroup = cgroups.detect().cgroup(box.spec.key)
    assert len(cgroup.pids()) >= 5
    os.kill(box.init_pid(), signal.SIGKILL)
    assert box.launcher is not None
    box.launcher.wait(10)
    wait_until(lambda: cgroup.pids() == set(), 10, "every process of the container to end")
    # Started again, it runs one copy of each program.
    box.start()
    wait_until(lambda: box.ctl("status").stdout.count("RUNNING") == 2, 30, "both RUNNING")
    sleeps = box.run("sh", "-c", "ps -eo args | grep -c '^sleep 30'").stdout.strip()
    assert sleeps == "2"


def test_a_fork_bomb_stops_at_the_tasks_limit(tenants: Tenants) -> None:
    box = tenants.make(limits=Limits(pids=64))
    box.start()
    bomb = (
        "import os, time\n"
        "made = 0\n"
        "for _ in range(500):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(5); os._exit(0)\n"
        "        made += 1\n"
        "    except OSError:\n"
        "        break\n"
        "print(made)\n"
    )
    done = box.run("python3", "-c", bomb, check=True)
    assert 30 <= int(done.stdout.strip()) < 64
    # The runtime itself carries on once the bomb's children are gone.
    wait_until(lambda: box.ctl("pid").stdout.strip() == "1", 30, "the runtime to answer")


def test_a_memory_hog_is_killed_inside_its_own_cgroup(tenants: Tenants) -> None:
    box = tenants.make(
        limits=Limits(memory_mb=64),
        programs={
            "hog": program(
                "hog",
                "python3 -c 'x = bytearray(300 * 1024 * 1024); import time; time.sleep(60)'",
                autorestart="false",
            ),
        },
    )
    box.start()
    log = box.root / "log" / "supervisord.log"
    wait_until(
        lambda: "exited: hog (terminated by SIGKILL" in log.read_text(), 60, "the hog to be killed"
    )
    assert box.ctl("pid").stdout.strip() == "1"  # the runtime lives on
    usage = cgroups.detect().cgroup(box.spec.key).memory_usage()
    assert usage is not None and usage <= 64 * 1024 * 1024


def test_the_spec_must_be_roots_alone(tenants: Tenants) -> None:
    box = tenants.make()
    box.spec_path.chmod(0o666)
    from workers.container.spec import SpecError, load_spec

    with pytest.raises(SpecError, match="could have been changed by someone else"):
        load_spec(box.spec_path)
    box.spec_path.chmod(0o600)
    assert json.loads(box.spec_path.read_text())["uid"] == box.spec.uid


def test_a_root_path_a_tenant_could_swap_is_refused(tenants: Tenants, tmp_path: Path) -> None:
    from workers.container.view import ViewError, open_root_owned

    box = tenants.make()
    # The tenant's own directories are the tenant's: never a path root walks through.
    with pytest.raises(ViewError, match="not root"):
        open_root_owned(box.root / "var")
    os.symlink("/etc", box.root / "var" / "link")
    with pytest.raises(ViewError):
        open_root_owned(box.root / "var" / "link")


def test_the_runtime_loads_its_modules_compiled(tenants: Tenants) -> None:
    # /opt/hosting is read-only inside: without the bytecode made with the assets, every
    # runtime start compiled each module it imports again (0.1 s of CPU per tenant).
    box = tenants.make()
    box.start()
    code = (
        "import sys; sys.path.insert(0, '/opt/hosting/lib'); "
        "import supervisor_runtime.cli.supervisord"
    )
    done = box.run("python3", "-IS", "-B", "-v", "-c", code, check=True)
    loads = [line for line in done.stderr.splitlines() if line.startswith("# code object from")]
    ours = [line for line in loads if "/opt/hosting/lib/supervisor_runtime/" in line]
    assert ours and all(line.endswith(".pyc'") for line in ours), ours
