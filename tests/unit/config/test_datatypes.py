"""Value converters: accepted spellings and stock's error wording."""

from __future__ import annotations

import os
import pwd
import shlex
import signal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor_runtime.config import AutoRestart, LogfileSpecial
from supervisor_runtime.config import datatypes as dt


@pytest.mark.parametrize(("text", "value"), [("1", 1), (" 7 ", 7), ("-3", -3), (5, 5)])
def test_integer(text: str, value: int) -> None:
    assert dt.integer(text) == value


def test_integer_error() -> None:
    with pytest.raises(ValueError, match=r"not an integer: 'l'"):
        dt.integer("l")


@pytest.mark.parametrize("text", ["true", "YES", "on", "1", True])
def test_boolean_true(text: str) -> None:
    assert dt.boolean(text) is True


@pytest.mark.parametrize("text", ["false", "No", "OFF", "0", False])
def test_boolean_false(text: str) -> None:
    assert dt.boolean(text) is False


def test_boolean_error() -> None:
    with pytest.raises(ValueError, match=r"not a valid boolean value: 'maybe'"):
        dt.boolean("maybe")


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("1024", 1024), ("1KB", 1024), ("2mb", 2 * 1024**2), ("1GB", 1024**3)],
)
def test_byte_size(text: str, value: int) -> None:
    assert dt.byte_size(text) == value


@pytest.mark.parametrize("text", ["1.5MB", "10XB", "MB", "big"])
def test_byte_size_error(text: str) -> None:
    with pytest.raises(ValueError, match="not a byte size"):
        dt.byte_size(text)


def test_octal() -> None:
    assert dt.octal("022") == 0o22
    with pytest.raises(ValueError, match="^089 can not be converted to an octal type$"):
        dt.octal("089")


@pytest.mark.parametrize(
    ("text", "number"),
    [("TERM", 15), ("SIGTERM", 15), ("term", 15), (" kill ", 9), ("15", 15), ("HUP", 1)],
)
def test_signal_number(text: str, number: int) -> None:
    assert dt.signal_number(text) == number


def test_signal_errors() -> None:
    with pytest.raises(ValueError, match=r"value 'FOO' is not a valid signal name"):
        dt.signal_number("FOO")
    with pytest.raises(ValueError, match=r"value '999' is not a valid signal number"):
        dt.signal_number("999")
    assert dt.signal_number("RTMIN") == int(signal.SIGRTMIN)


def test_exitcodes() -> None:
    assert dt.exitcodes("0,2") == (0, 2)
    assert dt.exitcodes("") == ()
    for bad in ("0,256", "a", "1,,2", "-1"):
        with pytest.raises(ValueError, match="not a valid list of exit codes"):
            dt.exitcodes(bad)


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ('A="1",B="2"', {"A": "1", "B": "2"}),
        ('A="1",B="2,3"', {"A": "1", "B": "2,3"}),
        ("A='x y',B=/usr/bin:/bin", {"A": "x y", "B": "/usr/bin:/bin"}),
        ('PATH="/a:/b",HOME=/srv', {"PATH": "/a:/b", "HOME": "/srv"}),
        ("A=1;B=2", {"A": "1", "B": "2"}),  # any single token separates pairs
        ("", {}),
    ],
)
def test_key_value_pairs(text: str, pairs: dict[str, str]) -> None:
    assert dt.key_value_pairs(text) == pairs


@pytest.mark.parametrize("text", ["A=1 B=2", "A=", "A=foo@bar", "A"])
def test_key_value_pairs_errors(text: str) -> None:
    with pytest.raises(ValueError, match="Unexpected end of key/value pairs in value"):
        dt.key_value_pairs(text)


def test_key_value_pairs_unclosed_quote() -> None:
    with pytest.raises(ValueError, match="No closing quotation"):
        dt.key_value_pairs('A="1')


def _shlex_tokens(text: str) -> list[str] | str:
    lexer = shlex.shlex(text)
    lexer.wordchars += "/.+-():"
    try:
        return list(lexer)
    except ValueError as error:
        return str(error)


@settings(max_examples=600, deadline=None)
@given(st.text(st.sampled_from(" \t\r\n'\"#=,;aZ09_/.+-():\\$é\u2028")) | st.text(max_size=20))
def test_pair_tokens_are_shlexs(text: str) -> None:
    """environment= is split as supervisord splits it (shlex, non-POSIX), without shlex."""
    try:
        ours: list[str] | str = dt.pair_tokens(text)
    except ValueError as error:
        ours = str(error)
    assert ours == _shlex_tokens(text)


