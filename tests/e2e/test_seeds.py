"""The seed documents' configs, verbatim except for paths moved into a temp dir and stand-in
commands where the real daemon (npm, redis-server, sshd, nginx) is not installed."""

from __future__ import annotations

import json
import re
import shutil
import socket
import textwrap
from pathlib import Path

from tests.harness import (
    CHILD,
    PY,
    StartDaemon,
    pid_alive,
    proc_cwd,
    proc_umask,
    render_ini,
    supervisord_section,
    wait_file,
    wait_until,
)

# Seed 000: /srv/conf/supervisor.d/node in every app container.
SEED_000_NODE = """\
[program:app]
command=/opt/node/bin/npm start
environment=PATH="/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games:/opt/node/bin"
directory=/srv/app
autostart=true
autorestart=true
stdout_logfile=/srv/log/node.log
stdout_logfile_maxbytes=2MB
stdout_logfile_backups=5
redirect_stderr=true
"""

# Seed 002: four Redis instances (numprocs=l fixed to 1; the bad value is in test_cli).
SEED_002_REDIS = """\
[program:redis_{port}]
command=/usr/local/bin/redis-server /etc/redis_{port}.conf
stdout_logfile=/var/log/supervisor/%(program_name)s.log
stderr_logfile=/var/log/supervisor/%(program_name)s.log
process_name=%(program_name)s
numprocs=1
directory=/tmp
umask=022
priority=999
autostart=true
autorestart=true
"""

# Seed 002: the Docker example, /etc/supervisor/conf.d/supervisord.conf.
SEED_002_DOCKER = """\
[program:sshd]
command=/usr/sbin/sshd -D
[program:nginx]
command=/usr/sbin/nginx -g "daemon off;"
priority=900
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
stderr_logfile=/dev/stderr
stderr_logfile_maxbytes=0
autorestart=true
"""


def relocate(text: str, root: Path, *prefixes: str) -> str:
    """Move absolute paths under `prefixes` (like /srv/) into `root`."""
    for prefix in prefixes:
        text = text.replace(prefix, f"{root}{prefix}")
    return text


def stand_in(path: Path, body: str) -> None:
    """An executable sh script at `path` (a fake npm, redis-server, ...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)


def main_conf(workdir: Path, include: str) -> str:
    return render_ini(
        {"supervisord": supervisord_section(workdir), "include": {"files": include}}
    )


def test_seed_000_app_block(start_daemon: StartDaemon, workdir: Path) -> None:
    for sub in ("srv/app", "srv/log", "srv/conf/supervisor.d"):
        (workdir / sub).mkdir(parents=True)
    ctx_file = workdir / "npm.json"
    stand_in(
        workdir / "opt/node/bin/npm",
        f"""\
        echo "npm $1 in $(pwd)"
        echo "npm warning on stderr" >&2
        exec {PY} -u {CHILD} context {ctx_file}
        """,
    )
    node = relocate(SEED_000_NODE, workdir, "/srv/", "/opt/")
    (workdir / "srv/conf/supervisor.d/node").write_text(node)
    d = start_daemon(main_conf(workdir, "srv/conf/supervisor.d/*"))
    d.wait_log(r"success: app entered RUNNING state")
    ctx = json.loads(wait_file(ctx_file))
    assert ctx["cwd"] == str(workdir / "srv/app")
    assert ctx["env"]["PATH"].endswith(f":{workdir}/opt/node/bin")
    log = workdir / "srv/log/node.log"
    wait_until(lambda: "npm warning on stderr" in log.read_text(), 10, "stderr in node.log")
    assert f"npm start in {workdir}/srv/app\n" in log.read_text()


def redis_ping(sock_path: Path) -> bytes:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(sock_path))
        sock.sendall(b"PING\r\n")
        return sock.recv(64)


def test_seed_002_four_redis(start_daemon: StartDaemon, workdir: Path) -> None:
    (workdir / "var/log/supervisor").mkdir(parents=True)
    (workdir / "etc").mkdir()
    real = shutil.which("redis-server")
    ports = (6376, 6377, 6378, 6379)
    for port in ports:
        sock = workdir / f"r{port}.sock"
        (workdir / f"etc/redis_{port}.conf").write_text(
            f"port 0\nunixsocket {sock}\ndaemonize no\nsave \"\"\nappendonly no\n"
        )
    if real:
        stand_in(workdir / "usr/local/bin/redis-server", f'exec {real} "$@"\n')
    else:
        stand_in(
            workdir / "usr/local/bin/redis-server",
            f"""\
            echo "stand-in redis-server with $1"
            echo "* Ready to accept connections" >&2
            exec {PY} -u {CHILD} sleep
            """,
        )
    conf_dir = workdir / "supervisor"
    conf_dir.mkdir()
    for port in ports:
        text = relocate(SEED_002_REDIS.format(port=port), workdir, "/usr/", "/etc/", "/var/")
        (conf_dir / f"redis_{port}.conf").write_text(text)
    d = start_daemon(main_conf(workdir, f"{conf_dir}/*.conf"))
    for port in ports:
        pid = d.spawned_pid(f"redis_{port}")
        d.wait_log(rf"success: redis_{port} entered RUNNING state")
        assert pid_alive(pid)
        assert proc_cwd(pid) == "/tmp"
        assert proc_umask(pid) == 0o022
        log = workdir / f"var/log/supervisor/redis_{port}.log"
        wait_until(
            lambda log=log: re.search(r"(?i)ready to accept connections", log.read_text()),
            10,
            f"redis_{port} output in its shared stdout/stderr log",
        )
        if real:
            assert redis_ping(workdir / f"r{port}.sock") == b"+PONG\r\n"


def test_seed_002_docker_sshd_nginx(start_daemon: StartDaemon, workdir: Path) -> None:
    stand_in(
        workdir / "usr/sbin/sshd",
        f"""\
        [ "$1" = "-D" ] || exit 64
        echo "sshd listening"
        exec {PY} -u {CHILD} sleep
        """,
    )
    stand_in(
        workdir / "usr/sbin/nginx",
        f"""\
        [ "$1" = "-g" ] && [ "$2" = "daemon off;" ] || exit 64
        echo "nginx access line"
        echo "nginx error line" >&2
        exec {PY} -u {CHILD} sleep
        """,
    )
    conf_d = workdir / "etc/supervisor/conf.d"
    conf_d.mkdir(parents=True)
    (conf_d / "supervisord.conf").write_text(relocate(SEED_002_DOCKER, workdir, "/usr/"))
    d = start_daemon(main_conf(workdir, "etc/supervisor/conf.d/*.conf"), pipe_output=True)
    d.wait_log(r"success: sshd entered RUNNING state")
    d.wait_log(r"success: nginx entered RUNNING state")
    assert d.log_order(r"spawned: '(\w+)'")[:2] == ["nginx", "sshd"], "priority 900 first"
    wait_until(lambda: "nginx access line\n" in d.output_text(), 10, "nginx stdout on ours")
    wait_until(lambda: "nginx error line\n" in d.output_text(), 10, "nginx stderr on ours")
    # sshd keeps the defaults: AUTO logs in the childlogdir.
    childlogs = workdir / "childlogs"
    wait_until(
        lambda: any(
            p.read_text() == "sshd listening\n"
            for p in childlogs.glob("sshd-stdout---supervisor-*.log")
        ),
        10,
        "sshd output in its AUTO log",
    )
    assert not re.search(r"Illegal seek|uncaptured python exception", d.mainlog_text())
