"""supervisord: start and watch the programs named in a supervisord.conf (see HELP)."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Sequence

from supervisor_runtime.static_types import TYPE_CHECKING

from .. import SUPERVISOR_VERSION
from ..config import ConfigError, find_config_file, load_config
from ..config import datatypes as types
from ..config.model import SupervisordConfig
from ..daemon import StartupError
from ..runner import run_daemon
from ..upgrade.entry import answer_check, give_up, is_check_run, take_handover

if TYPE_CHECKING:
    from typing import Any, NoReturn

# The first line, the options, their argument names and their order are stock 4.3.0's
# (tools that read help output find the same options); the words are ours.
HELP = """\
supervisord -- start the programs of a config file and keep them running as daemons.

Usage: {progname} [options]

Options:
-c/--configuration FILENAME -- the config file (default: searched for, see README)
-n/--nodaemon -- stay in the foreground (nodaemon=true)
-s/--silent -- in the foreground, do not echo the log to stdout (silent=true)
-h/--help -- show this text and exit
-v/--version -- show the supervisord version this daemon behaves as, and exit
-u/--user USER -- switch to this user name or uid after start-up (user=)
-m/--umask UMASK -- octal umask taken when daemonizing (umask=, default 022)
-d/--directory DIRECTORY -- change to this directory when daemonizing (directory=)
-l/--logfile FILENAME -- path of the activity log (logfile=)
-y/--logfile_maxbytes BYTES -- rotate the activity log at this size (logfile_maxbytes=)
-z/--logfile_backups NUM -- rotated activity logs to keep (logfile_backups=)
-e/--loglevel LEVEL -- critical, error, warn, info, debug, trace or blather (loglevel=)
-j/--pidfile FILENAME -- where to write the daemon's pid (pidfile=)
-i/--identifier STR -- the name this instance reports to RPC clients (identifier=)
-q/--childlogdir DIRECTORY -- where AUTO child logs are written (childlogdir=)
-k/--nocleanup -- keep old AUTO child logs at start-up (nocleanup=true)
-a/--minfds NUM -- file descriptors that must be available to start (minfds=)
-t/--strip_ansi -- remove ANSI escape sequences from child output (strip_ansi=true)
--minprocs NUM -- processes that must be available to start (minprocs=)
--profile_options OPTIONS -- run under cProfile and print a report at exit;
                             OPTIONS is a comma list of cumulative, calls, callers

Each option overrides the matching [supervisord] setting of the config file.
"""

SHORT_OPTIONS = "c:nshv?u:m:d:l:y:z:e:j:i:q:ka:t"
LONG_OPTIONS = [
    "configuration=",
    "nodaemon",
    "silent",
    "help",
    "version",
    "user=",
    "umask=",
    "directory=",
    "logfile=",
    "logfile_maxbytes=",
    "logfile_backups=",
    "loglevel=",
    "pidfile=",
    "identifier=",
    "childlogdir=",
    "nocleanup",
    "minfds=",
    "strip_ansi",
    "minprocs=",
    "profile_options=",
]

# (short, long, SupervisordConfig field, converter); a converter of None marks a flag.
_OPTION_TABLE: list[tuple[str, str, str, Callable[[str], Any] | None]] = [
    ("-n", "--nodaemon", "nodaemon", None),
    ("-s", "--silent", "silent", None),
    ("-k", "--nocleanup", "nocleanup", None),
    ("-t", "--strip_ansi", "strip_ansi", None),
    ("-u", "--user", "user", str),
    ("-m", "--umask", "umask", types.octal),
    ("-d", "--directory", "directory", types.existing_directory),
    ("-l", "--logfile", "logfile", types.existing_dirpath),
    ("-y", "--logfile_maxbytes", "logfile_maxbytes", types.byte_size),
    ("-z", "--logfile_backups", "logfile_backups", types.integer),
    ("-e", "--loglevel", "loglevel", types.logging_level),
    ("-j", "--pidfile", "pidfile", types.existing_dirpath),
    ("-i", "--identifier", "identifier", str),
    ("-q", "--childlogdir", "childlogdir", types.existing_directory),
    ("-a", "--minfds", "minfds", int),
    ("", "--minprocs", "minprocs", int),
]
_OPTIONS = {
    name: (field_name, convert)
    for short, long, field_name, convert in _OPTION_TABLE
    for name in (short, long)
    if name
}
PROFILE_SORTS = ("cumulative", "calls")


class CommandLine:
    """What the command line asked for: a config file, settings over the file's, profiling."""

    def __init__(self) -> None:
        self.configfile: str | None = None
        self.overrides: dict[str, Any] = {}
        self.profile_options: tuple[str, bool] | None = None  # (sort order, print callers)


