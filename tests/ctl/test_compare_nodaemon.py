"""Side by side without a daemon: unreachable servers and command line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ctl.ctlrun import assert_same, run_ctl

pytestmark = pytest.mark.stock

COMMANDS = [
    "status",
    "status app",
    "start app",
    "stop app",
    "restart app",
    "signal HUP app",
    "clear app",
    "pid",
    "pid app",
    "tail app",
    "tail -f app",
    "maintail",
    "maintail -f",
    "fg app",
    "version",
    "avail",
    "reread",
    "update",
    "add app",
    "remove app",
    "shutdown",
    "reload",
    "open unix:///nonexistent.sock",
]


@pytest.mark.parametrize("line", COMMANDS)
@pytest.mark.parametrize(
    "url", ["unix:///nonexistent/supervisor.sock", "http://127.0.0.1:1"], ids=["enoent", "refused"]
)
def test_unreachable_server(tmp_path: Path, url: str, line: str) -> None:
    stock = run_ctl("stock", "-s", url, *line.split(), cwd=tmp_path)
    ours = run_ctl("ours", "-s", url, *line.split(), cwd=tmp_path)
    assert_same(stock, ours)


def test_unresolvable_host(tmp_path: Path) -> None:
    args = ["-s", "http://nonexistent.invalid:9001", "start", "app"]
    stock = run_ctl("stock", *args, cwd=tmp_path)
    ours = run_ctl("ours", *args, cwd=tmp_path)
    assert ours.stdout.startswith("error: <class 'socket.gaierror'>, ")
    assert_same(stock, ours)


@pytest.mark.parametrize(
    "args",
    [
        ["-c", "/nonexistent/supervisord.conf", "status"],
        ["-s", "foo", "status"],
        ["-s", "unix:///a", "-s", "unix:///b", "status"],
        ["-u", "a", "--username", "b", "status"],
        ["-i", "-i", "status"],
        ["-z"],
        ["--bogus"],
        ["-s"],
        ["--history", "x", "-p"],
    ],
)
def test_bad_command_line(tmp_path: Path, args: list[str]) -> None:
    stock = run_ctl("stock", *args, cwd=tmp_path)
    ours = run_ctl("ours", *args, cwd=tmp_path)
    assert ours.rc == 2
    assert_same(stock, ours)


@pytest.mark.parametrize(
    "text",
    [
        "[supervisord]\n",
        "[supervisorctl]\nserverurl=unix://%(here)s/nothing.sock\n",
        "[supervisorctl]\nserverurl=http://127.0.0.1:1\nprompt=mine\n",
    ],
    ids=["no-section", "here", "prompt"],
)
def test_config_file(tmp_path: Path, text: str) -> None:
    conf = tmp_path / "ctl.conf"
    conf.write_text(text)
    stock = run_ctl("stock", "status", conf=conf, cwd=tmp_path)
    ours = run_ctl("ours", "status", conf=conf, cwd=tmp_path)
    assert_same(stock, ours)
    stock = run_ctl("stock", conf=conf, cwd=tmp_path, stdin="pid\n")
    ours = run_ctl("ours", conf=conf, cwd=tmp_path, stdin="pid\n")
    assert_same(stock, ours)


def test_config_found_in_cwd(tmp_path: Path) -> None:
    """Without -c, ./supervisord.conf is read (both search it before /etc)."""
    (tmp_path / "supervisord.conf").write_text("[supervisorctl]\nserverurl=http://127.0.0.1:1\n")
    stock = run_ctl("stock", "status", cwd=tmp_path)
    ours = run_ctl("ours", "status", cwd=tmp_path)
    assert ours.stdout == "http://127.0.0.1:1 refused connection\n"
    assert_same(stock, ours)


def test_help_option() -> None:
    ours = run_ctl("ours", "-h")
    assert ours.rc == 0
    assert "-s/--serverurl URL" in ours.stdout
    assert run_ctl("stock", "-h").rc == 0
