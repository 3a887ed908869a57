"""One supervisorctl run: options, the server connection, output and the exit status.

Commands receive a Session and never touch sys.stdout or the network directly, so tests can
drive them with a fake proxy and a StringIO.
"""

from __future__ import annotations

import errno
import getpass
import sys
from collections.abc import Callable
from enum import IntEnum
from typing import Any, TextIO

from supervisor_runtime import API_VERSION
from supervisor_runtime.ctl import client
from supervisor_runtime.ctl.client import ServerProxy, ServerUnreachable, connect
from supervisor_runtime.ctl.health_words import with_health_words
from supervisor_runtime.ctl.options import CtlOptions
from supervisor_runtime.rpc.faults import FaultCode


class InitExit(IntEnum):
    """LSB init-script exit codes, which supervisorctl uses for most actions."""

    SUCCESS = 0
    GENERIC = 1
    INVALID_ARGS = 2
    UNIMPLEMENTED_FEATURE = 3
    INSUFFICIENT_PRIVILEGES = 4
    NOT_INSTALLED = 5
    NOT_RUNNING = 7


class StatusExit(IntEnum):
    """LSB exit codes of a `status` action."""

    NOT_RUNNING = 3
    UNKNOWN = 4


# Faults meaning "the program is not running (any more)": exit 7.
DEAD_PROGRAM_FAULTS = frozenset(
    {FaultCode.SPAWN_ERROR, FaultCode.ABNORMAL_TERMINATION, FaultCode.NOT_RUNNING}
)


