"""Before a live upgrade execs anything: is it safe?

Two checks, and the daemon keeps running untouched when either refuses:

1. In the running daemon (its own code): the config file holds nothing that is not
   applied yet. After the exec the new daemon reads the file again and takes it as the
   truth, so a program changed, added or removed in the file (not yet ``update``-d), or a
   changed [supervisord] or server setting, would take effect silently and half-way. The
   operator applies it first (``update``, or ``reload`` for daemon settings).
2. In a child process running the new code exactly as the exec would (same interpreter,
   same argv, same directory) with ``CHECK_ENV`` set: it imports the daemon's modules,
   loads the config, and prints what it found (``check_summary``) instead of starting.
   The daemon compares that with what it runs: the same groups and processes, the same
   control sockets, a hand-over format the new code reads. A new release that cannot
   import, or reads the file differently, never gets the children.
"""

from __future__ import annotations

from collections.abc import Sequence

from supervisor_runtime.static_types import TYPE_CHECKING

from .. import VERSION
from . import CHECK_ENV
from .handover import FORMAT, READABLE_FORMATS

if TYPE_CHECKING:
    from typing import Any

    from ..config.model import SupervisordConfig
    from ..supervisor import Supervisor

CHECK_TIMEOUT = 60.0
# The settings a live upgrade carries as they are: a change needs a reload.
DAEMON_SETTINGS = (
    "logfile",
    "logfile_maxbytes",
    "logfile_backups",
    "loglevel",
    "pidfile",
    "nodaemon",
    "silent",
    "minfds",
    "minprocs",
    "umask",
    "user",
    "identifier",
    "directory",
    "nocleanup",
    "childlogdir",
    "strip_ansi",
    "environment",
    "unix_http_server",
    "inet_http_server",
    "rpcinterfaces",
    "skip_broken",
)


class UpgradeRefused(Exception):
    """The upgrade is not done; ``str()`` says why and what to do."""


def check_applied(supervisor: Supervisor) -> None:
    """Check 1: the config file as the running code reads it now is what runs."""
    try:
        fresh = supervisor.reread_config()
    except ValueError as error:
        raise UpgradeRefused(f"the configuration is invalid: {error}") from None
    if fresh is None:
        raise UpgradeRefused("this daemon was started without a config file to re-read")
    added, changed, removed = supervisor.diff_to_active(fresh.groups)
    pending = [
        f"{what}: {', '.join(sorted(group.name for group in groups))}"
        for what, groups in (("added", added), ("changed", changed), ("removed", removed))
        if groups
    ]
    if pending:
        raise UpgradeRefused(
            f"the config file has program changes not applied yet ({'; '.join(pending)}); "
            "apply them with 'supervisorctl update' first"
        )
    settings = [
        name for name in DAEMON_SETTINGS if getattr(fresh, name) != getattr(supervisor.config, name)
    ]
    if settings:
        raise UpgradeRefused(
            f"the config file changes [supervisord] or server settings ({', '.join(settings)}); "
            "those need 'supervisorctl reload'"
        )


def running_summary(supervisor: Supervisor) -> dict[str, Any]:
    """What the running daemon has, in the shape ``check_summary`` reports."""
    return {
        "groups": {name: sorted(group.processes) for name, group in supervisor.groups.items()},
        "servers": server_identities(supervisor.config),
    }


def server_identities(config: SupervisordConfig) -> list[str]:
    found = []
    if config.unix_http_server is not None:
        found.append(f"unix:{config.unix_http_server.file}")
    if config.inet_http_server is not None:
        inet = config.inet_http_server
        found.append(f"inet:{inet.host}:{inet.port}")
    return found


def check_summary(config: SupervisordConfig) -> dict[str, Any]:
    """The check child's answer (runs in the new code): imports what the daemon runs."""
    from .. import runner  # noqa: F401
    from ..rpc import server, web  # noqa: F401
    from . import controller, restore  # noqa: F401

    return {
        "version": VERSION,
        "formats": list(READABLE_FORMATS),
        "groups": {
            group.name: sorted(process.name for process in group.processes)
            for group in config.groups
        },
        "servers": server_identities(config),
    }


def check_new_code(
    supervisor: Supervisor,
    executable: str,
    argv: Sequence[str],
    cwd: str,
    environment: dict[str, str],
    timeout: float = CHECK_TIMEOUT,
) -> dict[str, Any]:
    """Check 2: run the new code on the config in a child; its summary, or UpgradeRefused.

    The daemon waits for it (at most ``timeout``): children keep running meanwhile, their
    output waits in their pipes and clients in the listen queue.
    """
    # Standard library, so imported here and not with the preloaded modules (the new
    # release cannot change it): subprocess and json are memory every daemon would keep.
    import json
    import subprocess

    env = dict(environment, **{CHECK_ENV: "1"})
    try:
        result = subprocess.run(
            list(argv),
            executable=executable,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UpgradeRefused(f"the new code did not answer the check in {timeout:g} s") from None
    except OSError as error:
        raise UpgradeRefused(f"cannot run the new code ({executable}): {error}") from None
    last_words = result.stderr.decode(errors="replace").strip().splitlines()[-3:]
    if result.returncode != 0:
        raise UpgradeRefused(
            f"the new code failed its check (exit status {result.returncode}): "
            + " / ".join(last_words)
        )
    try:
        summary = json.loads(result.stdout.decode(errors="replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise UpgradeRefused(
            "the new code does not know live upgrades (its check printed no summary)"
        ) from None
    if FORMAT not in summary.get("formats", ()):
        raise UpgradeRefused(
            f"release {summary.get('version')} cannot read this daemon's hand-over "
            f"(format {FORMAT}; it reads {summary.get('formats')})"
        )
    running = running_summary(supervisor)
    for key, what in (("groups", "programs"), ("servers", "control sockets")):
        if summary.get(key) != running[key]:
            raise UpgradeRefused(
                f"release {summary.get('version')} reads other {what} from the config "
                f"({summary.get(key)}) than this daemon runs ({running[key]})"
            )
    return summary
