"""[include], supervisorctl's view of a file, the default search path and the sample."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from supervisor_runtime.cli.echo_conf import main as echo_main
from supervisor_runtime.config import (
    ConfigError,
    config_search_paths,
    find_config_file,
    load_config,
    load_ctl_config,
)

from .conftest import MINIMAL, WriteConf


def test_include_globs_sorted_relative_with_own_here(write_conf: WriteConf, tmp_path: Path) -> None:
    write_conf("[program:b]\ncommand=%(here)s/b\n", "conf.d/b.conf")
    write_conf("[program:a]\ncommand=%(here)s/a\n", "conf.d/a.conf")
    write_conf("[program:c]\ncommand=c\n", "more/c.ini")
    main = write_conf(
        MINIMAL + "[include]\nfiles = conf.d/*.conf\n    more/*.ini missing/*.conf\n"
    )
    conf = load_config(str(main), environ={})
    assert [g.name for g in conf.groups] == ["a", "b", "c"]
    assert conf.groups[0].processes[0].command == f"{tmp_path}/conf.d/a"
    assert conf.included_files == (
        f"{tmp_path}/conf.d/a.conf",
        f"{tmp_path}/conf.d/b.conf",
        f"{tmp_path}/more/c.ini",
    )
    assert conf.parse_messages[0] == (
        "warn", f'No file matches via include "{tmp_path}/missing/*.conf"'
    )
    assert ("info", f'Included extra file "{tmp_path}/conf.d/a.conf" during parsing') in (
        conf.parse_messages
    )


def test_error_in_included_file_names_that_file(write_conf: WriteConf, tmp_path: Path) -> None:
    write_conf("[program:x]\ncommand=ls\nstartsecs=soon\n", "conf.d/x.conf")
    main = write_conf(MINIMAL + "[include]\nfiles=conf.d/*.conf\n")
    with pytest.raises(ConfigError, match=rf"\[program:x\] of {tmp_path}/conf.d/x.conf"):
        load_config(str(main), environ={})


def test_included_files_cannot_include(write_conf: WriteConf) -> None:
    write_conf("[include]\nfiles=never/*.conf\n[program:a]\ncommand=a\n", "one.conf")
    write_conf("[program:never]\ncommand=n\n", "never/n.conf")
    main = write_conf(MINIMAL + "[include]\nfiles=one.conf\n")
    assert [g.name for g in load_config(str(main), environ={}).groups] == ["a"]


def test_include_without_files(write_conf: WriteConf) -> None:
    main = write_conf(MINIMAL + "[include]\n")
    with pytest.raises(ConfigError, match=r"has \[include\] section, but no files setting"):
        load_config(str(main), environ={})


def test_included_syntax_error(write_conf: WriteConf, tmp_path: Path) -> None:
    write_conf("[program:a]\nbroken line\n", "bad.conf")
    main = write_conf(MINIMAL + "[include]\nfiles=bad.conf\n")
    with pytest.raises(ConfigError, match=rf"parsing errors: '{tmp_path}/bad.conf'"):
        load_config(str(main), environ={})


def test_ctl_config(write_conf: WriteConf, tmp_path: Path) -> None:
    path = write_conf(
        "[supervisorctl]\nserverurl=unix://%(here)s/../x/s.sock\nusername=u\npassword=p\n"
        "prompt=app\nhistory_file=%(here)s/hist\n"
        "[ctlplugin:mine]\nsupervisor.ctl_factory = pkg:make\nlevel=2\n"
    )
    ctl = load_ctl_config(str(path), environ={})
    assert ctl.serverurl == f"unix://{tmp_path.parent}/x/s.sock"
    assert (ctl.username, ctl.password, ctl.prompt) == ("u", "p", "app")
    assert ctl.history_file == f"{tmp_path}/hist"
    assert [(p.name, p.factory, dict(p.options)) for p in ctl.plugins] == [
        ("mine", "pkg:make", {"level": "2"})
    ]


def test_ctl_defaults_and_errors(write_conf: WriteConf) -> None:
    ctl = load_ctl_config(str(write_conf("[supervisorctl]\n")), environ={})
    assert (ctl.serverurl, ctl.prompt, ctl.username, ctl.history_file) == (
        "http://localhost:9001", "supervisor", None, None
    )
    with pytest.raises(ConfigError, match="does not include supervisorctl section"):
        load_ctl_config(str(write_conf("[supervisord]\n", "other.conf")), environ={})
    bad = write_conf("[supervisorctl]\n[ctlplugin:x]\na=1\n", "bad.conf")
    with pytest.raises(ConfigError, match=r"does not specify a supervisor.ctl_factory"):
        load_ctl_config(str(bad), environ={})


def test_supervisord_keeps_ctl_section(write_conf: WriteConf) -> None:
    path = write_conf(MINIMAL + "[supervisorctl]\nserverurl=http://h:1\n[ctlplugin:x]\na=1\n")
    conf = load_config(str(path), environ={})
    assert conf.supervisorctl is not None and conf.supervisorctl.serverurl == "http://h:1"
    assert conf.ctlplugins == ()  # supervisord ignores a broken ctlplugin


def test_search_order(tmp_path: Path) -> None:
    exe = tmp_path / "venv" / "bin" / "supervisord"
    paths = config_search_paths(str(tmp_path / "cwd"), str(exe))
    assert paths == [
        f"{tmp_path}/cwd/supervisord.conf",
        f"{tmp_path}/cwd/etc/supervisord.conf",
        "/etc/supervisord.conf",
        "/etc/supervisor/supervisord.conf",
        f"{tmp_path}/venv/etc/supervisord.conf",
        f"{tmp_path}/venv/supervisord.conf",
    ]


def test_find_config_file(tmp_path: Path) -> None:
    exe = tmp_path / "venv" / "bin" / "supervisord"
    (tmp_path / "venv" / "etc").mkdir(parents=True)
    (tmp_path / "cwd" / "etc").mkdir(parents=True)
    venv_conf = tmp_path / "venv" / "etc" / "supervisord.conf"
    venv_conf.write_text("")
    system = [p for p in ("/etc/supervisord.conf", "/etc/supervisor/supervisord.conf")
              if Path(p).exists()]
    if system:
        pytest.skip(f"this host has {system[0]}, which would win")
    assert find_config_file(str(tmp_path / "cwd"), str(exe)) == str(venv_conf)
    cwd_conf = tmp_path / "cwd" / "etc" / "supervisord.conf"
    cwd_conf.write_text("")
    assert find_config_file(str(tmp_path / "cwd"), str(exe)) == str(cwd_conf)


def test_nothing_found(tmp_path: Path) -> None:
    if any(Path(p).exists() for p in ("/etc/supervisord.conf", "/etc/supervisor/supervisord.conf")):
        pytest.skip("this host has a system-wide supervisord.conf")
    assert find_config_file(str(tmp_path), str(tmp_path / "bin" / "x")) is None


def test_sample_config_prints_and_loads(tmp_path: Path) -> None:
    out = io.StringIO()
    assert echo_main(out) == 0
    text = out.getvalue()
    for section in ("[unix_http_server]", "[supervisord]", "[rpcinterface:supervisor]",
                    "[supervisorctl]", ";[program:", ";[eventlistener:",
                    ";[group:", ";[include]", ";[inet_http_server]"):
        assert section in text
    path = tmp_path / "sample.conf"
    path.write_text(text)
    conf = load_config(str(path), environ={})
    assert conf.unix_http_server is not None
    assert conf.unix_http_server.file == "/tmp/supervisor.sock"
    assert conf.rpcinterfaces[0].factory == "supervisor.rpcinterface:make_main_rpcinterface"
    assert load_ctl_config(str(path)).serverurl == "unix:///tmp/supervisor.sock"


def test_sample_config_with_everything_uncommented_loads(tmp_path: Path) -> None:
    """Every key in the sample is spelled right: uncomment all and it still parses."""
    out = io.StringIO()
    echo_main(out)
    lines = []
    for line in out.getvalue().splitlines():
        if re.match(r";(\[|[a-z_.]+ ?=)", line):
            line = line[1:]
        lines.append(line)
    text = "\n".join(lines).replace("/a/path", str(tmp_path / "a.log"))
    text = text.replace("user=supervisord", "").replace("user=chrism", "")
    text = text.replace("chown=nobody:nogroup", "")
    text = text.replace("files = relative/directory/*.ini", "files=nothing/*.conf")
    text = text.replace("programs=progname1,progname2", "programs=theprogramname")
    path = tmp_path / "all.conf"
    path.write_text(text)
    conf = load_config(str(path), environ={})
    kinds = sorted(g.kind for g in conf.groups)
    assert kinds == ["eventlistener", "group"]
