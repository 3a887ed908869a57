"""The configs of the seed documents (tests/fixtures/seeds) parse as supervisord parses them.

Absolute directories in the seeds (/srv, /var, /etc/supervisor) are moved under a temp
dir first, because log file directories must exist.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from supervisor_runtime.config import AutoRestart, ConfigError, LogfileSpecial, load_config

SEEDS = Path(__file__).resolve().parents[2] / "fixtures" / "seeds"
ME = pwd.getpwuid(os.getuid()).pw_name


def seed_text(name: str) -> str:
    return (SEEDS / name).read_text(encoding="utf-8")


def relocate(text: str, root: Path) -> str:
    """Point the seed's absolute directories into ``root`` and create them."""
    for top in ("/srv/", "/var/", "/etc/supervisor/"):
        text = text.replace(top, f"{root}{top}")
    for sub in ("srv/log", "srv/run", "var/log/supervisor", "var/run/supervisor",
                "etc/supervisor"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return text


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_seed_000_app_program(tmp_path: Path) -> None:
    conf = load_config(write(tmp_path / "s.conf", relocate(seed_text("000_app.conf"), tmp_path)))
    (group,) = conf.groups
    (app,) = group.processes
    assert (group.name, app.name, app.command) == ("app", "app", "/opt/node/bin/npm start")
    assert app.environment["PATH"].endswith(":/opt/node/bin")
    assert app.directory == f"{tmp_path}/srv/app"
    assert app.autostart and app.autorestart is AutoRestart.ALWAYS
    assert app.stdout.logfile == f"{tmp_path}/srv/log/node.log"
    assert (app.stdout.logfile_maxbytes, app.stdout.logfile_backups) == (2 * 1024 * 1024, 5)
    assert app.redirect_stderr and app.stderr.logfile is None
    assert conf.unix_http_server is not None and conf.nodaemon


def test_seed_001_commented_sample(tmp_path: Path) -> None:
    conf = load_config(str(SEEDS / "001_sample.conf"), environ={})
    assert conf.groups == ()
    assert conf.unix_http_server is not None
    assert conf.unix_http_server.file == "/tmp/supervisor.sock"
    assert (conf.logfile, conf.pidfile) == ("/tmp/supervisord.log", "/tmp/supervisord.pid")
    assert conf.rpcinterfaces[0].name == "supervisor"
    assert conf.supervisorctl is not None
    assert conf.supervisorctl.serverurl == "unix:///tmp/supervisor.sock"


def _main_with_include(tmp_path: Path, included: str, name: str) -> str:
    """Seed 002's /etc/supervisord.conf, including /etc/supervisor/*.conf."""
    write(tmp_path / "etc" / "supervisor" / name, relocate(included, tmp_path))
    return write(tmp_path / "etc" / "supervisord.conf",
                 relocate(seed_text("002_main.conf"), tmp_path))


def test_seed_002_redis_numprocs_l_names_file_section_key_value(tmp_path: Path) -> None:
    main = _main_with_include(tmp_path, seed_text("002_redis_numprocs_l.conf"), "redis.conf")
    expected = (
        r"^invalid value for numprocs \('l'\) in section \[program:redis_6376\] of "
        rf"{tmp_path}/etc/supervisor/redis.conf: not an integer: 'l'$"
    )
    with pytest.raises(ConfigError, match=expected):
        load_config(main)


def test_seed_002_redis_fixed_gives_four_groups(tmp_path: Path) -> None:
    main = _main_with_include(tmp_path, seed_text("002_redis.conf"), "redis.conf")
    conf = load_config(main)
    names = [g.name for g in conf.groups]
    assert names == ["redis_6376", "redis_6377", "redis_6378", "redis_6379"]
    proc = conf.groups[3].processes[0]
    assert proc.name == "redis_6379" and proc.umask == 0o22 and proc.directory == "/tmp"
    assert proc.stdout.logfile == f"{tmp_path}/var/log/supervisor/redis_6379.log"
    assert proc.stderr.logfile == proc.stdout.logfile
    assert conf.included_files == (f"{tmp_path}/etc/supervisor/redis.conf",)
    assert conf.parse_messages == (
        ("info", f'Included extra file "{tmp_path}/etc/supervisor/redis.conf" during parsing'),
    )
    assert conf.supervisorctl is not None
    assert conf.supervisorctl.serverurl == f"unix://{tmp_path}/var/run/supervisor/supervisor.sock"


def test_seed_002_docker_sshd_nginx(tmp_path: Path) -> None:
    main = _main_with_include(tmp_path, seed_text("002_docker.conf"), "supervisord.conf")
    conf = load_config(main)
    nginx, sshd = conf.groups  # nginx has priority 900
    assert (nginx.name, nginx.priority, sshd.name, sshd.priority) == ("nginx", 900, "sshd", 999)
    proc = nginx.processes[0]
    assert proc.command == '/usr/sbin/nginx -g "daemon off;"'
    assert (proc.stdout.logfile, proc.stdout.logfile_maxbytes) == ("/dev/stdout", 0)
    assert (proc.stderr.logfile, proc.stderr.logfile_maxbytes) == ("/dev/stderr", 0)
    assert proc.autorestart is AutoRestart.ALWAYS
    assert sshd.processes[0].stdout.logfile is LogfileSpecial.AUTO
    assert not any(level == "warn" for level, _ in conf.parse_messages)


def fix_seed_004(text: str, root: Path, steps: int) -> str:
    """Apply the first ``steps`` fixes the seed 004 sample needs, in the order supervisord
    complains about them."""
    fixes = [
        ("stderr_logfile_backups\n", "stderr_logfile_backups=10\n"),
        ("programs=bar,baz", "programs=cat"),
        ("user=chrism", f"user={ME}"),
        ("/a/path", f"{root}/a.log"),
        ("redirect_stderr=true\nstdout_logfile", "redirect_stderr=false\nstdout_logfile"),
        ("user = chrism", f"user = {ME}"),
    ]
    for old, new in fixes[:steps]:
        assert old in text
        text = text.replace(old, new)
    return text


SEED_004_ERRORS = [
    r"Source contains parsing errors: .*\n\t\[line 78\]: 'stderr_logfile_backups\\n'",
    r"\[group:foo\] names unknown program or fcgi-program bar",
    r"user \('chrism'\) in section \[program:cat\].*Invalid user name chrism",
    r"stdout_logfile \('/a/path'\).*The directory named as part of the path /a/path",
    r"\[eventlistener:theeventlistenername\] section sets redirect_stderr=true",
    r"user \('chrism'\) in section \[supervisord\].*Invalid user name chrism",
]


@pytest.mark.parametrize("steps", range(len(SEED_004_ERRORS)))
def test_seed_004_as_published_is_rejected_step_by_step(tmp_path: Path, steps: int) -> None:
    path = write(tmp_path / "s.conf", fix_seed_004(seed_text("004_sample.conf"), tmp_path, steps))
    with pytest.raises(ConfigError, match=SEED_004_ERRORS[steps]):
        load_config(path)


def test_seed_004_fixed_loads(tmp_path: Path) -> None:
    text = fix_seed_004(seed_text("004_sample.conf"), tmp_path, len(SEED_004_ERRORS))
    conf = load_config(write(tmp_path / "s.conf", text))
    # "#" after a blank starts a comment, so the Japanese notes are not part of values.
    assert conf.logfile == "/tmp/supervisord.log" and conf.logfile_backups == 10
    assert (conf.nocleanup, conf.umask, conf.directory) == (True, 0o22, "/tmp")
    assert conf.environment == {"KEY1": "value1", "KEY2": "value2"}
    listener, foo = conf.groups
    assert (foo.name, foo.kind) == ("foo", "group")
    cat = foo.processes[0]
    assert (cat.command, cat.startsecs, cat.exitcodes, cat.stopsignal) == ("/bin/cat", 10,
                                                                             (0, 2), 15)
    assert cat.stdout.capture_maxbytes == 1024 * 1024
    assert cat.environment == {"KEY1": "value1", "KEY2": "value2", "A": "1", "B": "2"}
    assert listener.kind == "eventlistener" and listener.priority == -1
    assert [p.name for p in listener.processes] == [
        f"theeventlistenername_{n:02d}" for n in range(5)
    ]
    assert listener.processes[0].stopsignal == 3