def usage_error(message: str) -> NoReturn:
    sys.stderr.write(f"Error: {message}\nFor help, use {sys.argv[0]} -h\n")
    raise SystemExit(2)


def parse_profile_options(text: str) -> tuple[str, bool]:
    options = [part.strip().lower() for part in text.split(",") if part.strip()]
    sort_order = "cumulative"
    for option in options:
        if option not in (*PROFILE_SORTS, "callers"):
            raise ValueError(f"Unknown profile option {option!r}")
        if option in PROFILE_SORTS:
            sort_order = option
    return sort_order, "callers" in options


def _getopt() -> Any:
    """The getopt module, imported without gettext when nothing has imported that yet.

    getopt translates its error messages through gettext when it can import it, which
    costs every daemon 0.08 MiB; supervisord's messages are English anyway (no catalogue
    for them is installed, so gettext returns them unchanged). getopt falls back to the
    untranslated messages when the import fails, as it does for a None in sys.modules.
    """
    if "gettext" in sys.modules:
        import getopt
    else:
        sys.modules["gettext"] = None  # type: ignore[assignment]
        try:
            import getopt
        finally:
            del sys.modules["gettext"]
    return getopt


def parse_command_line(argv: Sequence[str]) -> CommandLine:
    getopt = _getopt()
    try:
        options, arguments = getopt.getopt(list(argv), SHORT_OPTIONS, LONG_OPTIONS)
    except getopt.GetoptError as error:
        usage_error(str(error))
    if arguments:
        usage_error(f"positional arguments are not supported: {arguments}")
    command_line = CommandLine()
    for option, value in options:
        if option in ("-h", "--help", "-?"):
            sys.stdout.write(HELP.format(progname=sys.argv[0]))
            raise SystemExit(0)
        if option in ("-v", "--version"):
            sys.stdout.write(f"{SUPERVISOR_VERSION}\n")
            raise SystemExit(0)
        if option in ("-c", "--configuration"):
            command_line.configfile = value
        elif option == "--profile_options":
            try:
                command_line.profile_options = parse_profile_options(value)
            except ValueError as error:
                usage_error(f"invalid value for {option} {value!r}: {error}")
        else:
            name, convert = _OPTIONS[option]
            if convert is None:
                command_line.overrides[name] = True
                continue
            try:
                command_line.overrides[name] = convert(value)
            except ValueError as error:
                usage_error(f"invalid value for {option} {value!r}: {error}")
    return command_line


def locate_config(command_line: CommandLine) -> str:
    if command_line.configfile is not None:
        return command_line.configfile
    if os.getuid() == 0:
        sys.stderr.write(
            "UserWarning: Supervisord is running as root and it is searching for its "
            "configuration file in default locations (including its current working "
            'directory); you probably want to specify a "-c" argument specifying an '
            "absolute path to a configuration file for improved security.\n"
        )
    found = find_config_file(os.getcwd(), sys.argv[0])
    if found is None:
        usage_error(
            "No config file found at default paths; use the -c option to specify a "
            "config file at a different path"
        )
    return found


def make_config_loader(path: str, command_line: CommandLine) -> Callable[[], SupervisordConfig]:
    """Reads the config and applies the command line on top; used again on SIGHUP."""

    def load() -> SupervisordConfig:
        config = load_config(path)
        return config._replace(**command_line.overrides)

    return load


def main(argv: Sequence[str] | None = None) -> int:
    # No cyclic garbage collection until the children have started (runner turns it back
    # on): parsing a big config allocates thousands of objects that all live on, and
    # collecting would only walk them again and again (4 ms of a 500-program start).
    gc.disable()
    handover = take_handover()  # set after a live upgrade's exec (upgrade/entry.py)
    command_line = parse_command_line(sys.argv[1:] if argv is None else argv)
    path = locate_config(command_line)
    load = make_config_loader(path, command_line)
    try:
        config = load()
    except (ConfigError, ValueError, OSError) as error:
        give_up(handover, str(error))
        usage_error(str(error))
    if is_check_run():
        return answer_check(config)
    try:
        if command_line.profile_options is None:
            return run_daemon(config, load, handover)
        return _run_profiled(config, load, *command_line.profile_options)
    except StartupError as error:
        give_up(handover, str(error))
        usage_error(str(error))


def _run_profiled(
    config: SupervisordConfig, load: Callable[[], SupervisordConfig], sort: str, callers: bool
) -> int:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    try:
        return profiler.runcall(run_daemon, config, load)
    finally:
        stats = pstats.Stats(profiler, stream=sys.stdout).sort_stats(sort)
        if callers:
            stats.print_callers(0.3)
        else:
            stats.print_stats(0.3)


if __name__ == "__main__":
    raise SystemExit(main())
