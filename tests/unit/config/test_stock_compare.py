"""Side by side with stock supervisor 4.3.0: the same configs give the same values, and the
same configs are rejected.

Stock parses each config in its own virtualenv (stock_dump.py prints a JSON dump); we dump
our model into the same shape and compare.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from supervisor_runtime.config import (
    ConfigError,
    EventListenerPoolConfig,
    FcgiGroupConfig,
    LogfileSpecial,
    ProcessConfig,
    StreamConfig,
    SupervisordConfig,
    load_config,
)
from tests.stock import stock_python

from .test_seeds import SEED_004_ERRORS, SEEDS, fix_seed_004, relocate, seed_text

pytestmark = pytest.mark.stock

ME = pwd.getpwuid(os.getuid()).pw_name
DUMPER = Path(__file__).with_name("stock_dump.py")
ENVIRON = {"HOME": "/home/tester", "TAG": "t1", "SHARED": "from-os", "LANG": "C.UTF-8"}
HEAD = """
[supervisord]
logfile={tmp}/supervisord.log
pidfile={tmp}/supervisord.pid
childlogdir={tmp}
"""


def stock_dump(path: Path, environ: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [str(stock_python()), str(DUMPER), str(path)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def _logfile(value: object) -> object:
    return "AUTO" if value is LogfileSpecial.AUTO else value


def _stream(stream: StreamConfig) -> list[object]:
    return [_logfile(stream.logfile), stream.logfile_maxbytes, stream.logfile_backups,
            stream.capture_maxbytes, stream.events_enabled, stream.syslog]


def _process(proc: ProcessConfig) -> dict[str, object]:
    return {
        "name": proc.name, "command": proc.command, "directory": proc.directory,
        "umask": proc.umask, "priority": proc.priority, "autostart": proc.autostart,
        "autorestart": proc.autorestart.value, "startsecs": proc.startsecs,
        "startretries": proc.startretries, "uid": proc.uid,
        "stdout": _stream(proc.stdout), "stderr": _stream(proc.stderr),
        "redirect_stderr": proc.redirect_stderr, "stopsignal": proc.stopsignal,
        "stopwaitsecs": proc.stopwaitsecs, "stopasgroup": proc.stopasgroup,
        "killasgroup": proc.killasgroup, "exitcodes": list(proc.exitcodes),
        "environment": dict(proc.environment), "serverurl": proc.serverurl,
    }


def ours_dump(conf: SupervisordConfig) -> dict[str, Any]:
    groups = []
    for group in conf.groups:
        out: dict[str, Any] = {
            "name": group.name, "priority": group.priority, "kind": "program|group",
            "processes": [_process(p) for p in group.processes],
        }
        if isinstance(group, EventListenerPoolConfig):
            out.update(kind="eventlistener", buffer_size=group.buffer_size,
                       events=sorted(group.events))
        if isinstance(group, FcgiGroupConfig):
            out.update(kind="fcgi-program", socket=group.socket)
        groups.append(out)
    inet, unix = conf.inet_http_server, conf.unix_http_server
    return {
        "supervisord": {
            "logfile": conf.logfile, "logfile_maxbytes": conf.logfile_maxbytes,
            "logfile_backups": conf.logfile_backups, "loglevel": conf.loglevel,
            "pidfile": conf.pidfile, "nodaemon": conf.nodaemon, "silent": conf.silent,
            "minfds": conf.minfds, "minprocs": conf.minprocs, "umask": conf.umask,
            "user": conf.user, "identifier": conf.identifier, "directory": conf.directory,
            "nocleanup": conf.nocleanup, "childlogdir": conf.childlogdir,
            "strip_ansi": conf.strip_ansi, "environment": dict(conf.environment),
        },
        "groups": groups,
        "servers": [
            inet and ["inet", inet.host, inet.port, inet.username, inet.password],
            unix and ["unix", unix.file, unix.chmod, unix.chown and list(unix.chown),
                      unix.username, unix.password],
        ],
        "rpcinterfaces": [[p.name, dict(p.options)] for p in conf.rpcinterfaces],
        "warnings": [text for level, text in conf.parse_messages if level == "warn"],
        "infos": [text for level, text in conf.parse_messages if level == "info"],
    }


def compare(
    path: Path, environ: dict[str, str] | None = None, ours_path: Path | None = None
) -> dict[str, Any]:
    """Parse with both (ours reads ``ours_path`` when given); assert the same outcome;
    return stock's dump (or error)."""
    environ = dict(ENVIRON if environ is None else environ)
    stock = stock_dump(path, environ)
    mine = str(ours_path or path)
    try:
        ours: dict[str, Any] = {"ok": ours_dump(load_config(mine, environ=environ))}
    except ConfigError as exc:
        ours = {"error": str(exc)}
    if "error" in stock or "error" in ours:
        assert ("error" in stock, "error" in ours) == (True, True), (stock, ours)
    else:
        assert ours["ok"] == stock["ok"]
    return stock


