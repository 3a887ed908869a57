"""The registry of supervisorctl actions: name -> function, help text, completion kind.

Actions register with ``@command(name, *help_lines)``; ``commands.COMMANDS`` is the table
the dispatcher, ``help`` and tab completion all read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from supervisor_runtime.ctl import client
from supervisor_runtime.ctl import formatting as fmt
from supervisor_runtime.ctl.session import Session

Completes = Literal["actions", "groups", "processes"] | None
Action = Callable[[Session, str], bool | None]


class Command(NamedTuple):  # not a dataclass: see config.ctl_model for why
    name: str
    run: Action
    help: tuple[str, ...]
    # What tab completion offers for this command's arguments.
    completes: Completes = None
    # Not listed by `help` (EOF: what the shell runs at end of input).
    hidden: bool = False
    # Ours, not stock's: `help <name>` describes it, but the `help` index stays stock's.
    extension: bool = False


COMMANDS: dict[str, Command] = {}


def command(
    name: str,
    *help_lines: str,
    completes: Completes = None,
    hidden: bool = False,
    extension: bool = False,
) -> Callable[[Action], Action]:
    """Register ``func`` as the action ``name`` with its help text."""

    def register(func: Action) -> Action:
        if name in COMMANDS:
            raise ValueError(f"supervisorctl command {name!r} registered twice")
        COMMANDS[name] = Command(name, func, help_lines, completes, hidden, extension)
        return func

    return register


def show_help(session: Session, name: str) -> None:
    for line in COMMANDS[name].help:
        session.output(line)


def usage_error(session: Session, message: str, name: str | None, status: int) -> None:
    """Print a complaint about the arguments, set the exit status, then ``name``'s help."""
    session.output(message)
    session.exitstatus = status
    if name is not None:
        show_help(session, name)


def fault_result(exc: client.Fault, namespec: str) -> dict[str, Any]:
    """A Fault raised for one name, as a result entry the formatting functions take."""
    group, name = fmt.split_namespec(namespec)
    return fmt.fault_result(exc.faultCode, group, name, exc.faultString)
