"""load_config: defaults, validation and error messages for every section kind."""

from __future__ import annotations

import os
import pwd
import tempfile
from pathlib import Path

import pytest

from supervisor_runtime.config import (
    AutoRestart,
    ConfigError,
    EventListenerPoolConfig,
    FcgiGroupConfig,
    LogfileSpecial,
    load_config,
)

from .conftest import LoadConf, WriteConf

ME = pwd.getpwuid(os.getuid()).pw_name


def test_defaults(load: LoadConf, tmp_path: Path) -> None:
    conf = load("[program:cat]\ncommand=/bin/cat\n")
    assert conf.here == str(tmp_path)
    assert conf.childlogdir == tempfile.gettempdir()
    assert conf.umask == 0o22 and conf.loglevel == 20 and conf.minfds == 1024
    (group,) = conf.groups
    assert (group.name, group.priority, group.kind) == ("cat", 999, "program")
    (proc,) = group.processes
    assert proc.name == "cat" and proc.command == "/bin/cat"
    assert proc.autorestart is AutoRestart.UNEXPECTED
    assert proc.stdout.logfile is LogfileSpecial.AUTO
    assert proc.stdout.logfile_maxbytes == 50 * 1024 * 1024
    assert (proc.stopsignal, proc.exitcodes, proc.killasgroup) == (15, (0,), False)


def test_missing_supervisord_section(write_conf: WriteConf) -> None:
    path = write_conf("[program:x]\ncommand=ls\n")
    with pytest.raises(ConfigError, match="does not include supervisord section"):
        load_config(str(path))


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="could not find config file /nonexistent.conf"):
        load_config("/nonexistent.conf")


