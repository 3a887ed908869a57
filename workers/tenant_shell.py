"""A tenant's way into its container: ``hostingctl exec APP -- CMD`` and ``hostingctl enter``.

``exec`` is the operator's (root): any app of this host, by name. ``enter`` is what a
tenant's SSH login runs, through sudo: the app is the one whose user logged in, taken from
``SUDO_UID`` (which sudo sets, not the user), so no argument can name another tenant's app.
Both read only the container specs in the host root; they need neither the database nor
the platform's settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from workers.container.enter import LOGIN_SHELL, enter
from workers.container.spec import ContainerSpec, SpecError, load_spec
from workers.tenants import CONTAINERS_DIR, spec_path


class ShellRefused(Exception):
    """The caller may not enter, or there is nothing to enter; the message says which."""


def spec_of_app(host_root: Path, app: str) -> ContainerSpec:
    path = spec_path(host_root, app)
    if not path.exists():
        raise ShellRefused(f"no app {app!r} runs in a container on this host ({host_root})")
    return load_spec(path)


def spec_of_uid(host_root: Path, uid: int) -> ContainerSpec:
    directory = host_root / CONTAINERS_DIR
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            spec = load_spec(path)
        except SpecError:
            continue
        if spec.uid == uid:
            return spec
    raise ShellRefused("your user has no app on this host")


def shell_command(ssh_command: str | None) -> list[str]:
    """What an SSH login runs inside: the command it asked for, through sh, or a shell."""
    if ssh_command:
        return ["/bin/sh", "-c", "--", ssh_command]  # "--": a command may start with "-"
    return list(LOGIN_SHELL)


def exec_app(host_root: Path, app: str, command: Sequence[str]) -> int:
    """The command's exit status."""
    if os.geteuid() != 0:
        raise ShellRefused("hostingctl exec needs root")
    return enter(spec_of_app(host_root, app), list(command) or list(LOGIN_SHELL))


def enter_as_caller(host_root: Path, command: Sequence[str], environ: Mapping[str, str]) -> int:
    """Enter the container of the user who ran ``sudo``; refused for anyone else. The
    command's exit status."""
    if os.geteuid() != 0:
        raise ShellRefused("hostingctl enter runs through sudo (see docs/CONTAINERS.md)")
    caller = environ.get("SUDO_UID", "")
    if not caller.isdigit() or int(caller) == 0:
        raise ShellRefused("hostingctl enter is for tenants, through sudo; operators use exec")
    return enter(spec_of_uid(host_root, int(caller)), list(command))
