"""scripts/run's launcher: the whole platform from one command, stopped without leftovers."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.harness import processes_of, wait_until

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in cmdline or text in environ:
            found.append(int(entry.name))
    return found


@pytest.mark.timeout(480)
@pytest.mark.skipif(not Path("/usr/bin/redis-server").exists(), reason="needs redis-server")
def test_one_command_runs_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    # Not under tmp_path (0700): the apps' own users must be able to reach their roots.
    data = Path(tempfile.mkdtemp(prefix="platform-", dir="/tmp")) / "run"
    data.parent.chmod(0o755)
    panel, app_port = free_port(), free_port()
    env = {
        **os.environ,
        "HOSTING_DATA_DIR": str(data),
        "PANEL_ADDRESS": f"127.0.0.1:{panel}",
        "DEMO_APP_PORT": str(app_port),
        "DEMO_MEMCACHED_PORT": str(free_port()),
    }
    env.pop("DATABASE_URL", None)
    out = tmp_path / "out.txt"

    def launch() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "local_platform"],
            cwd=REPO,
            env=env,
            stdout=out.open("wb"),
            stderr=subprocess.STDOUT,
        )

    launcher = launch()
    try:
        wait_until(lambda: "Ctrl-C" in out.read_text(), 150, "the launcher's summary")
        text = out.read_text()
        assert "==> job create_app: done" in text and "==> job apply_services: done" in text
        token = (data / "demo-api-token").read_text().strip()
        assert f"API token:  {token}" in text
        hello = urllib.request.urlopen(f"http://127.0.0.1:{app_port}/", timeout=5).read()
        assert b"Hello from the demo app" in hello
        request = urllib.request.Request(
            f"http://127.0.0.1:{panel}/api/v1/apps", headers={"Authorization": f"Bearer {token}"}
        )
        apps = json.loads(urllib.request.urlopen(request, timeout=5).read())["apps"]
        assert [a["name"] for a in apps] == ["demo"]
        # As the demo tenant would over SSH, with the command the summary shows (inside its
        # container, supervisorctl with no -c; as a plain process without containers).
        ssh_style = next(line for line in text.splitlines() if "SSH-style:" in line)
        ctl = subprocess.run(
            shlex.split(ssh_style.split("SSH-style:", 1)[1]),
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
        )
        assert ctl.returncode == 0, ctl.stdout + ctl.stderr
        assert "app " in ctl.stdout and "memcached " in ctl.stdout
        assert ctl.stdout.count("RUNNING") == 2
    finally:
        launcher.send_signal(signal.SIGINT)
        launcher.wait(timeout=150)
    assert "nothing is left running" in out.read_text()
    time.sleep(0.5)
    assert processes_mentioning(str(data)) == []

    # A second start reuses what the first created, and `stop` ends it from outside.
    out.write_text("")
    launcher = launch()
    try:
        wait_until(lambda: "Ctrl-C" in out.read_text(), 120, "the second summary")
        assert "job create_app" not in out.read_text()
        # A custom program whose shell has a child: the stop must end both.
        uid = add_sleeper(data)
        wait_until(lambda: sleepers(uid), 60, "the custom program's sleep")
        stop = subprocess.run(
            [sys.executable, "-m", "local_platform", "stop"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=150,
        )
        assert stop.returncode == 0, stop.stderr
    finally:
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)
        launcher.wait(timeout=150)
    assert processes_mentioning(str(data)) == []
    assert out.read_text().rstrip().endswith("nothing is left running")
    assert sleepers(uid) == []
    remove_demo_tenants(data)
    shutil.rmtree(data.parent, ignore_errors=True)


def add_sleeper(data: Path) -> int:
    """Add the custom program ``sh -c 'sleep 300; echo x'`` to the demo app, as the panel
    would (a job on the platform's own queue); returns the uid its processes run as."""
    import pwd

    from hosting import commands, db
    from hosting.identities import instance_id, user_prefix
    from hosting.job_records import wait_for_job
    from hosting.models import App
    from redis import Redis

    password = (data / "redis-password").read_text().strip()
    redis = Redis.from_url(f"unix://:{password}@{data / 'redis.sock'}")
    engine = db.make_engine(f"sqlite:///{data / 'hosting.db'}")
    sessions = db.make_session_factory(engine)
    try:
        with sessions() as session:
            app = session.query(App).filter_by(name="demo").one()
            settings = {"command": "sh -c 'sleep 300; echo x'"}
            actor = commands.Actor.operator("test")
            _service, job = commands.save_custom_program(
                session, redis, actor, app, "sleeper", settings
            )
            user = f"{user_prefix(instance_id(session))}{app.id}"
        done = wait_for_job(sessions, job.id, timeout=60)
        assert done.status == "done", done.error
    finally:
        engine.dispose()
        redis.close()
    return pwd.getpwnam(user).pw_uid if os.geteuid() == 0 else os.getuid()


def sleepers(uid: int) -> list[int]:
    """Processes of ``uid`` running ``sleep 300``."""
    return processes_of(uid, ["sleep", "300"])


def remove_demo_tenants(data: Path) -> None:
    """The demo app's user, cgroups and network namespace outlive a stop (the app still
    exists); this test's platform goes away with its data, so they go too: its users are
    those named with its own prefix."""
    import pwd

    from hosting import db
    from hosting.identities import instance_id, user_prefix

    from workers.container import cgroups, netns

    engine = db.make_engine(f"sqlite:///{data / 'hosting.db'}")
    with db.make_session_factory(engine)() as session:
        prefix = user_prefix(instance_id(session))
    engine.dispose()
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(prefix):
            try:
                cgroups.remove_app(entry.pw_name)
            except cgroups.CgroupError:
                pass
            netns.remove(netns.name_for(entry.pw_name))
            subprocess.run(["userdel", entry.pw_name], capture_output=True, check=False)
