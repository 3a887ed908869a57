"""An INI reader that follows the exact dialect supervisord 4.3.0 accepts.

supervisord reads its files with the standard library's RawConfigParser in a particular
mode (inline comments on, duplicates merged, no interpolation). We reproduce that dialect
here rather than depend on configparser's defaults, which differ between Python versions:

- ``key = value`` and ``key: value``; the key ends at the first ``=`` or ``:``.
- Keys are case-insensitive (folded to lower case); section names are case-sensitive.
- A line whose first non-blank character is ``;`` or ``#`` is a comment. Inside a line,
  ``;`` or ``#`` starts a comment only when preceded by whitespace: ``a;b`` keeps ``;b``.
- A line indented deeper than its key line continues the value (joined with newlines);
  blank lines inside a value are kept, trailing ones dropped.
- [DEFAULT] keys are inherited by every section.
- A repeated section merges into the first one, a repeated key replaces the earlier value,
  within one file and across included files alike.
- ``%`` is left alone here; expansion (and ``%%``) happen later, key by key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from supervisor_runtime.config.errors import ConfigError

DEFAULT_SECTION = "DEFAULT"
COMMENT_PREFIXES = ("#", ";")

# A header is anything between the first "[" and the last "]" of the line.
_HEADER_RE = re.compile(r"\[(?P<name>.+)\]")
# The key is the shortest text before a delimiter; blanks around the delimiter are dropped.
_OPTION_RE = re.compile(r"(?P<key>.*?)\s*(?:=|:)\s*(?P<value>.*)$")


def _inline_comment_start(line: str) -> int | None:
    """Index where an inline comment begins, or None.

    The search advances over the occurrences of each prefix in lockstep (the 1st ``;`` with
    the 1st ``#``, then the 2nd with the 2nd, ...) and stops at the first round in which
    some occurrence is at column 0 or follows whitespace. That is how supervisord's parser
    scans, so ``a;b ;c #d`` keeps ``a;b ;c``; we keep the same rule so values match.
    """
    last_seen = {prefix: -1 for prefix in COMMENT_PREFIXES}
    while last_seen:
        found: int | None = None
        still_seen: dict[str, int] = {}
        for prefix, previous in last_seen.items():
            index = line.find(prefix, previous + 1)
            if index < 0:
                continue
            still_seen[prefix] = index
            if index == 0 or line[index - 1].isspace():
                found = index if found is None else min(found, index)
        if found is not None:
            return found
        last_seen = still_seen
    return None


def _lines(text: str) -> list[str]:
    """Lines with their newline kept (messages show it), split only on \\n, \\r\\n or \\r
    like a file read in text mode; str.splitlines would also split on form feeds."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _content_of(line: str) -> tuple[str, bool]:
    """The line without its comment, stripped; and whether a comment was present."""
    if "#" not in line and ";" not in line:
        return line.strip(), False  # most lines: no comment to look for
    if line.strip().startswith(COMMENT_PREFIXES):
        return "", True
    start = _inline_comment_start(line)
    if start is None:
        return line.strip(), False
    return line[:start].strip(), True


class IniParser:
    """Sections of one or more INI files merged in reading order."""

    def __init__(self) -> None:
        self._defaults: dict[str, str] = {}
        self._sections: dict[str, dict[str, str]] = {}
        # The file in which each section first appeared (for error messages).
        self.section_files: dict[str, str] = {}
        # Where each header and key was last written: (section, key) -> (file, line); a
        # header's key is "". Lets [include] skip_broken blame the file a bad value came
        # from; kept only once ``track_origins`` is set (for the files read after it), so a
        # stock config's load does not pay for it.
        self.track_origins = False
        self.origins: dict[tuple[str, str], tuple[str, int]] = {}
        # Sections that may hold "%(here)s": written since the last replace_here, or left
        # with it by one. replace_here looks at these alone, not at every section again
        # after each included file (a host with 1,000 files took 1.5 s to read).
        self._here_pending: set[str] = set()

    # -- reading -------------------------------------------------------------------------

    def read_path(self, path: str, *, source: str | None = None) -> None:
        """Read a file that must exist; a missing or unreadable file is a ConfigError."""
        try:
            with open(path, encoding="utf-8") as fp:
                text = fp.read()
        except FileNotFoundError:
            raise ConfigError(f"could not find config file {path}") from None
        except (OSError, UnicodeDecodeError):
            raise ConfigError(f"could not read config file {path}") from None
        self.read_text(text, source or path)

    def read_optional(self, path: str) -> bool:
        """Read an included file; like supervisord, one that cannot be opened is skipped."""
        try:
            with open(path, encoding="utf-8") as fp:
                text = fp.read()
        except OSError:
            return False
        self.read_text(text, path)
        return True

    def read_text(self, text: str, source: str) -> None:
        """Merge the INI text of ``source`` (a file name, used in messages and bookkeeping)."""
        pending: dict[tuple[str, str], list[str]] = {}
        section: dict[str, str] | None = None
        section_name: str | None = None
        key: str | None = None
        indent = 0
        bad_lines: list[tuple[int, str]] = []
        origins = self.origins if self.track_origins else None

        for lineno, line in enumerate(_lines(text), start=1):
            content, had_comment = _content_of(line)
            if not content:
                # A truly blank line is part of a value being continued; a comment is not.
                if not had_comment and key is not None and section_name is not None:
                    pending[(section_name, key)].append("")
                continue
            line_indent = len(line) - len(line.lstrip())
            if key is not None and section_name is not None and line_indent > indent:
                pending[(section_name, key)].append(content)
                continue
            indent = line_indent
            header = _HEADER_RE.match(content)
            if header:
                section_name = header.group("name")
                section = self._section_for_write(section_name, source)
                if origins is not None:
                    origins[(section_name, "")] = (source, lineno)
                key = None
                continue
            if section is None or section_name is None:
                raise ConfigError(
                    "File contains no section headers.\n"
                    f"file: {source!r}, line: {lineno:d}\n{line!r}",
                    line=lineno,
                )
            option = _OPTION_RE.match(content)
            if option is None:
                bad_lines.append((lineno, line))
                continue
            if not option.group("key"):
                # "=value": an error, reported with the others at the end of the file.
                bad_lines.append((lineno, line))
                key = None
                continue
            key = option.group("key").rstrip().lower()
            lines = [option.group("value").strip()]
            pending[(section_name, key)] = lines
            if origins is not None:
                origins[(section_name, key)] = (source, lineno)
            section[key] = ""  # placeholder, filled below, keeps first-seen key order

        for (name, option_key), lines in pending.items():
            target = self._defaults if name == DEFAULT_SECTION else self._sections[name]
            target[option_key] = "\n".join(lines).rstrip()

        if bad_lines:
            message = f"Source contains parsing errors: {source!r}"
            for lineno, line in bad_lines:
                message += f"\n\t[line {lineno:2d}]: {line!r}"
            raise ConfigError(message, line=bad_lines[0][0])

    def _section_for_write(self, name: str, source: str) -> dict[str, str]:
        if name == DEFAULT_SECTION:
            return self._defaults
        if name not in self._sections:
            self._sections[name] = {}
            self.section_files[name] = source
        self._here_pending.add(name)
        return self._sections[name]

    # -- querying ------------------------------------------------------------------------

    def sections(self) -> list[str]:
        """Section names in the order they first appeared ([DEFAULT] excluded)."""
        return list(self._sections)

    def has_section(self, name: str) -> bool:
        return name in self._sections

    def has_option(self, section: str, key: str) -> bool:
        key = key.lower()
        return key in self._sections.get(section, {}) or key in self._defaults

    def get(self, section: str, key: str) -> str:
        """The value for ``key`` in ``section`` or [DEFAULT]; KeyError when neither has it."""
        key = key.lower()
        values = self._sections[section]
        if key in values:
            return values[key]
        return self._defaults[key]

    def lookup(self, section: str, lowercase_key: str) -> str | None:
        """As ``get``, but None when absent (a section without the key, or no such section).

        The loader asks for some 30 keys per program, most of them absent: raising and
        catching a KeyError for each was a fifth of the time it took to read a config."""
        values = self._sections.get(section)
        if values is None:
            return None
        value = values.get(lowercase_key)
        return self._defaults.get(lowercase_key) if value is None else value

    def origin(self, section: str, key: str) -> tuple[str, int] | None:
        """(file, line) that gave ``section`` its ``key`` (inherited from [DEFAULT] when the
        section has none of its own), or None when no file read with ``track_origins`` did."""
        found = self.origins.get((section, key.lower()))
        if found is None and key.lower() not in self._sections.get(section, {}):
            found = self.origins.get((DEFAULT_SECTION, key.lower()))
        return found

    def contributors(self, section: str) -> list[str]:
        """Files (read with ``track_origins``) that wrote the header or a key of ``section``."""
        files = [where[0] for (name, _key), where in self.origins.items() if name == section]
        return list(dict.fromkeys(files))

    def options(self, section: str) -> list[str]:
        """The section's keys followed by inherited [DEFAULT] keys it does not override."""
        own = self._sections[section]
        return list(own) + [k for k in self._defaults if k not in own]

    def items(self, section: str) -> Iterator[tuple[str, str]]:
        merged = dict(self._defaults)
        merged.update(self._sections[section])
        yield from merged.items()

    def set(self, section: str, key: str, value: str) -> None:
        self._sections[section][key.lower()] = value
        self._here_pending.add(section)

    def replace_here(self, here: str) -> None:
        """Substitute ``%(here)s`` literally in every section, as supervisord does per file
        when [include] is used: each file's values then point at that file's directory.
        Inherited [DEFAULT] values are copied into the section they are substituted in."""
        marker = "%(here)s"
        if any(marker in value for value in self._defaults.values()):
            names = self.sections()  # inherited by every section
        else:
            names = [name for name in self._sections if name in self._here_pending]
        left: set[str] = set()
        for name in names:
            for key, value in list(self.items(name)):
                if marker in value:
                    replaced = value.replace(marker, here)
                    self._sections[name][key.lower()] = replaced
                    if marker in replaced:  # ``here`` itself made one: the next file's turn
                        left.add(name)
        self._here_pending = left