class Session:
    """State shared by the commands of one supervisorctl process."""

    def __init__(
        self,
        options: CtlOptions,
        *,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        read_line: Callable[[str], str] = input,
        read_password: Callable[[str], str] = getpass.getpass,
        proxy_factory: Callable[[CtlOptions], Any] | None = None,
    ) -> None:
        self.options = options
        self.exitstatus: int = InitExit.SUCCESS
        self._stdout = stdout
        self._stderr = stderr
        self.read_line = read_line
        self.read_password = read_password
        self._proxy_factory = proxy_factory
        self._proxy: ServerProxy | Any | None = None
        # getAllProcessInfo for tab completion, kept until the next command runs.
        self.complete_info: list[dict[str, Any]] | None = None

    # -- output

    @property
    def stdout(self) -> TextIO:
        return self._stdout if self._stdout is not None else sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self._stderr if self._stderr is not None else sys.stderr

    def output(self, message: str) -> None:
        self.stdout.write(message + "\n")

    def warn_if_not_utf8(self) -> None:
        """Stock warns before printing log text to a stream that may not take Unicode."""
        encoding = getattr(self.stdout, "encoding", None) or ""
        if not encoding.lower().startswith("utf"):
            self.output(
                f"Warning: sys.stdout.encoding is set to {getattr(self.stdout, 'encoding', None)}"
                ", so Unicode output may fail. Check your LANG and PYTHONIOENCODING "
                "environment settings."
            )

    # -- the server

    def proxy(self) -> Any:
        """The server proxy, created on first use and kept (one connection per run)."""
        if self._proxy is None:
            if self._proxy_factory is not None:
                self._proxy = self._proxy_factory(self.options)
            else:
                options = self.options
                self._proxy = connect(options.serverurl, options.username, options.password)
        return self._proxy

    @property
    def supervisor(self) -> Any:
        """The ``supervisor.*`` namespace of the server."""
        return self.proxy().supervisor

    def reset_connection(self) -> None:
        """Forget the connection (after ``open`` or new credentials)."""
        proxy, self._proxy = self._proxy, None
        if proxy is not None and hasattr(proxy, "close"):
            proxy.close()

    def close(self) -> None:
        self.reset_connection()

    def upcheck(self) -> bool:
        """Check the server answers and speaks our API; print why not and set the exit
        status (stock's wording and codes) when it does not."""
        try:
            api = self.supervisor.getVersion()
        except client.Fault as exc:
            if exc.faultCode == FaultCode.UNKNOWN_METHOD:
                self.output(
                    "Sorry, supervisord responded but did not recognize the supervisor "
                    "namespace commands that supervisorctl uses to control it.  Please check "
                    "that the [rpcinterface:supervisor] section is enabled in the "
                    "configuration file (see sample.conf)."
                )
                self.exitstatus = InitExit.UNIMPLEMENTED_FEATURE
                return False
            self.exitstatus = InitExit.GENERIC
            raise
        except OSError as exc:
            if exc.errno == errno.ECONNREFUSED:
                self.output(f"{self.options.serverurl} refused connection")
                self.exitstatus = InitExit.INSUFFICIENT_PRIVILEGES
                return False
            if exc.errno == errno.ENOENT:
                self.output(f"{self.options.serverurl} no such file")
                self.exitstatus = InitExit.NOT_RUNNING
                return False
            self.exitstatus = InitExit.GENERIC
            raise
        if api != API_VERSION:
            self.output(
                "Sorry, this version of supervisorctl expects to talk to a server with API "
                f"version {API_VERSION}, but the remote version is {api}."
            )
            self.exitstatus = InitExit.NOT_INSTALLED
            return False
        return True

    def exit_from_fault(self, code: int, ignored: int | None = None) -> None:
        """Exit status for one per-process result: 0 for success (or the ``ignored`` code,
        e.g. ALREADY_STARTED for start), 7 for a dead program, 1 for anything else."""
        if code in (ignored, FaultCode.SUCCESS):
            return
        if code in DEAD_PROGRAM_FAULTS:
            self.exitstatus = InitExit.NOT_RUNNING
        else:
            self.exitstatus = InitExit.GENERIC

    def process_infos(self) -> list[dict[str, Any]]:
        """getAllProcessInfo, cached for completion until the next command."""
        if self.complete_info is None:
            self.complete_info = self.supervisor.getAllProcessInfo()
        return self.complete_info

    def process_infos_and_notices(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """getAllProcessInfo and the server's config notices ([include] skip_broken), in
        one round trip (system.multicall). A server without notices (stock, or the option
        off) answers that call with a fault: no notices. Ours too, in the same round trip:
        readiness and health words, added after the description of the processes that
        declare a check or depends_on (ctl/health_words.py)."""
        calls = [
            {"methodName": "supervisor.getAllProcessInfo", "params": []},
            {"methodName": "supervisor.getConfigNotices", "params": []},
            {"methodName": "runtime.getAllProcessHealth", "params": []},
        ]
        try:
            infos, notices, health = self.proxy().system.multicall(calls)
        except client.Fault as exc:
            if exc.faultCode != FaultCode.UNKNOWN_METHOD:
                raise
            return self.supervisor.getAllProcessInfo(), []  # a server without multicall
        if isinstance(infos, dict) and "faultCode" in infos:
            raise client.Fault(infos["faultCode"], infos["faultString"])
        infos = with_health_words(infos, health)
        if not isinstance(notices, list):
            return infos, []
        return infos, [notice for notice in notices if isinstance(notice, dict)]

    def ask_credentials(self) -> None:
        """The shell's answer to a 401: ask, then reconnect with what was typed."""
        username = self.read_line("Username:")
        password = self.read_password("Password:")
        self.output("")
        self.options.username = username
        self.options.password = password
        self.reset_connection()


def describe_exception(exc: BaseException) -> str:
    """stock's one-line report of an unexpected error:
    ``error: <class 'X'>, message: file: F line: N`` (innermost frame of the traceback).
    For ServerUnreachable the underlying socket error is reported, as stock would."""
    if isinstance(exc, ServerUnreachable) and exc.__cause__ is not None:
        exc = exc.__cause__
    tb = exc.__traceback__
    filename, lineno = "?", "?"
    while tb is not None:
        filename, lineno = tb.tb_frame.f_code.co_filename, str(tb.tb_lineno)
        tb = tb.tb_next
    return f"error: {type(exc)}, {exc}: file: {filename} line: {lineno}"
