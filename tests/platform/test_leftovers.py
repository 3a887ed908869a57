"""local_platform.leftovers: what `scripts/run stop` finds of ours after a stop, with real
processes (a session, a process that left it, a cgroup and a network namespace)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_platform import leftovers
from local_platform.leftovers import Leftover, Marks
from tests.harness import wait_until
from workers.container import cgroups, netns, probe
from workers.container.binaries import tool
from workers.container.spec import Limits

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
        child.wait(5)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start(children: list[subprocess.Popen[bytes]], argv: list[str], **popen: object) -> int:
    child = subprocess.Popen(argv, **popen)  # type: ignore[call-overload]
    children.append(child)
    return int(child.pid)


def test_the_host_runtimes_session_and_what_its_runtimes_started_are_found_and_killed(
    children: list[subprocess.Popen[bytes]],
) -> None:
    root = tempfile.mkdtemp(prefix="lo-")
    try:
        # A stand-in host runtime (a session of its own) with a child that keeps running.
        session = start(children, ["sh", "-c", "sleep 300 & wait"], start_new_session=True)
        # A program's child that left the session (setsid), marked by its runtime's socket.
        env = {"PATH": os.environ["PATH"], "SUPERVISOR_SERVER_URL": f"unix://{root}/run/s.sock"}
        escaped = start(children, ["setsid", "sleep", "301"], env=env)
        # Not ours: same command, no mark.
        stranger = start(children, ["sleep", "302"], start_new_session=True)
        wait_until(lambda: len(leftovers.find(Marks(session, [root]))) >= 3, 10, "3 processes")

        found, survivors = leftovers.end(Marks(session=session, roots=[root]))
        whys = {leftover.command: leftover.why for leftover in found}
        assert whys["sh -c sleep 300 & wait"] == "session of the host runtime"
        assert whys["sleep 300"] == "session of the host runtime"
        assert whys["sleep 301"] == "started by a runtime of the platform"
        assert "sleep 302" not in whys
        assert survivors == []
        assert not alive(session) and not alive(escaped) and alive(stranger)
        assert leftovers.report(found, survivors).endswith("nothing is left running")
        assert f"pid {session} (session of the host runtime): sh -c" in leftovers.report(
            found, survivors
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_an_apps_cgroup_and_network_namespace_are_searched(
    children: list[subprocess.Popen[bytes]],
) -> None:
    reason = probe.why_not()
    if reason is not None:
        pytest.skip(f"no tenant containers here: {reason}")
    key = f"lo{secrets.token_hex(3)}"
    cgroup = cgroups.detect().cgroup(key)
    cgroup.create(Limits())
    name = netns.name_for(key)
    netns.ensure(name)
    try:
        in_cgroup = start(children, ["sleep", "303"])
        cgroup.add(in_cgroup)
        in_netns = start(children, [tool("ip"), "netns", "exec", name, "sleep", "304"])
        marks = Marks()
        marks.add_app("demo", key, containers=True)
        wait_until(lambda: len(leftovers.find(marks)) == 2, 10, "both processes")
        found, survivors = leftovers.end(marks)
        assert sorted((f.command, f.why) for f in found) == [
            ("sleep 303", "cgroup of app demo"),
            ("sleep 304", "network namespace of app demo"),
        ]
        assert survivors == [] and not alive(in_cgroup) and not alive(in_netns)
    finally:
        cgroup.remove()
        netns.remove(name)


def test_the_report_names_what_survived() -> None:
    survivor = Leftover(4242, "sleep 300", "cgroup of app demo")
    text = leftovers.report([survivor], [survivor])
    assert text == (
        "stopped, but 1 of ours survived SIGKILL:\n  pid 4242 (cgroup of app demo): sleep 300"
    )
    assert "nothing is left running" not in text
    assert leftovers.report([], []) == "stopped; nothing is left running"
