"""A program's ``command=``: split into words, and checked against what exec can take.

``split_command`` gives exactly what ``shlex.split(command)`` gives (the words supervisord
execs), in linear time. shlex builds each word one character at a time on an attribute
(``self.token += c``), which copies the word at every character: a 128 KiB word took
0.3 s, a 10 MiB one hours, with the daemon's only thread (and its control socket) stuck.
Here each run of plain characters, each quoted string and each escape is one regular
expression match; a command with no quote or backslash (most) is split with str methods.

``check_command`` refuses at load what the kernel would refuse at exec (a NUL byte, a word
over MAX_ARG_STRLEN, a command line over ARG_MAX): such a program could never start.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator

# Linux's MAX_ARG_STRLEN (32 pages): the longest single argument execve accepts.
MAX_ARG_STRLEN = 131072
_POINTER_BYTES = 8  # each argument also costs execve its argv[] slot

# shlex.split: posix mode, whitespace_split, no comments. Whitespace is " \t\r\n" only.
# What makes a command need the tokenizer below: a quote or a backslash.
_SPECIAL = ("'", '"', "\\")
# A command without them is split with str methods: its words are the runs of non-blanks.
_TABS_TO_SPACES = str.maketrans("\t\r\n", "   ")


@functools.cache
def _tokenizer() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A run of unquoted text, a backslash escape, and a quoted string are one match each;
    and, inside double quotes, a backslash escapes only a double quote or a backslash.

    Compiled at the first command with quotes or escapes, not at import: every daemon
    imports this module to check its programs' commands, and compiling these took a
    hundredth of a tenant runtime's start (issue 18), for commands most configs lack."""
    token = re.compile(
        r"""(?P<blank>[ \t\r\n]++)
      | (?P<plain>[^ \t\r\n'"\\]++)
      | \\(?P<escaped>.?)
      | '(?P<single>[^']*+)(?P<single_end>'?)
      | "(?P<double>[^"\\]*+(?:\\.[^"\\]*+)*+)(?:(?P<double_end>")|(?P<double_tail>\\?))""",
        re.VERBOSE | re.DOTALL,
    )
    return token, re.compile(r'\\(["\\])')


class WordTooLong(ValueError):
    """A word grew past the limit ``iter_words`` was given (it stops there)."""


def iter_words(command: str, max_word_chars: int | None = None) -> Iterator[str]:
    """The words of ``command`` as ``shlex.split`` gives them, one by one (ValueError with
    shlex's words for an unclosed quote or a trailing backslash). With ``max_word_chars``,
    WordTooLong as soon as a word is longer: a huge word is never assembled."""
    if not any(special in command for special in _SPECIAL):
        # No quotes or escapes: the words are the runs of non-blanks.
        for word in command.translate(_TABS_TO_SPACES).split(" "):
            if not word:
                continue
            if max_word_chars is not None and len(word) > max_word_chars:
                raise WordTooLong(f"a word of the command is over {max_word_chars} characters")
            yield word
        return
    token, double_escape = _tokenizer()
    word: list[str] = []
    size = 0
    quoted = False  # an empty quoted string ('' or "") still makes a word
    # Every character starts one of the alternatives, so the matches follow each other.
    for match in token.finditer(command):
        kind = match.lastgroup
        if kind == "blank":
            if word or quoted:
                yield "".join(word)
            word, size, quoted = [], 0, False
            continue
        if kind == "plain":
            part = match.group(kind)
        elif kind == "escaped":
            part = match.group(kind)
            if not part:
                raise ValueError("No escaped character")
        elif kind == "single_end":
            part, quoted = match.group("single"), True
            if not match.group(kind):
                raise ValueError("No closing quotation")
        elif kind == "double_end":
            part, quoted = double_escape.sub(r"\1", match.group("double")), True
        else:  # an unclosed double quote; a lone backslash at the end is shlex's other word
            raise ValueError(
                "No escaped character" if match.group("double_tail") else "No closing quotation"
            )
        word.append(part)
        size += len(part)
        if max_word_chars is not None and size > max_word_chars:
            raise WordTooLong(f"a word of the command is over {max_word_chars} characters")
    if word or quoted:
        yield "".join(word)


def split_command(command: str) -> list[str]:
    """``shlex.split(command)``, in linear time."""
    return list(iter_words(command))


@functools.cache
def _arg_max() -> int:
    """ARG_MAX (a quarter of the stack limit the daemon started with), asked once."""
    return os.sysconf("SC_ARG_MAX")


def check_command(command: str) -> str:
    """``command`` if exec could take it; ValueError naming the limit it breaks.

    Splitting stops at the first word or total over a limit, so a huge command is refused
    after reading at most about ARG_MAX of it."""
    if "\x00" in command:
        raise ValueError("the command contains a NUL byte, which no program can be given")
    arg_max = _arg_max()
    # The usual case: even one word per byte would fit, so nothing needs splitting (a
    # character is at most 4 bytes in UTF-8; no need to encode the command to know).
    most_bytes = 4 * len(command)
    if most_bytes < MAX_ARG_STRLEN and (most_bytes + 1) * (1 + _POINTER_BYTES) <= arg_max:
        return command
    too_long = (
        f"a word of the command is over {MAX_ARG_STRLEN - 1} bytes; exec takes at most that "
        "per argument (MAX_ARG_STRLEN)"
    )
    total = 0
    try:
        for word in iter_words(command, max_word_chars=MAX_ARG_STRLEN):
            size = len(word.encode("utf-8", "surrogateescape")) + 1  # with its NUL
            if size > MAX_ARG_STRLEN:
                raise ValueError(too_long)
            total += size + _POINTER_BYTES
            if total > arg_max:
                raise ValueError(
                    f"the command's arguments take over {arg_max} bytes; exec takes at most "
                    f"{arg_max} (ARG_MAX) for arguments and environment together"
                )
    except WordTooLong:
        raise ValueError(too_long) from None
    except ValueError as error:
        if str(error) in ("No closing quotation", "No escaped character"):
            return command  # stock reports an unparsable command when it spawns it
        raise
    return command