@pytest.mark.parametrize(
    "text",
    ['A="x y",B=2', "A=1 # c\nB=2", "A=b#c\nd,E=f", "K=it's\"", "A=1;;B", "é=1", "A=\\x"],
)
def test_pair_tokens_on_the_edges(text: str) -> None:
    assert dt.pair_tokens(text) == _shlex_tokens(text)


def test_users_and_groups() -> None:
    me = pwd.getpwuid(os.getuid())
    assert dt.name_to_uid(me.pw_name) == me.pw_uid
    assert dt.name_to_uid(str(me.pw_uid)) == me.pw_uid
    assert dt.user_group(me.pw_name) == (me.pw_uid, -1)
    assert dt.user_group(f"{me.pw_name}:{me.pw_gid}") == (me.pw_uid, me.pw_gid)
    with pytest.raises(ValueError, match="^Invalid user name no_such_user_x$"):
        dt.name_to_uid("no_such_user_x")
    with pytest.raises(ValueError, match="^Invalid user id 99999$"):
        dt.name_to_uid("99999")
    with pytest.raises(ValueError, match="Invalid user:group definition root:nogroupx"):
        dt.user_group("root:nogroupx")


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("9001", ("", 9001)),
        ("*:9001", ("", 9001)),
        ("127.0.0.1:9001", ("127.0.0.1", 9001)),
        ("LocalHost:80", ("localhost", 80)),
    ],
)
def test_inet_address(text: str, address: tuple[str, int]) -> None:
    assert dt.inet_address(text) == address


def test_inet_address_errors() -> None:
    with pytest.raises(ValueError, match="not a valid port number: 'abc'"):
        dt.inet_address("abc")
    with pytest.raises(ValueError, match="no port number specified"):
        dt.inet_address("host:")
    with pytest.raises(ValueError, match=r"70000 is above upper bound \(65535\)"):
        dt.inet_address("h:70000")
    with pytest.raises(ValueError, match=r"0 is below lower bound \(1\)"):
        dt.inet_address("h:0")


def test_directories(tmp_path: Path) -> None:
    assert dt.existing_directory(str(tmp_path)) == str(tmp_path)
    assert dt.existing_dirpath(str(tmp_path / "x.log")) == str(tmp_path / "x.log")
    assert dt.existing_dirpath("relative.log") == "relative.log"
    with pytest.raises(ValueError, match="/nope is not an existing directory"):
        dt.existing_directory("/nope")
    with pytest.raises(
        ValueError, match="The directory named as part of the path /nope/x.log does not exist"
    ):
        dt.existing_dirpath("/nope/x.log")


def test_logging_level() -> None:
    assert dt.logging_level("INFO") == 20
    assert dt.logging_level("blather") == 3
    with pytest.raises(ValueError, match="bad logging level name 'loud'"):
        dt.logging_level("loud")


def test_url() -> None:
    assert dt.url("unix:///tmp/s.sock") == "unix:///tmp/s.sock"
    with pytest.raises(ValueError, match="value 'nothing' is not a URL"):
        dt.url("nothing")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", AutoRestart.ALWAYS),
        ("False", AutoRestart.NEVER),
        ("unexpected", AutoRestart.UNEXPECTED),
    ],
)
def test_auto_restart(text: str, value: AutoRestart) -> None:
    assert dt.auto_restart(text) is value


def test_auto_restart_error() -> None:
    with pytest.raises(ValueError, match="invalid 'autorestart' value 'sometimes'"):
        dt.auto_restart("Sometimes")


def test_logfile_names(tmp_path: Path) -> None:
    assert dt.logfile_name("NONE") is None
    assert dt.logfile_name("off") is None
    assert dt.logfile_name("Auto") is LogfileSpecial.AUTO
    assert dt.logfile_name("syslog") == dt.SYSLOG
    assert dt.logfile_name("/dev/stdout") == "/dev/stdout"
    with pytest.raises(ValueError, match="does not exist"):
        dt.logfile_name("/a/path")


@pytest.mark.parametrize("name", ["a b", "a:b", "a/b"])
def test_process_or_group_name(name: str) -> None:
    with pytest.raises(ValueError, match=f"Invalid name: '{name}' because of character"):
        dt.process_or_group_name(name)
    assert dt.process_or_group_name(" web_1 ") == "web_1"