def test_error_names_file_section_key_and_value(load: LoadConf, tmp_path: Path) -> None:
    expected = (
        rf"^invalid value for numprocs \('l'\) in section \[program:redis\] of "
        rf"{tmp_path}/supervisord.conf: not an integer: 'l'$"
    )
    with pytest.raises(ConfigError, match=expected) as info:
        load("[program:redis]\ncommand=redis-server\nnumprocs=l\n")
    error = info.value
    assert (error.section, error.key, error.value) == ("program:redis", "numprocs", "l")


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("autostart=maybe", r"autostart \('maybe'\).*not a valid boolean value: 'maybe'"),
        ("autorestart=often", r"invalid 'autorestart' value 'often'"),
        ("stopsignal=NOPE", r"stopsignal \('NOPE'\).*not a valid signal name"),
        ("exitcodes=0,300", r"exitcodes.*not a valid list of exit codes"),
        ("stdout_logfile_maxbytes=5XB", r"stdout_logfile_maxbytes \('5XB'\).*not a byte size"),
        ("umask=9", r"umask.*9 can not be converted to an octal type"),
        ("user=no_such_user_x", r"user \('no_such_user_x'\).*Invalid user name no_such_user_x"),
        ("stdout_logfile=/a/path", r"The directory named as part of the path /a/path"),
        ("environment=A=1 B=2", r"environment.*Unexpected end of key/value pairs"),
        ("numprocs=2", r"process_name.*%\(process_num\) must be present within process_name"),
        ("process_name=a:b", r"Invalid name: 'a:b' because of character: ':'"),
        ("stopasgroup=true\nkillasgroup=false", r"Cannot set stopasgroup=true and killasgroup"),
        ("command=%(foo)s", r"contains names \('foo'\) which cannot be expanded"),
        ("priority=%(process_num)d", r"names \('process_num'\) which cannot be expanded"),
    ],
)
def test_program_errors(load: LoadConf, body: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load(f"[program:p]\ncommand=/bin/true\n{body}\n")


def test_missing_command(load: LoadConf) -> None:
    with pytest.raises(ConfigError, match=r"program section program:p does not specify a command"):
        load("[program:p]\nautostart=true\n")


def test_bad_program_name(load: LoadConf) -> None:
    with pytest.raises(ConfigError, match=r"Invalid name: 'a b'"):
        load("[program:a b]\ncommand=ls\n")


def test_numprocs_expansion_and_sorting(load: LoadConf) -> None:
    conf = load(
        """
        [program:w]
        command=/bin/worker --id %(process_num)d of %(numprocs)d
        process_name=%(program_name)s_%(process_num)02d
        numprocs=3
        numprocs_start=8
        directory=/tmp/%(process_num)s
        stdout_logfile={tmp}/%(group_name)s-%(process_num)d.log
        """
    )
    procs = conf.groups[0].processes
    assert [p.name for p in procs] == ["w_08", "w_09", "w_10"]
    assert procs[0].command == "/bin/worker --id 8 of 3"
    assert procs[2].directory == "/tmp/10"
    assert procs[1].stdout.logfile.endswith("/w-9.log")


def test_numprocs_zero_gives_an_empty_group(load: LoadConf) -> None:
    assert load("[program:p]\ncommand=ls\nnumprocs=0\n").groups[0].processes == ()


def test_redirect_stderr_drops_stderr_logfile_with_warning(load: LoadConf) -> None:
    conf = load("[program:p]\ncommand=ls\nredirect_stderr=true\nstderr_logfile={tmp}/e.log\n")
    proc = conf.groups[0].processes[0]
    assert proc.redirect_stderr and proc.stderr.logfile is None
    assert (
        "warn",
        "For [program:p], redirect_stderr=true but stderr_logfile has also been set to a "
        "filename, the filename has been ignored",
    ) in conf.parse_messages


def test_syslog_logfile_is_deprecated_form(load: LoadConf) -> None:
    conf = load("[program:p]\ncommand=ls\nstdout_logfile=syslog\n")
    proc = conf.groups[0].processes[0]
    assert proc.stdout.logfile is None and proc.stdout.syslog is True
    assert any("stdout_logfile=syslog but this is deprecated" in m for _, m in conf.parse_messages)


def test_auto_log_without_rollover_warns(load: LoadConf) -> None:
    conf = load("[program:p]\ncommand=ls\nstdout_logfile_maxbytes=0\n")
    assert any("AUTO logging used for stdout_logfile without rollover" in m
               for _, m in conf.parse_messages)


def test_logfile_none_and_dev_stdout(load: LoadConf) -> None:
    conf = load("[program:p]\ncommand=ls\nstdout_logfile=/dev/stdout\nstderr_logfile=NONE\n")
    proc = conf.groups[0].processes[0]
    assert proc.stdout.logfile == "/dev/stdout" and proc.stderr.logfile is None


def test_environment_merge_and_env_expansions(load: LoadConf) -> None:
    conf = load(
        """
        [supervisord]
        environment=SHARED="global",ONLY_GLOBAL="g",FROM_OS="%(ENV_HOME)s"

        [program:p]
        command=/bin/run %(ENV_ONLY_GLOBAL)s %(ENV_OWN)s
        environment=SHARED="mine",OWN="o,1",USES="%(ENV_ONLY_GLOBAL)s"
        """,
        environ={"HOME": "/home/x"},
    )
    proc = conf.groups[0].processes[0]
    assert conf.environment == {"SHARED": "global", "ONLY_GLOBAL": "g", "FROM_OS": "/home/x"}
    assert proc.environment == {
        "SHARED": "mine",
        "ONLY_GLOBAL": "g",
        "FROM_OS": "/home/x",
        "OWN": "o,1",
        "USES": "g",
    }
    assert proc.command == "/bin/run g o,1"


def test_here_host_node_name_and_percent(load: LoadConf, tmp_path: Path) -> None:
    conf = load("[program:p]\ncommand=%(here)s/run %(host_node_name)s 100%%\n")
    assert conf.groups[0].processes[0].command == (
        f"{tmp_path}/run {os.uname().nodename} 100%"
    )


def test_logfile_is_expanded_twice_like_stock(load: LoadConf) -> None:
    conf = load("[program:p]\ncommand=ls\nstdout_logfile={tmp}/a%%%%b.log\n")
    assert conf.groups[0].processes[0].stdout.logfile.endswith("/a%b.log")


def test_default_section_applies_to_programs(load: LoadConf) -> None:
    conf = load("[DEFAULT]\nautostart=false\n[program:a]\ncommand=ls\n")
    assert conf.groups[0].processes[0].autostart is False


def test_groups_sorted_by_priority_then_name(load: LoadConf) -> None:
    conf = load(
        """
        [program:b]
        command=ls
        [program:a]
        command=ls
        [program:z]
        command=ls
        priority=1
        """
    )
    assert [g.name for g in conf.groups] == ["z", "a", "b"]


def test_heterogeneous_group(load: LoadConf) -> None:
    conf = load(
        """
        [group:web]
        programs=app, worker
        priority=10
        [program:app]
        command=app
        priority=2
        [program:worker]
        command=worker
        priority=1
        [program:other]
        command=other
        """
    )
    web, other = conf.groups
    assert (web.name, web.kind, web.priority) == ("web", "group", 10)
    assert [(p.name, p.group_name) for p in web.processes] == [("app", "web"), ("worker", "web")]
    assert other.name == "other"


def test_group_with_unknown_program(load: LoadConf) -> None:
    with pytest.raises(ConfigError, match=r"\[group:g\] names unknown program or fcgi-program x"):
        load("[group:g]\nprograms=x\n")


def test_eventlistener(load: LoadConf) -> None:
    conf = load(
        """
        [eventlistener:mon]
        command=/bin/listener
        events=PROCESS_STATE,tick_60,PROCESS_STATE
        process_name=%(program_name)s_%(process_num)s
        numprocs=2
        """
    )
    (pool,) = conf.groups
    assert isinstance(pool, EventListenerPoolConfig)
    assert (pool.priority, pool.buffer_size, pool.kind) == (-1, 10, "eventlistener")
    assert pool.events == ("PROCESS_STATE", "TICK_60")
    assert pool.result_handler == "supervisor.dispatchers:default_handler"
    assert [p.name for p in pool.processes] == ["mon_0", "mon_1"]


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("", r'\[eventlistener:mon\] section requires an "events" line'),
        ("events=NOPE", r"Unknown event type NOPE in \[eventlistener:mon\] events"),
        ("events=TICK_5\nbuffer_size=0", r"section sets invalid buffer_size \(0\)"),
        ("events=TICK_5\nredirect_stderr=true", r"sets redirect_stderr=true but this is not"),
    ],
)
def test_eventlistener_errors(load: LoadConf, body: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load(f"[eventlistener:mon]\ncommand=/bin/l\n{body}\n")


def test_fcgi_program(load: LoadConf) -> None:
    conf = load(
        """
        [fcgi-program:php]
        command=/usr/bin/php-cgi
        socket=unix://{tmp}/%(program_name)s.sock
        socket_mode=0660
        socket_backlog=64
        """
    )
    (group,) = conf.groups
    assert isinstance(group, FcgiGroupConfig)
    assert group.socket.endswith("/php.sock") and group.socket.startswith("unix:///")
    assert (group.socket_mode, group.socket_backlog) == (0o660, 64)
    tcp = load("[fcgi-program:f]\ncommand=x\nsocket=tcp://LocalHost:9002\n").groups[0]
    assert tcp.socket == "tcp://localhost:9002"


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("", r'requires a "socket" line'),
        ("socket=unix://relative.sock", r"is not an absolute path"),
        ("socket=tcp://h:1\nsocket_mode=0600", r"should only be used with a Unix domain"),
        ("socket=udp://h:1", r"Bad socket format udp://h:1"),
        ("socket=tcp://h:1\nsocket_backlog=0", r"Invalid socket_backlog value 0"),
        ("socket=unix:///tmp/s\nsocket_owner=nouserx", r"Invalid socket_owner value nouserx"),
    ],
)
def test_fcgi_errors(load: LoadConf, body: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load(f"[fcgi-program:f]\ncommand=x\n{body}\n")


def test_servers(load: LoadConf, tmp_path: Path) -> None:
    conf = load(
        f"""
        [unix_http_server]
        file=%(here)s/s.sock
        chmod=0770
        chown={ME}
        username=u
        password={{SHA}}82ab876d1387bfafe46cc1c8a2ef074eae50cb1d
        [inet_http_server]
        port=*:9001
        """
    )
    unix = conf.unix_http_server
    assert unix is not None and unix.file == f"{tmp_path}/s.sock"
    assert (unix.chmod, unix.chown[1]) == (0o770, -1)
    assert unix.password == "{SHA}82ab876d1387bfafe46cc1c8a2ef074eae50cb1d"
    assert conf.inet_http_server is not None
    assert (conf.inet_http_server.host, conf.inet_http_server.port) == ("", 9001)


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("[inet_http_server]\nusername=u\nport=1", r"contains incomplete authentication"),
        ("[inet_http_server]\n", r"section \[inet_http_server\] has no port value"),
        ("[inet_http_server]\nport=x:y", r"port \('x:y'\)"),
        ("[unix_http_server]\n", r"section \[unix_http_server\] has no file value"),
        ("[unix_http_server]\nfile=/tmp/s\nchmod=99", r"Invalid chmod value 99"),
        ("[unix_http_server]\nfile=/tmp/s\nchown=nouserx", r"Invalid sockchown value nouserx"),
        ("[unix_http_server]\nfile=/tmp/s\npassword=p", r"incomplete authentication"),
    ],
)
def test_server_errors(load: LoadConf, body: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load(body)


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("loglevel=loud", r"loglevel \('loud'\).*bad logging level name 'loud'"),
        ("directory=/nonexistent", r"/nonexistent is not an existing directory"),
        ("childlogdir=/nonexistent", r"childlogdir.*/nonexistent is not an existing directory"),
        ("minfds=many", r"minfds \('many'\)"),
        ("user=no_such_user_x", r"Invalid user name no_such_user_x"),
        ("nodaemon=perhaps", r"not a valid boolean value"),
        ("environment=A", r"Unexpected end of key/value pairs"),
    ],
)
def test_supervisord_errors(load: LoadConf, body: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load(f"[supervisord]\n{body}\n")


def test_supervisord_values(load: LoadConf, tmp_path: Path) -> None:
    conf = load(
        f"""
        [supervisord]
        logfile=%(here)s/main.log
        pidfile=run.pid
        loglevel=DEBUG
        logfile_maxbytes=1KB
        nodaemon=true
        user={ME}
        identifier=sup-%(ENV_TAG)s
        """,
        environ={"TAG": "t1"},
    )
    assert conf.logfile == f"{tmp_path}/main.log"
    assert conf.pidfile == os.path.abspath("run.pid")
    assert (conf.loglevel, conf.logfile_maxbytes, conf.nodaemon) == (10, 1024, True)
    assert (conf.user, conf.identifier) == (ME, "sup-t1")


def test_rpcinterface_kept_as_written(load: LoadConf) -> None:
    conf = load(
        """
        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
        [rpcinterface:extra]
        supervisor.rpcinterface_factory = my.module:factory
        retries = 3
        """
    )
    names = [(p.name, p.factory, dict(p.options)) for p in conf.rpcinterfaces]
    assert names == [
        ("supervisor", "supervisor.rpcinterface:make_main_rpcinterface", {}),
        ("extra", "my.module:factory", {"retries": "3"}),
    ]


def test_rpcinterface_without_factory(load: LoadConf) -> None:
    with pytest.raises(ConfigError, match=r"section \[rpcinterface:x\] does not specify a "
                       r"supervisor.rpcinterface_factory"):
        load("[rpcinterface:x]\nfoo=1\n")


def test_converted_defaults_are_shared_only_between_equal_defaults_of_one_type() -> None:
    from supervisor_runtime.config.ini import IniParser
    from supervisor_runtime.config.reader import SectionReader

    ini = IniParser()
    ini.read_text("[a]\n[b]\n", "/x.conf")
    cache: dict = {}
    a = SectionReader(ini, "a", "/x.conf", {}, cache)
    b = SectionReader(ini, "b", "/x.conf", {}, cache)

    def same(value: object) -> object:
        return value

    assert a.convert("k", 1, same) == 1
    assert b.convert("k", True, same) is True  # True == 1, but not the same default
    assert a.convert("names", ["x"], same) == ["x"]  # unhashable: simply not cached
    assert len(cache) == 2