def write(tmp_path: Path, text: str, name: str = "supervisord.conf") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).replace("{tmp}", str(tmp_path)).replace("{me}", ME))
    return path


ACCEPTED = {
    "comments_and_delimiters": """
        [program:echo]
        command = /bin/echo a;b #c ;d
        AUTOSTART: false
        stdout_logfile={tmp}/echo.log ; note
        """,
    "continuations_and_default": """
        [DEFAULT]
        startsecs=5
        stopwaitsecs=%(here)s
        [program:multi]
        command=/bin/sh -c
          'echo hi'

          --done
        stopwaitsecs=3
        environment=A="1",
          B="2"
        """,
    "numprocs": """
        [program:w]
        command=/bin/w %(process_num)d/%(numprocs)d %(group_name)s %(host_node_name)s
        process_name=%(program_name)s_%(process_num)02d
        numprocs=3
        numprocs_start=9
        directory={tmp}/%(process_num)s
        stdout_logfile={tmp}/%(program_name)s-%(process_num)d.log
        stderr_logfile=AUTO
        stderr_logfile_maxbytes=0
        """,
    "env_expansions": """
        [supervisord]
        environment=GLOBAL="g,1",HOME2="%(ENV_HOME)s",SHARED=%(ENV_SHARED)s
        [program:p]
        command=/bin/run %(ENV_GLOBAL)s %(ENV_OWN)s %(ENV_TAG)s 100%%
        environment=OWN='o 1',SHARED="mine";X=/a:/b,Y="%(ENV_GLOBAL)s"
        stdout_logfile={tmp}/a%%%%b.log
        serverurl=AUTO
        [program:q]
        command=q
        serverurl=http://127.0.0.1:9001/x
        """,
    "signals_codes_sizes_restart": """
        [program:a]
        command=a
        stopsignal=SIGUSR1
        exitcodes=0, 2,255
        autorestart=TRUE
        stdout_logfile_maxbytes=1KB
        stdout_capture_maxbytes=1gb
        stdout_events_enabled=yes
        stderr_syslog=on
        umask=002
        user={me}
        [program:b]
        command=b
        stopsignal=9
        exitcodes=
        autorestart=false
        stopasgroup=true
        [program:c]
        command=c
        stopsignal=rtmin
        autorestart=unexpected
        stdout_logfile=syslog
        redirect_stderr=true
        stderr_logfile={tmp}/ignored.log
        """,
    "groups_and_priorities": """
        [group:web]
        programs=z,y
        priority=5
        [program:z]
        command=z
        priority=1
        numprocs=2
        process_name=z%(process_num)s
        [program:y]
        command=y
        priority=0
        [program:x]
        command=x
        priority=5
        [program:a]
        command=a
        priority=5
        """,
    "listener_and_fcgi": """
        [eventlistener:mon]
        command=/bin/l
        events=PROCESS_STATE, tick_60
        buffer_size=3
        numprocs=2
        process_name=%(program_name)s%(process_num)d
        [fcgi-program:php]
        command=/usr/bin/php-cgi
        socket=unix://{tmp}/../%(program_name)s.sock
        socket_mode=0660
        [fcgi-program:tcp]
        command=t
        socket=tcp://LOCALHOST:9002
        """,
    "servers_and_plugins": """
        [unix_http_server]
        file=%(here)s/s.sock
        chmod=0770
        chown={me}
        username=u
        password={SHA}82ab876d1387bfafe46cc1c8a2ef074eae50cb1d
        [inet_http_server]
        port=*:9001
        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
        tag=%(ENV_TAG)s
        [supervisorctl]
        serverurl=unix://%(here)s/s.sock
        """,
    "duplicates_merge": """
        [program:d]
        command=first
        priority=1
        [program:e]
        command=e
        [program:d]
        command=second
        """,
    "here_with_include_and_default": """
        [DEFAULT]
        stdout_logfile=%(here)s/default.log
        [include]
        files=%(here)s/none.conf
        [program:h]
        command=%(here)s/x
        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
        where=%(here)s
        """,
    "odd_names_and_values": """
        [program:Upper_Case.1-x]
        command=/bin/x "quoted ; not a comment" ;comment
        process_name = %(program_name)s
        priority=-5
        environment=K_1="a=b",K2='c;d'
        stdout_logfile=NONE
        stderr_logfile=off
        """,
    "supervisord_values": """
        [supervisord]
        loglevel=BLATHER
        logfile=syslog
        nodaemon=yes
        silent=on
        identifier=sup-%(ENV_TAG)s
        minfds=10
        logfile_maxbytes=1MB
        user={me}
        directory=%(here)s
        """,
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_same_values_as_stock(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, HEAD + textwrap.dedent(ACCEPTED[name]))
    assert "ok" in compare(path)


def test_includes_same_as_stock(tmp_path: Path) -> None:
    write(tmp_path, "[program:inc]\ncommand=%(here)s/inc\nstartsecs=%(ENV_TAG)s\n",
          "conf.d/b.conf".replace("{tmp}", ""))
    write(tmp_path, "[program:a]\ncommand=a\n[supervisord]\nidentifier=%(here)s\n",
          "conf.d/a.conf")
    path = write(tmp_path, HEAD + "[include]\nfiles=conf.d/*.conf\n  %(here)s/none/*.conf\n")
    stock = compare(path, {"TAG": "4"})
    assert stock["ok"]["infos"] and stock["ok"]["warnings"]


REJECTED = {
    "numprocs_l": "[program:p]\ncommand=x\nnumprocs=l\n",
    "bad_boolean": "[program:p]\ncommand=x\nautostart=maybe\n",
    "missing_command": "[program:p]\npriority=1\n",
    "no_process_num": "[program:p]\ncommand=x\nnumprocs=2\n",
    "stopasgroup": "[program:p]\ncommand=x\nstopasgroup=true\nkillasgroup=false\n",
    "unknown_name": "[program:p]\ncommand=%(nope)s\n",
    "process_num_too_early": "[program:p]\ncommand=x\npriority=%(process_num)d\n",
    "env_self_reference": "[program:p]\ncommand=x\nenvironment=A=1,B=%(ENV_A)s\n",
    "badly_formatted": "[program:p]\ncommand=%(x\n",
    "bad_exitcode": "[program:p]\ncommand=x\nexitcodes=256\n",
    "bad_signal": "[program:p]\ncommand=x\nstopsignal=NOPE\n",
    "bad_env": "[program:p]\ncommand=x\nenvironment=A=1 B=2\n",
    "bad_name": "[program:a b]\ncommand=x\n",
    "bad_logdir": "[program:p]\ncommand=x\nstdout_logfile=/a/path\n",
    "no_events": "[eventlistener:l]\ncommand=x\n",
    "unknown_event": "[eventlistener:l]\ncommand=x\nevents=NOPE\n",
    "listener_redirect": "[eventlistener:l]\ncommand=x\nevents=TICK_5\nredirect_stderr=true\n",
    "listener_buffer": "[eventlistener:l]\ncommand=x\nevents=TICK_5\nbuffer_size=0\n",
    "group_unknown": "[group:g]\nprograms=nope\n",
    "fcgi_no_socket": "[fcgi-program:f]\ncommand=x\n",
    "fcgi_relative": "[fcgi-program:f]\ncommand=x\nsocket=unix://rel.sock\n",
    "fcgi_tcp_mode": "[fcgi-program:f]\ncommand=x\nsocket=tcp://h:1\nsocket_mode=0600\n",
    "include_no_files": "[include]\n",
    "syntax": "[program:p]\ncommand=x\njust words\n",
    "inet_no_port": "[inet_http_server]\n",
    "inet_bad_port": "[inet_http_server]\nport=h:0\n",
    "incomplete_auth": "[unix_http_server]\nfile=/tmp/x.sock\nusername=u\n",
    "bad_chmod": "[unix_http_server]\nfile=/tmp/x.sock\nchmod=9\n",
    "daemon_user": "[supervisord]\nuser=no_such_user_x\n",
    "daemon_loglevel": "[supervisord]\nloglevel=loud\n",
    "rpc_no_factory": "[rpcinterface:x]\na=1\n",
    "rpc_here_without_include": (
        "[rpcinterface:x]\nsupervisor.rpcinterface_factory = "
        "supervisor.rpcinterface:make_main_rpcinterface\nwhere=%(here)s\n"
    ),
    "supervisord_env_host_twice": "[supervisord]\nenvironment=A=%%(nope)s\n",
    "percent_here_with_include": "[include]\nfiles=x\n[program:p]\ncommand=%%(here)s\n",
}


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_same_rejections_as_stock(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, HEAD + REJECTED[name])
    assert "error" in compare(path)


def test_missing_supervisord_section_rejected_by_both(tmp_path: Path) -> None:
    assert "error" in compare(write(tmp_path, "[program:p]\ncommand=x\n"))


def test_no_section_header_rejected_by_both(tmp_path: Path) -> None:
    assert "error" in compare(write(tmp_path, "command=x\n" + HEAD))


@pytest.mark.parametrize("name", ["000_app.conf", "001_sample.conf"])
def test_seed_files_same_as_stock(tmp_path: Path, name: str) -> None:
    assert "ok" in compare(write(tmp_path, relocate(seed_text(name), tmp_path)))


def test_seed_002_with_includes_same_as_stock(tmp_path: Path) -> None:
    inc = tmp_path / "etc" / "supervisor"
    for name in ("002_redis.conf", "002_docker.conf"):
        write(inc, relocate(seed_text(name), tmp_path), name)
    main = write(tmp_path, relocate(seed_text("002_main.conf"), tmp_path))
    stock = compare(main)
    assert len(stock["ok"]["groups"]) == 6
    write(inc, relocate(seed_text("002_redis_numprocs_l.conf"), tmp_path), "002_redis.conf")
    assert "error" in compare(main)


@pytest.mark.parametrize("steps", range(len(SEED_004_ERRORS) + 1))
def test_seed_004_same_as_stock(tmp_path: Path, steps: int) -> None:
    path = write(tmp_path, fix_seed_004(seed_text("004_sample.conf"), tmp_path, steps))
    outcome = compare(path)
    assert ("ok" in outcome) == (steps == len(SEED_004_ERRORS))


def test_sample_conf_same_as_stock(tmp_path: Path) -> None:
    from supervisor_runtime.cli.echo_conf import sample_config

    assert "ok" in compare(write(tmp_path, sample_config()))
    assert SEEDS.is_dir()


@pytest.mark.parametrize("default", ["", "[DEFAULT]\nstdout_logfile=%(here)s/d.log\n"])
def test_here_is_each_files_own_directory_as_stock(tmp_path: Path, default: str) -> None:
    # A later file adding a key to an earlier file's section, a section of its own, and
    # [DEFAULT] values inherited by sections of both.
    write(tmp_path, "[program:a]\ncommand=%(here)s/a\n", "conf.d/a.conf")
    later = "[program:a]\ndirectory=%(here)s\n[program:b]\ncommand=%(here)s/b\n"
    write(tmp_path, later, "other/b.conf")
    path = write(tmp_path, HEAD + default + "[include]\nfiles=conf.d/*.conf other/*.conf\n")
    assert "ok" in compare(path)
