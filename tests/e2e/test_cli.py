"""supervisord's command line: flags overriding the config, daemonizing, refusing to run twice,
bad configs, and where it looks for a config without -c."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from pathlib import Path

from tests.harness import (
    MARK_VAR,
    StartDaemon,
    build_config,
    child_cmd,
    children_of,
    marked_pids,
    ours_only,
    pid_alive,
    proc_umask,
    program,
    render_ini,
    stays_true,
    supervisord_bin,
    supervisord_section,
    wait_file,
    wait_until,
)


def run_cli(impl: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run supervisord to completion (for flags and configs that make it exit at once)."""
    return subprocess.run(
        [str(supervisord_bin(impl)), *args],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def test_version_flag(impl: str) -> None:
    result = run_cli(impl, "-v")
    assert result.returncode == 0
    assert result.stdout == "4.3.0\n"  # ours: the supervisord it behaves as


def test_nodaemon_flag_overrides_config(start_daemon: StartDaemon, workdir: Path) -> None:
    conf = build_config(
        workdir, {"app": program(child_cmd("sleep"))}, supervisord={"nodaemon": False}
    )
    d = start_daemon(conf, args=["-n"])
    d.wait_log(r"success: app entered RUNNING state")
    assert d.returncode is None, "-n keeps supervisord in the foreground"
    assert children_of(d.pid)


def test_flags_override_config_paths(start_daemon: StartDaemon, workdir: Path) -> None:
    alt = workdir / "alt"
    (alt / "kids").mkdir(parents=True)
    conf = build_config(
        workdir,
        {
            "app": program(child_cmd("context", workdir / "app.json")),
            "talk": program(child_cmd("lines", 1)),
        },
        supervisord={"loglevel": "warn"},
    )
    args = [
        "-l", str(alt / "main.log"),
        "-j", str(alt / "main.pid"),
        "-q", str(alt / "kids"),
        "-i", "myident",
        "-e", "info",
        "-u", "root",
    ]
    d = start_daemon(conf, args=args, logfile=alt / "main.log")
    # -e info beats loglevel=warn (success: is an INFO line).
    d.wait_log(r"success: app entered RUNNING state")
    ctx = json.loads(wait_file(workdir / "app.json"))
    assert not (workdir / "supervisord.log").exists(), "-l replaces the configured logfile"
    assert wait_file(alt / "main.pid").strip() == str(d.pid)
    assert not (workdir / "supervisord.pid").exists()
    # -q and -i: AUTO child logs go to the new dir and carry the identifier.
    kids = alt / "kids"
    wait_until(lambda: list(kids.glob("talk-stdout---myident-*.log")), 10, "AUTO log in -q")
    assert list((workdir / "childlogs").iterdir()) == []
    assert ctx["env"]["SUPERVISOR_PROCESS_NAME"] == "app"
    # -u root: privileges are "dropped" to root, so no running-as-root complaint.
    assert "Privileges were not dropped" not in d.mainlog_text()


def test_main_log_size_flags_and_flag_booleans(start_daemon: StartDaemon, workdir: Path) -> None:
    childlogs = workdir / "childlogs"
    childlogs.mkdir(exist_ok=True)
    stale = childlogs / "old-stdout---supervisor-zz.log"
    stale.write_text("stale\n")
    out = workdir / "out.log"
    progs = {
        "color": program(child_cmd("ansi"), stdout_logfile=out),
        **{f"p{i}": program(child_cmd("exit", 1), startretries=1) for i in range(4)},
    }
    d = start_daemon(
        build_config(workdir, progs), args=["-y", "1500", "-z", "1", "-k", "-t"]
    )
    wait_until(d.logfile.with_name("supervisord.log.1").exists, 15, "-y 1500 rotates main log")
    wait_until(lambda: out.exists() and out.read_text() == "red plain bold\n", 10, "-t strips ANSI")
    stays_true(lambda: not d.logfile.with_name("supervisord.log.2").exists(), 0.3, "-z 1")
    assert stale.exists(), "-k keeps old AUTO child logs"


def test_minfds_and_minprocs_raise_soft_limits(start_daemon: StartDaemon, workdir: Path) -> None:
    conf = build_config(workdir, {"app": program(child_cmd("context", workdir / "app.json"))})
    wrapper = ["prlimit", "--nofile=256:", "--nproc=150:", "--"]
    start_daemon(conf, args=["-a", "1000", "--minprocs", "300"], wrapper=wrapper)
    pid = json.loads(wait_file(workdir / "app.json"))["pid"]
    limits = Path(f"/proc/{pid}/limits").read_text()
    assert re.search(r"Max open files\s+1000\s", limits), limits
    assert re.search(r"Max processes\s+300\s", limits), limits


def test_daemonize_pidfile_and_directory(impl: str, workdir: Path) -> None:
    home = workdir / "home"
    home.mkdir()
    conf_path = workdir / "supervisord.conf"
    conf_path.write_text(
        build_config(
            workdir,
            {"app": program(child_cmd("context", workdir / "app.json"))},
            supervisord={"nodaemon": False},
        )
    )
    pidfile = workdir / "supervisord.pid"
    token = os.urandom(8).hex()
    env = {**os.environ, MARK_VAR: token}
    try:
        launched = subprocess.run(
            [str(supervisord_bin(impl)), "-c", str(conf_path), "-d", str(home), "-m", "077"],
            env=env, cwd=workdir, capture_output=True, text=True, timeout=20,
            stdin=subprocess.DEVNULL,
        )
        assert launched.returncode == 0, launched.stderr
        daemon_pid = int(wait_file(pidfile).strip())
        assert pid_alive(daemon_pid)
        ctx = json.loads(wait_file(workdir / "app.json"))
        assert ctx["cwd"] == str(home), "-d: the daemon (and so its children) chdir there"
        assert os.getsid(daemon_pid) == daemon_pid, "a daemon leads its own session"
        # -m: applied when daemonizing; children inherit it when the program sets none.
        assert ctx["umask"] == "077"
        assert proc_umask(ctx["pid"]) == 0o077
        os.kill(daemon_pid, signal.SIGTERM)
        wait_until(lambda: not pid_alive(daemon_pid), 15, "daemon exit after TERM")
        wait_until(lambda: not pidfile.exists(), 5, "pidfile removed at exit")
    finally:
        for pid in marked_pids(token):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_second_instance_on_same_socket_refuses(start_daemon: StartDaemon, workdir: Path) -> None:
    conf = build_config(workdir, {"app": program(child_cmd("sleep"))}, unix_socket=True)
    first = start_daemon(conf)
    first_pid = first.spawned_pid("app")
    first.wait_log(r"success: app entered RUNNING state")
    second_dir = workdir / "second"
    second_dir.mkdir()
    second = start_daemon(None, workdir=second_dir, args=["-c", str(first.conf_path)],
                          use_c=False, logfile=first.logfile)
    code = second.wait_exit(15)
    assert code != 0
    assert "Another program is already listening" in second.output_text()
    assert first.returncode is None
    assert pid_alive(first_pid)
    assert (workdir / "supervisor.sock").exists()
    assert wait_file(workdir / "supervisord.pid").strip() == str(first.pid)


def test_second_instance_on_same_pidfile_refuses(
    impl: str, start_daemon: StartDaemon, workdir: Path
) -> None:
    ours_only(impl, "stock 4.3.0 does not check the pidfile; it overwrites it")
    conf = build_config(workdir, {"app": program(child_cmd("sleep"))})
    first = start_daemon(conf)
    first.wait_log(r"success: app entered RUNNING state")
    second_dir = workdir / "second"
    second_dir.mkdir()
    second = start_daemon(None, workdir=second_dir, args=["-c", str(first.conf_path)],
                          use_c=False, logfile=second_dir / "none.log")
    assert second.wait_exit(15) != 0
    assert first.returncode is None
    assert wait_file(workdir / "supervisord.pid").strip() == str(first.pid)
    assert "spawned: 'app'" not in second.output_text()


SEED_002_BAD = """\
[program:redis_6376]
command=/usr/local/bin/redis-server /etc/redis_6376.conf
process_name=%(program_name)s
numprocs=l
directory=/tmp
umask=022
priority=999
autostart=true
autorestart=true
"""


def test_bad_config_exits_before_spawning(impl: str, workdir: Path) -> None:
    conf_path = workdir / "supervisord.conf"
    conf_path.write_text(render_ini({"supervisord": supervisord_section(workdir)}) + SEED_002_BAD)
    result = run_cli(impl, "-c", str(conf_path), cwd=workdir)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "'l'" in message, message
    assert "spawned:" not in message
    log = workdir / "supervisord.log"
    assert not log.exists() or "spawned:" not in log.read_text()
    if impl == "ours":
        # Stock names only value, section and file; we also name the key.
        assert "numprocs" in message, message
        assert "program:redis_6376" in message, message
        assert str(conf_path) in message or conf_path.name in message, message


def test_config_search_order_without_c(start_daemon: StartDaemon, workdir: Path) -> None:
    def conf_logging_to(name: str) -> str:
        section = supervisord_section(workdir, logfile=workdir / name)
        return render_ini({"supervisord": section, "program:app": program(child_cmd("sleep"))})

    (workdir / "etc").mkdir()
    (workdir / "etc" / "supervisord.conf").write_text(conf_logging_to("from-etc.log"))
    d = start_daemon(None, use_c=False, cwd=workdir, logfile=workdir / "from-etc.log")
    d.wait_log(r"success: app entered RUNNING state")
    assert d.stop() == 0

    (workdir / "supervisord.conf").write_text(conf_logging_to("from-cwd.log"))
    d2 = start_daemon(None, use_c=False, cwd=workdir, logfile=workdir / "from-cwd.log")
    d2.wait_log(r"success: app entered RUNNING state")
    assert "from-etc" not in d2.mainlog_text()
