"""command=: fuzzed against shlex.split, and what exec could never take refused at load."""

from __future__ import annotations

import os
import shlex
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor_runtime.config import ConfigError
from supervisor_runtime.config.cmdline import MAX_ARG_STRLEN, check_command, split_command

from .conftest import LoadConf

# Heavy on the characters shlex treats specially, so quotes and escapes meet often.
COMMAND_TEXT = st.text(
    alphabet=st.sampled_from(list(" \t\r\n'\"\\ab#;$é\x00\x0b\x85\u3000")), max_size=40
) | st.text(max_size=40)


def shlex_words(text: str) -> list[str] | str:
    try:
        return shlex.split(text)
    except ValueError as error:
        return str(error)


def our_words(text: str) -> list[str] | str:
    try:
        return split_command(text)
    except ValueError as error:
        return str(error)


@settings(max_examples=3000, deadline=None)
@given(COMMAND_TEXT)
def test_split_command_is_shlex_split(text: str) -> None:
    assert our_words(text) == shlex_words(text)


# Any text an INI value can hold: no line breaks, no comment or expansion characters.
VALUE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="%;#\r\n"),
    max_size=30,
)


# ``load`` rewrites the same file for every example: nothing carries over between them.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(VALUE_TEXT, VALUE_TEXT)
def test_a_nul_anywhere_in_command_is_a_config_error(
    load: LoadConf, before: str, after: str
) -> None:
    command = "/bin/true " + before + "\x00" + after
    with pytest.raises(ConfigError) as caught:
        load(f"[program:evil]\ncommand={command}\n")
    error = caught.value
    assert (error.section, error.key) == ("program:evil", "command")
    assert "NUL byte" in str(error)


MIB = 1024 * 1024
HUGE = {
    "one 10 MiB word": "/bin/echo " + "x" * (10 * MIB),
    "one quoted 10 MiB word": '/bin/echo "' + "x" * (10 * MIB) + '"',
    "escapes": "/bin/echo " + "\\x" * (5 * MIB),
    "many short words": "/bin/echo " + "x " * (5 * MIB),
    "many empty quoted words": "/bin/echo " + "'' " * (3 * MIB),
}


@pytest.mark.parametrize("command", HUGE.values(), ids=HUGE.keys())
def test_a_10_mib_command_is_refused_quickly(load: LoadConf, command: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"MAX_ARG_STRLEN|ARG_MAX") as caught:
        load(f"[program:big]\ncommand={command}\n")
    # shlex.split took hours on the first of these; the whole load takes under 1 s on an
    # idle machine, the bound leaves room for a busy one.
    assert time.perf_counter() - started < 10
    assert len(str(caught.value)) < 1000  # the value is shown by its start and its length


def test_the_limits_are_exec_s() -> None:
    word = "x" * (MAX_ARG_STRLEN - 1)
    assert check_command(f"/bin/echo {word}")  # the longest word exec takes
    with pytest.raises(ValueError, match="MAX_ARG_STRLEN"):
        check_command(f"/bin/echo {word}x")
    arg_max = os.sysconf("SC_ARG_MAX")
    words = " ".join([word[:1000]] * (arg_max // 1000))
    with pytest.raises(ValueError, match="ARG_MAX"):
        check_command(f"/bin/echo {words}")


def test_unparsable_long_commands_are_left_to_spawn_as_stock_does() -> None:
    command = "/bin/echo '" + "x" * MAX_ARG_STRLEN  # no closing quote, but short words
    assert check_command(command) == command
