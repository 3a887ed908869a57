"""Stock supervisorctl 4.3.0 and ours, same arguments, same daemon: same output and exit code.

Only commands that leave the daemon as they found it run here (one shared daemon per module);
see test_compare_changes.py for the others.
"""

from __future__ import annotations

import pytest

from supervisor_runtime.ctl.commands import COMMANDS
from tests.ctl.ctlrun import assert_same, assert_same_except_help, run_ctl
from tests.harness import Daemon

pytestmark = pytest.mark.stock

SAME_OUTPUT = [
    # status: every target form, bad names, exit 3 when something shown is not running
    "status",
    "status all",
    "status app",
    "status app web:w1",
    "status web:*",
    "status web:",
    "status multi:*",
    "status multi:multi_01",
    "status manual",
    "status quick",
    "status nope",
    "status nope:*",
    "status web:nope",
    "status app nope",
    "status:app",
    # pid
    "pid",
    "pid app",
    "pid all",
    "pid manual",
    "pid nope",
    "pid app web:w1",
    # start/stop/signal/clear that change nothing: errors, already started, not running
    "start app",
    "start app web:w1 multi:*",
    "start web:*",
    "start nope",
    "start nope:*",
    "start web:nope",
    "start web",
    "start missing",
    "stop manual",
    "stop nope",
    "stop nope:*",
    "stop web:nope",
    "signal HUP app",
    "signal USR1 web:w1",
    "signal HUP manual",
    "signal BOGUS app",
    "signal HUP nope",
    "signal HUP nope:*",
    "signal HUP web:nope",
    "clear nope",
    "clear web:*",
    # logs
    "tail app",
    "tail app stderr",
    "tail app STDERR",
    "tail -3 app",
    "tail -4 app stderr",
    "tail -3 web:w1 stdout",
    "tail nope",
    "tail -x app",
    "tail app foo",
    "tail -f",
    "tail -5",
    "tail manual",
    "maintail x",
    "maintail -x",
    # config
    "avail",
    "reread",
    "update",
    "update all",
    "update web",
    "update nope",
    "add app",
    "add nope",
    "add",
    "remove app",
    "remove nope",
    "version",
    # fg refusals
    "fg a b",
    "fg nope",
    "fg manual",
    "fg quick",
    # shell-ish
    "open",
    "open ftp://x",
    "foo bar",
    "quit",
    "exit",
    "EOF",
    "help nope",
    "help EOF",
    "",
]

# Usage errors followed by the command's help text, which is our own prose.
WITH_HELP = [
    ("start", "start"),
    ("stop", "stop"),
    ("restart", "restart"),
    ("signal", "signal"),
    ("signal HUP", "signal"),
    ("clear", "clear"),
    ("tail", "tail"),
    ("tail a b c d", "tail"),
    ("maintail a b", "maintail"),
    ("fg", "fg"),
    ("version x", "version"),
    ("avail x", "avail"),
    ("reread x", "reread"),
    ("shutdown x", "shutdown"),
    ("reload now", "reload"),
]


@pytest.mark.parametrize("line", SAME_OUTPUT)
def test_same_output(shared_daemon: Daemon, line: str) -> None:
    args = line.split(" ") if line else [""]
    stock = run_ctl("stock", *args, conf=shared_daemon.conf_path)
    ours = run_ctl("ours", *args, conf=shared_daemon.conf_path)
    assert_same(stock, ours)


@pytest.mark.parametrize(("line", "name"), WITH_HELP)
def test_usage_error_then_help(shared_daemon: Daemon, line: str, name: str) -> None:
    stock = run_ctl("stock", *line.split(), conf=shared_daemon.conf_path)
    ours = run_ctl("ours", *line.split(), conf=shared_daemon.conf_path)
    assert_same_except_help(stock, ours, COMMANDS[name].help)


def test_help_index_lists_the_same_commands(shared_daemon: Daemon) -> None:
    stock = run_ctl("stock", "help", conf=shared_daemon.conf_path)
    ours = run_ctl("ours", "help", conf=shared_daemon.conf_path)
    assert_same(stock, ours)


