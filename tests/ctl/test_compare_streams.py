"""tail -f, maintail -f and fg follow logs over /logtail and /mainlogtail until Ctrl-C; and
commands against a server that wants a password."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from supervisor_runtime.ctl.options import CtlOptions
from supervisor_runtime.ctl.session import Session
from supervisor_runtime.ctl.shell import Shell
from tests.ctl.conftest import await_ready, discard
from tests.ctl.ctlrun import assert_same, ctl_config, interrupt_after, ours_ctl, run_ctl
from tests.harness import Daemon

pytestmark = pytest.mark.stock


def _has(*needles: str) -> Callable[[str], bool]:
    return lambda seen: all(n in seen for n in needles)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["tail", "-f", "app"], "hello\n"),
        (["tail", "-f", "app", "stderr"], "oops\n"),
        (["tail", "-f", "web:w1"], "hello\n"),
    ],
)
def test_tail_f_until_ctrl_c(shared_daemon: Daemon, args: list[str], expected: str) -> None:
    runs = [
        interrupt_after(which, args, shared_daemon.conf_path, _has(expected), None)
        for which in ("stock", "ours")
    ]
    stock, ours = runs
    assert ours.stdout == f"==> Press Ctrl-C to exit <==\n{expected}\n"
    assert ours.rc == 0
    assert_same(stock, ours)


def test_tail_f_unknown_process(shared_daemon: Daemon) -> None:
    stock = run_ctl("stock", "tail", "-f", "nope", conf=shared_daemon.conf_path)
    ours = run_ctl("ours", "tail", "-f", "nope", conf=shared_daemon.conf_path)
    assert ours.stderr.endswith("/logtail/nope/stdout Cannot read, status code 404\n")
    assert_same(stock, ours)


def test_maintail_f_until_ctrl_c(shared_daemon: Daemon) -> None:
    for which in ("stock", "ours"):
        run = interrupt_after(
            which, ["maintail", "-f"], shared_daemon.conf_path, _has("\n", "INFO"), None
        )
        assert run.rc == 0, which
        assert run.stdout.startswith("==> Press Ctrl-C to exit <==\n"), which
        assert run.stdout.endswith("\n\n"), which
        assert "success: app entered RUNNING state" in run.stdout, which


def test_fg_until_ctrl_c(shared_daemon: Daemon) -> None:
    """Ours only: stock's fg thread sits in a 30 s select() after Ctrl-C when the process
    is quiet, so it takes up to 30 s to exit (it prints the same lines meanwhile)."""
    for which in ("ours",):
        run = interrupt_after(
            which, ["fg", "app"], shared_daemon.conf_path, _has("hello", "oops"), None
        )
        lines = run.stdout.splitlines()
        assert run.rc == 0, which
        assert lines[0] == "==> Press Ctrl-C to exit <==", which
        assert lines[-1] == "Exiting foreground", which
        assert sorted(lines[1:-1]) == ["hello", "oops"], which


def test_fg_sends_input_to_the_process(shared_daemon: Daemon) -> None:
    """Lines typed at fg go to the process's stdin; end of input detaches."""
    proc = subprocess.Popen(
        [str(ours_ctl()), "-c", str(shared_daemon.conf_path), "fg", "web:w2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    assert proc.stdout.readline() == "==> Press Ctrl-C to exit <==\n"
    proc.stdin.write("ping-from-fg\n")
    proc.stdin.flush()
    # cat echoes it into its log, which fg streams back to us
    assert proc.stdout.readline() == "ping-from-fg\n"
    proc.stdin.close()
    out = proc.stdout.read()
    assert proc.wait(10) == 0
    assert out == "Exiting foreground\n"


def test_completion_against_the_daemon(shared_daemon: Daemon) -> None:
    sock = shared_daemon.workdir / "supervisor.sock"
    shell = Shell(Session(CtlOptions(serverurl=f"unix://{sock}")))
    assert "version " in shell.completions("", "")
    assert shell.completions("st", "st") == ["start ", "status ", "stop "]
    assert shell.completions("w", "status w") == ["web:w1 ", "web:* ", "web:w2 "]
    assert shell.completions("mu", "stop mu") == [
        "multi:multi_00 ",
        "multi:* ",
        "multi:multi_01 ",
    ]
    assert shell.completions("a", "start a") == ["app "]
    assert shell.completions("app:", "start app:") == ["app:app ", "app:* "]
    assert shell.completions("ap", "tail ap") == ["app "]
    assert shell.completions("web:", "tail web:") == ["web:w1 ", "web:* ", "web:w2 "]
    groups = ["app ", "dies ", "manual ", "missing ", "multi ", "quick ", "web "]
    assert shell.completions("", "add ") == groups
    assert shell.completions("sta", "help sta") == ["start ", "status "]
    assert shell.complete("w", 1, "status w") == "web:* "
    assert shell.complete("w", 3, "status w") is None
    assert shell.completions("x", "version x") == []


# ----------------------------------------------------------------------------- auth

AUTH = ("bob", "s3cret")


@pytest.fixture
def auth_daemon(impl: str, workdir: Path) -> Iterator[Daemon]:
    daemon = Daemon(impl, workdir=workdir, conf=ctl_config(workdir, auth=AUTH))
    try:
        yield await_ready(impl, daemon, auth=AUTH)
    finally:
        discard(daemon)


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["avail"],
        ["tail", "-f", "app"],
        ["-u", "bob", "-p", "wrong", "status"],
        ["-u", "bob", "-p", "s3cret", "status", "app"],
        ["-u", "bob", "-p", "s3cret", "stop", "manual"],
        ["-u", "bob", "-p", "wrong", "tail", "-f", "app"],
        ["-u", "bob", "status"],
    ],
)
def test_authentication(auth_daemon: Daemon, args: list[str]) -> None:
    stock = run_ctl("stock", *args, conf=auth_daemon.conf_path)
    ours = run_ctl("ours", *args, conf=auth_daemon.conf_path)
    assert_same(stock, ours)


def test_tail_f_with_password(auth_daemon: Daemon) -> None:
    args = ["-u", "bob", "-p", "s3cret", "tail", "-f", "app"]
    run = interrupt_after("ours", args, auth_daemon.conf_path, _has("hello"), None)
    assert run.stdout == "==> Press Ctrl-C to exit <==\nhello\n\n"
