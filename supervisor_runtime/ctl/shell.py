"""The interactive supervisorctl shell: a prompt, readline history and tab completion."""

from __future__ import annotations

import atexit
import cmd
from typing import Any, TextIO

from supervisor_runtime.ctl import commands
from supervisor_runtime.ctl.session import Session


class Shell(cmd.Cmd):
    """Reads command lines and hands each to ``commands.execute``."""

    def __init__(
        self, session: Session, stdin: TextIO | None = None, stdout: TextIO | None = None
    ) -> None:
        super().__init__(completekey="tab", stdin=stdin, stdout=stdout)
        self.session = session
        self.prompt = f"{session.options.prompt}> "

    # cmd.Cmd hooks: every line, empty or not, goes through our dispatcher.
    def onecmd(self, line: str) -> bool:
        return commands.execute(self.session, line)

    def emptyline(self) -> bool:
        return False

    # -- completion

    def complete(self, text: str, state: int, line: str | None = None) -> str | None:  # type: ignore[override]
        """readline's completer: the ``state``-th candidate for ``text`` or None.

        ``line`` is the whole input line (read from readline when not given)."""
        if line is None:
            import readline

            line = readline.get_line_buffer()
        matches = self.completions(text, line)
        return matches[state] if state < len(matches) else None

    def completions(self, text: str, line: str) -> list[str]:
        """Every candidate, each followed by a space as readline wants."""
        words = line.split()
        if not words or (len(words) == 1 and not line.endswith(" ")):
            return self._actions(text)
        found = commands.COMMANDS.get(words[0])
        kind = found.completes if found is not None else None
        try:
            if kind == "actions":
                return self._actions(text)
            if kind == "groups":
                return self._groups(text)
            if kind == "processes":
                return self._processes(text)
        except Exception:
            # A completer must never raise into readline (it would be swallowed anyway,
            # and the server may simply be down).
            return []
        return []

    @staticmethod
    def _actions(text: str) -> list[str]:
        return [
            f"{name} "
            for name, found in sorted(commands.COMMANDS.items())
            if not found.hidden and name.startswith(text)
        ]

    def _groups(self, text: str) -> list[str]:
        groups: list[str] = []
        for info in self.session.process_infos():
            if info["group"] not in groups:
                groups.append(info["group"])
        return [f"{g} " for g in groups if g.startswith(text)]

    def _processes(self, text: str) -> list[str]:
        names: list[str] = []
        for info in self.session.process_infos():
            # Processes alone in their group complete by bare name until a ":" is typed.
            if ":" in text or info["name"] != info["group"]:
                names.append(f"{info['group']}:{info['name']}")
                wildcard = f"{info['group']}:*"
                if wildcard not in names:
                    names.append(wildcard)
            else:
                names.append(info["name"])
        return [f"{n} " for n in names if n.startswith(text)]


def _setup_readline(history_file: str | None) -> None:
    """Group names like ``web:app-1`` and ``web:*`` must complete as one word; keep the
    history file if one is configured. Without readline the shell works without both."""
    try:
        import readline
    except ImportError:
        return
    delims = readline.get_completer_delims()
    for char in ":*-":
        delims = delims.replace(char, "")
    readline.set_completer_delims(delims)
    if not history_file:
        return
    try:
        readline.read_history_file(history_file)
    except OSError:
        pass

    def save() -> None:
        try:
            readline.write_history_file(history_file)
        except OSError:
            pass

    atexit.register(save)


def run_shell(session: Session, **kwargs: Any) -> None:
    """The interactive loop; it starts by showing `status`. Ctrl-C leaves it."""
    _setup_readline(session.options.history_file)
    shell = Shell(session, **kwargs)
    shell.cmdqueue.append("status")
    try:
        shell.cmdloop()
    except KeyboardInterrupt:
        session.output("")
