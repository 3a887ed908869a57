"""What a child is started with: directory, umask, environment, PATH lookup."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.harness import (
    CHILD,
    PY,
    StartDaemon,
    build_config,
    child_cmd,
    proc_cwd,
    proc_environ,
    proc_umask,
    program,
    wait_file,
)


def context_of(workdir: Path, name: str) -> dict[str, Any]:
    return json.loads(wait_file(workdir / f"{name}.json"))


def test_directory_and_umask(start_daemon: StartDaemon, workdir: Path) -> None:
    sub = workdir / "appdir"
    sub.mkdir()
    progs = {
        "app": program(child_cmd("context", workdir / "app.json"), directory=sub, umask="027"),
        # Without directory= a child runs where the daemon runs (workdir in these tests).
        "plain": program(child_cmd("context", workdir / "plain.json")),
    }
    d = start_daemon(build_config(workdir, progs))
    app = context_of(workdir, "app")
    assert app["cwd"] == str(sub)
    assert app["umask"] == "027"
    assert proc_cwd(app["pid"]) == str(sub)
    assert proc_umask(app["pid"]) == 0o027
    plain = context_of(workdir, "plain")
    assert plain["cwd"] == str(workdir)
    assert d.returncode is None


def test_environment_precedence_and_supervisor_vars(
    start_daemon: StartDaemon, workdir: Path
) -> None:
    progs = {
        "app": program(
            child_cmd("context", workdir / "app.json"),
            environment={"LAYER_PROG": "prog", "SHARED": "from-program"},
        ),
    }
    conf = build_config(
        workdir,
        progs,
        supervisord={"environment": {"LAYER_SUP": "sup", "SHARED": "from-supervisord",
                                     "OVERRIDDEN": "from-supervisord"}},
        unix_socket=True,
    )
    env = dict(os.environ, OVERRIDDEN="from-daemon-env", ONLY_DAEMON="daemon", SHARED="daemon")
    start_daemon(conf, env=env)
    ctx = context_of(workdir, "app")
    child_env = ctx["env"]
    assert child_env["ONLY_DAEMON"] == "daemon"
    assert child_env["OVERRIDDEN"] == "from-supervisord"  # [supervisord] over the daemon's env
    assert child_env["SHARED"] == "from-program"  # program over [supervisord]
    assert child_env["LAYER_SUP"] == "sup"
    assert child_env["LAYER_PROG"] == "prog"
    assert child_env["SUPERVISOR_ENABLED"] == "1"
    assert child_env["SUPERVISOR_PROCESS_NAME"] == "app"
    assert child_env["SUPERVISOR_GROUP_NAME"] == "app"
    assert child_env["SUPERVISOR_SERVER_URL"] == f"unix://{workdir / 'supervisor.sock'}"
    # /proc agrees with what the child saw.
    assert proc_environ(ctx["pid"])["SHARED"] == "from-program"


def test_no_server_url_without_http_server(start_daemon: StartDaemon, workdir: Path) -> None:
    start_daemon(build_config(workdir, {"app": program(child_cmd("context", workdir / "a.json"))}))
    child_env = context_of(workdir, "a")["env"]
    assert "SUPERVISOR_SERVER_URL" not in child_env
    assert child_env["SUPERVISOR_ENABLED"] == "1"


def test_command_found_on_programs_own_path(start_daemon: StartDaemon, workdir: Path) -> None:
    bindir = workdir / "mybin"
    bindir.mkdir()
    tool = bindir / "my-e2e-tool"
    tool.write_text(f'#!/bin/sh\nexec {PY} -u {CHILD} context "$1"\n')
    tool.chmod(0o755)
    path = f"{bindir}:/usr/bin:/bin"
    progs = {"app": program(f"my-e2e-tool {workdir / 'app.json'}", environment={"PATH": path})}
    d = start_daemon(build_config(workdir, progs))
    ctx = context_of(workdir, "app")
    assert ctx["env"]["PATH"] == path
    d.wait_log(r"success: app entered RUNNING state")
