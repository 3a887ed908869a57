"""`-h` / `-?` of supervisord and supervisorctl, side by side with stock 4.3.0: the same
first line's subject, usage line, options, argument names and order (tools that read help
output, such as shell completion, find the same options); the words are ours."""

from __future__ import annotations

import subprocess

import pytest

from tests.harness import impl_bin

pytestmark = pytest.mark.stock

# Stock's help names "-r/--history-file" with no argument, which its own parser rejects
# (the option is --history_file FILENAME); ours names the option that works.
STOCK_MISSTATED = {"-r/--history-file": "-r/--history_file FILENAME"}


def run(impl: str, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    binary = str(impl_bin(impl, command))
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=20)


def outline(text: str, progname: str) -> tuple[str, list[str], list[str]]:
    """(what the first line is about, the usage line, each option's part before " -- ")."""
    lines = text.splitlines()
    subject = lines[0].split(" -- ")[0]
    usage = [line.replace(progname, "PROG") for line in lines if line.startswith("Usage:")]
    options = [
        line.split(" -- ")[0].strip()
        for line in lines
        if " -- " in line and (line.startswith("-") or line.startswith("action"))
    ]
    return subject, usage, options


@pytest.mark.parametrize("flag", ["-h", "-?", "--help"])
@pytest.mark.parametrize("command", ["supervisord", "supervisorctl"])
def test_help_carries_stocks_options(command: str, flag: str) -> None:
    stock, ours = run("stock", command, flag), run("ours", command, flag)
    assert (ours.returncode, ours.stderr) == (stock.returncode, stock.stderr) == (0, "")
    stock_outline = outline(stock.stdout, str(impl_bin("stock", command)))
    ours_outline = outline(ours.stdout, str(impl_bin("ours", command)))
    subject, usage, options = stock_outline
    options = [STOCK_MISSTATED.get(option, option) for option in options]
    assert ours_outline == (subject, usage, options)
    assert subject == command and len(options) > 5
    # The explanations are our own words.
    assert not {line for line in stock.stdout.splitlines() if " -- " in line} & set(
        ours.stdout.splitlines()
    )


def test_the_history_option_ours_names_is_the_one_stock_takes() -> None:
    rejected = run("stock", "supervisorctl", "--history-file", "h", "help")
    assert rejected.returncode == 2 and "--history-file not recognized" in rejected.stderr
    for impl in ("stock", "ours"):
        taken = run(impl, "supervisorctl", "--history_file", "h", "help", "version")
        assert taken.returncode == 0, (impl, taken.stderr)
