"""The INI dialect: comments, continuation lines, [DEFAULT], duplicates, syntax errors."""

from __future__ import annotations

import pytest

from supervisor_runtime.config import ConfigError
from supervisor_runtime.config.ini import IniParser


def parse(text: str, source: str = "/etc/x.conf") -> IniParser:
    ini = IniParser()
    ini.read_text(text, source)
    return ini


def test_key_value_with_equals_or_colon_and_blanks() -> None:
    ini = parse("[s]\na = 1\nb: 2\nc=x=y\nd:e=f\n")
    assert [ini.get("s", k) for k in "abcd"] == ["1", "2", "x=y", "e=f"]


def test_keys_are_case_insensitive_but_sections_are_not() -> None:
    ini = parse("[Prog]\nCommand=ls\n[prog]\ncommand=cat\n")
    assert ini.get("Prog", "COMMAND") == "ls"
    assert ini.get("prog", "command") == "cat"
    assert ini.sections() == ["Prog", "prog"]


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("a=b;c", "b;c"),  # no blank before ';': part of the value
        ("a=b ;c", "b"),
        ("a=b\t#c", "b"),
        ("a=b#c", "b#c"),
        ("a=http://h/#frag ; note", "http://h/#frag"),
        ("a=x;y ;z #w", "x;y ;z"),  # prefixes are scanned in lockstep, like stock
        ("a=", ""),
    ],
)
def test_inline_comments_need_a_blank_before_them(line: str, value: str) -> None:
    assert parse(f"[s]\n{line}\n").get("s", "a") == value


def test_full_line_comments_even_when_indented() -> None:
    ini = parse("; top\n# top\n[s]\n  ; x=1\n\t# y=2\na=1\n")
    assert ini.options("s") == ["a"]


def test_indented_lines_continue_a_value() -> None:
    ini = parse("[s]\nfiles = a.conf\n   b.conf ; c\n\n   c.conf\nnext=1\n")
    assert ini.get("s", "files") == "a.conf\nb.conf\n\nc.conf"
    assert ini.get("s", "next") == "1"


def test_trailing_blank_lines_are_dropped_and_comments_do_not_end_a_value() -> None:
    ini = parse("[s]\ncommand=foo\n  ; a comment\n  --flag\n\n\n[t]\n")
    assert ini.get("s", "command") == "foo\n--flag"


def test_default_section_is_inherited_and_overridable() -> None:
    ini = parse("[DEFAULT]\nuser=app\nprio=5\n[s]\nprio=1\n[t]\n")
    assert ini.get("s", "user") == "app"
    assert ini.get("s", "prio") == "1"
    assert ini.get("t", "prio") == "5"
    assert ini.options("s") == ["prio", "user"]
    assert "DEFAULT" not in ini.sections()


def test_duplicate_sections_merge_and_duplicate_keys_replace() -> None:
    ini = parse("[s]\na=1\nb=1\n[t]\n[s]\na=2\nc=3\n")
    assert ini.get("s", "a") == "2"
    assert ini.options("s") == ["a", "b", "c"]
    assert ini.sections() == ["s", "t"]


def test_later_files_merge_into_earlier_sections_and_remember_origin() -> None:
    ini = parse("[s]\na=1\n", "/one.conf")
    ini.read_text("[s]\na=2\n[t]\nb=1\n", "/two.conf")
    assert ini.get("s", "a") == "2"
    assert ini.section_files == {"s": "/one.conf", "t": "/two.conf"}


def test_header_is_greedy_and_may_be_followed_by_text() -> None:
    ini = parse("[program:a] ; comment\n[b]c]\n")
    assert ini.sections() == ["program:a", "b]c"]


def test_percent_is_kept_for_later_expansion() -> None:
    assert parse("[s]\na=100%%\n").get("s", "a") == "100%%"


def test_missing_section_header_names_file_and_line() -> None:
    with pytest.raises(ConfigError, match=r"no section headers.\nfile: '/etc/x.conf', line: 2"):
        parse("; hello\na=1\n")


def test_syntax_errors_name_file_and_every_bad_line() -> None:
    text = "[s]\na=1\nnovalue\n=x\nb=2\n"
    with pytest.raises(ConfigError) as info:
        parse(text)
    message = str(info.value)
    assert message.startswith("Source contains parsing errors: '/etc/x.conf'")
    assert "[line  3]: 'novalue\\n'" in message
    assert "[line  4]: '=x\\n'" in message


def test_crlf_line_endings() -> None:
    assert parse("[s]\r\na=1\r\n").get("s", "a") == "1"


def test_replace_here_substitutes_literally_in_all_sections() -> None:
    ini = parse("[DEFAULT]\nd=%(here)s/d\n[s]\na=%(here)s/x\n")
    ini.replace_here("/conf")
    assert ini.get("s", "a") == "/conf/x"
    assert ini.get("s", "d") == "/conf/d"


def test_lookup_is_get_without_exceptions_and_never_defaults_an_unknown_section() -> None:
    ini = parse("[DEFAULT]\nserverurl=unix:///x\n[s]\na=1\n")
    assert ini.lookup("s", "a") == "1"
    assert ini.lookup("s", "serverurl") == "unix:///x"  # inherited, as get() gives it
    assert ini.lookup("s", "missing") is None
    assert ini.lookup("nosuchsection", "serverurl") is None  # get() raises KeyError here
    with pytest.raises(KeyError):
        ini.get("nosuchsection", "serverurl")


def test_replace_here_looks_only_at_sections_written_since_the_last_one() -> None:
    # Each included file is followed by a replace_here: looking at every section again
    # each time made reading 1,000 files quadratic (1.5 s on a host).
    ini = parse("[a]\nx=%(here)s/a\n")
    ini.replace_here("/one")
    ini.read_text("[b]\nx=%(here)s/b\n[a]\ny=%(here)s/y\n", "two.conf")
    looked: list[str] = []
    items = ini.items
    ini.items = lambda name: looked.append(name) or items(name)  # type: ignore[method-assign]
    ini.replace_here("/two")
    assert sorted(looked) == ["a", "b"]
    assert (ini.get("a", "x"), ini.get("a", "y"), ini.get("b", "x")) == (
        "/one/a",
        "/two/y",
        "/two/b",
    )
    ini.read_text("[c]\nx=1\n", "three.conf")
    looked.clear()
    ini.replace_here("/three")
    assert looked == ["c"]
