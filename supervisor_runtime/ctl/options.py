"""supervisorctl's command line and its [supervisorctl] config section, merged.

Precedence as in stock 4.3.0: command line, then the config file, then built-in defaults.
Options stop at the first word that is not one (plain getopt), so in
``supervisorctl tail -f app`` the ``-f`` belongs to the action.
"""

from __future__ import annotations

import getopt
import os
from collections.abc import Mapping, Sequence

from supervisor_runtime.config.ctl_model import PluginConfig, SupervisorctlConfig
from supervisor_runtime.config.ctl_options import load_ctl_config
from supervisor_runtime.config.errors import ConfigError
from supervisor_runtime.config.search import find_config_file

DEFAULT_SERVERURL = "http://localhost:9001"
DEFAULT_PROMPT = "supervisor"

# The first line, the options, their argument names and their order are stock's (tools that
# read help output find the same options); the words are ours. One deliberate difference:
# stock's line for -r says "--history-file" with no argument, which its own parser rejects.
USAGE = """\
supervisorctl -- control the programs a supervisord runs, from the command line.

Usage: {progname} [options] [action [arguments]]

Options:
-c/--configuration FILENAME -- read [supervisorctl] from this file (default: searched)
-h/--help -- show this text and exit
-i/--interactive -- open the interactive shell (the default when no action is given)
-s/--serverurl URL -- where supervisord listens: unix:///path/to.sock or
                      http://host:port (default "http://localhost:9001")
-u/--username USERNAME -- user name for the server's basic authentication
-p/--password PASSWORD -- password for the server's basic authentication
-r/--history_file FILENAME -- keep the shell's readline history in this file

action [arguments] -- one command, e.g. "status" or "restart app", run before exiting.
Without an action an interactive shell starts; type "help" there to list the actions.
"""

SHORT_OPTIONS = "h?c:is:u:p:r:"
LONG_OPTIONS = [
    "help",
    "configuration=",
    "interactive",
    "serverurl=",
    "username=",
    "password=",
    "history_file=",
]
# Option -> the CtlOptions field it sets (help is handled on its own).
_FIELDS = {
    "-c": "configfile",
    "--configuration": "configfile",
    "-i": "interactive",
    "--interactive": "interactive",
    "-s": "serverurl",
    "--serverurl": "serverurl",
    "-u": "username",
    "--username": "username",
    "-p": "password",
    "--password": "password",
    "-r": "history_file",
    "--history_file": "history_file",
}


class UsageError(Exception):
    """Bad command line or config; the CLI prints ``Error: <msg>`` and exits 2."""


class HelpRequested(Exception):  # noqa: N818 - a request, not an error
    """-h/--help was given: the CLI prints the usage text and exits 0."""


class CtlOptions:
    """Everything a supervisorctl run needs; mutable because ``open`` and the 401 prompt
    change the server URL and credentials mid-session, as in stock.

    A plain class, not a dataclass: see ``config.ctl_model`` for why."""

    def __init__(
        self,
        serverurl: str = DEFAULT_SERVERURL,
        username: str | None = None,
        password: str | None = None,
        prompt: str = DEFAULT_PROMPT,
        history_file: str | None = None,
        interactive: bool = False,
        configfile: str | None = None,
        args: list[str] | None = None,
        plugins: tuple[PluginConfig, ...] = (),
    ) -> None:
        self.serverurl = serverurl
        self.username = username
        self.password = password
        self.prompt = prompt
        self.history_file = history_file
        self.interactive = interactive
        self.configfile = configfile
        self.args: list[str] = [] if args is None else args
        self.plugins = plugins

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
        return f"CtlOptions({fields})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CtlOptions) and vars(self) == vars(other)


def usage_text(progname: str) -> str:
    return USAGE.format(progname=progname)


def check_url(value: str) -> str:
    """Stock's test for -s: a scheme plus a host or a path."""
    from urllib.parse import urlsplit  # only when -s is given: 3 ms of start-up otherwise

    parts = urlsplit(value)
    if parts.scheme and (parts.netloc or parts.path):
        return value
    raise ValueError(f"value {value!r} is not a URL")


def read_ctl_config(path: str, environ: Mapping[str, str] | None = None) -> SupervisorctlConfig:
    """``load_ctl_config`` with its errors worded like supervisorctl's (UsageError).

    Stock says ".ini file does not include supervisorctl section" without naming the file;
    ConfigError adds " in <path>", so a file-level error is reported by its reason alone.
    """
    try:
        return load_ctl_config(path, environ)
    except ConfigError as exc:
        if exc.section is None and exc.key is None:
            raise UsageError(exc.reason) from None
        raise UsageError(str(exc)) from None


def parse_args(
    argv: Sequence[str],
    *,
    progname: str = "supervisorctl",
    cwd: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> CtlOptions:
    """Options for ``argv`` (without the program name). Raises UsageError or HelpRequested.

    ``progname`` (sys.argv[0]) also anchors the default config search, like supervisord's.
    """
    try:
        pairs, args = getopt.getopt(list(argv), SHORT_OPTIONS, LONG_OPTIONS)
    except getopt.GetoptError as exc:
        raise UsageError(str(exc)) from None

    given: dict[str, object] = {}
    for opt, value in pairs:
        if opt in ("-h", "-?", "--help"):
            raise HelpRequested()
        name = _FIELDS[opt]
        parsed: object = value
        if name == "interactive":
            parsed = True
        elif name == "serverurl":
            try:
                parsed = check_url(value)
            except ValueError as exc:
                raise UsageError(f"invalid value for {opt} {value!r}: {exc}") from None
        if name in given:
            raise UsageError(f"conflicting command line option {opt!r}")
        given[name] = parsed

    configfile = given.get("configfile")
    if configfile is None:
        configfile = find_config_file(cwd or os.getcwd(), progname)
    config = read_ctl_config(str(configfile), environ) if configfile else None

    def pick(name: str, from_config: object, default: object) -> object:
        if name in given:
            return given[name]
        return from_config if from_config is not None else default

    return CtlOptions(
        serverurl=str(pick("serverurl", config and config.serverurl, DEFAULT_SERVERURL)),
        username=_opt_str(pick("username", config and config.username, None)),
        password=_opt_str(pick("password", config and config.password, None)),
        prompt=str(pick("prompt", config and config.prompt, DEFAULT_PROMPT)),
        # Stock accepts -r but never uses it (only the config's history_file counts);
        # we honour it, since that is what the option says it does.
        history_file=_opt_str(pick("history_file", config and config.history_file, None)),
        # With no action the shell starts whatever -i says; with one, -i is ignored (4.3.0).
        interactive=bool(given.get("interactive")) or not args,
        configfile=str(configfile) if configfile else None,
        args=list(args),
        plugins=config.plugins if config else (),
    )


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