def test_every_command_has_help(shared_daemon: Daemon) -> None:
    stock_help = run_ctl("stock", "help", conf=shared_daemon.conf_path).stdout.split()
    names = [name for name in COMMANDS if name not in ("help", "EOF")]
    stock_names = [name for name in names if not COMMANDS[name].extension]  # ours: history
    assert sorted(stock_names) == sorted(n for n in stock_help if n.islower() and n.isalpha()
                                   and n not in ("default", "commands", "type", "help"))
    # one shell session asking for each command's help in turn
    script = "".join(f"help {name}\n" for name in names)
    ours = run_ctl("ours", conf=shared_daemon.conf_path, stdin=script)
    assert ours.rc == 0
    answers = ours.stdout.split("supervisor> ")[1:-1]
    for name, answer in zip(names, answers, strict=True):
        assert answer.startswith(name), answer


def test_maintail_reads_the_same_log(shared_daemon: Daemon) -> None:
    stock = run_ctl("stock", "maintail", "-200", conf=shared_daemon.conf_path)
    ours = run_ctl("ours", "maintail", "-200", conf=shared_daemon.conf_path)
    assert ours.rc == stock.rc == 0
    # The log may grow between the two runs; the ends read are both 200 bytes of it.
    assert len(ours.stdout) == len(stock.stdout) == 201


def test_interactive_session(shared_daemon: Daemon) -> None:
    """The shell starts with `status`, prompts `supervisor> `, ends at EOF with 0."""
    script = "status app\nfoo\n\nversion\nstatus:app\nstart app nope\n  pid nope  \nhelp\n"
    stock = run_ctl("stock", conf=shared_daemon.conf_path, stdin=script)
    ours = run_ctl("ours", conf=shared_daemon.conf_path, stdin=script)
    assert ours.rc == 0
    assert ours.stdout.startswith("app ")
    assert_same(stock, ours)


def test_interactive_quit_and_confirmations(shared_daemon: Daemon) -> None:
    """shutdown/reload ask first in the shell; "n" (or anything but y) means no."""
    script = "shutdown\nn\nreload\nno\nquit\nversion\n"
    stock = run_ctl("stock", conf=shared_daemon.conf_path, stdin=script)
    ours = run_ctl("ours", conf=shared_daemon.conf_path, stdin=script)
    assert "Really shut the remote supervisord process down y/N? " in ours.stdout
    assert_same(stock, ours)
    assert shared_daemon.returncode is None


def test_i_with_an_action_runs_just_the_action(shared_daemon: Daemon) -> None:
    """4.3.0 ignores -i when an action is given: no shell, the action's exit code."""
    stock = run_ctl("stock", "-i", "status", "manual", conf=shared_daemon.conf_path, stdin="x\n")
    ours = run_ctl("ours", "-i", "status", "manual", conf=shared_daemon.conf_path, stdin="x\n")
    assert ours.rc == 3
    assert_same(stock, ours)


def test_serverurl_from_command_line(shared_daemon: Daemon) -> None:
    url = f"unix://{shared_daemon.workdir / 'supervisor.sock'}"
    stock = run_ctl("stock", "--serverurl", url, "status", "app", cwd=shared_daemon.workdir)
    ours = run_ctl("ours", "--serverurl", url, "status", "app", cwd=shared_daemon.workdir)
    assert ours.rc == 0
    assert_same(stock, ours)


def test_open_switches_server(shared_daemon: Daemon) -> None:
    url = f"unix://{shared_daemon.workdir / 'supervisor.sock'}"
    script = f"open unix:///nonexistent.sock\nstatus app\nopen {url}\nstatus app\n"
    stock = run_ctl("stock", "-s", "http://127.0.0.1:1", stdin=script)
    ours = run_ctl("ours", "-s", "http://127.0.0.1:1", stdin=script)
    assert "unix:///nonexistent.sock no such file" in ours.stdout
    assert_same(stock, ours)
