"""The ``supervisor.*`` namespace of supervisord 4.3.0's XML-RPC API (API version 3.0).

Names, parameters, return shapes, fault codes and fault strings follow
supervisord; the waiting calls answer through Deferreds (see waiting.py).
"""

from __future__ import annotations

import os

from supervisor_runtime.static_types import TYPE_CHECKING

from .. import API_VERSION, SUPERVISOR_VERSION
from ..config import datatypes
from ..config.model import AnyGroupConfig
from ..events import RemoteCommunicationEvent
from ..osapi import resolve_command
from ..spawnerror import SpawnError
from ..states import (
    RUNNING_STATES,
    SIGNALLABLE_STATES,
    STOPPED_STATES,
    ProcessState,
    SupervisorState,
)
from .faults import FaultCode, RPCError
from .process_info import (
    config_info,
    make_namespec,
    process_info,
    split_namespec,
)
from .waiting import PENDING, gather, wait_for
from .xmlrpc import Deferred, Registry

if TYPE_CHECKING:
    from typing import Any

    from ..process import Process
    from ..supervisor import ProcessGroup, Supervisor


def _text(data: bytes) -> str:
    # Logs may hold any bytes; XML-RPC strings must be text.
    return data.decode("utf-8", "replace")


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RPCError(FaultCode.INCORRECT_PARAMETERS) from None


class SupervisorNamespace:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        # What the last read of the config file said (reloadConfig replaces it);
        # addProcessGroup and getAllConfigInfo answer from it, as supervisord does.
        self.known_groups: tuple[AnyGroupConfig, ...] = tuple(supervisor.config.groups)

    # -- helpers ---------------------------------------------------------------

    def _check_running(self) -> None:
        if self.supervisor.mood < SupervisorState.RUNNING:
            raise RPCError(FaultCode.SHUTDOWN_STATE)

    def _resolve(self, name: Any) -> tuple[ProcessGroup, Process | None]:
        if not isinstance(name, str):
            raise RPCError(FaultCode.BAD_NAME, name)
        group_name, process_name = split_namespec(name)
        group = self.supervisor.groups.get(group_name)
        if group is None:
            raise RPCError(FaultCode.BAD_NAME, name)
        if process_name is None:
            return group, None
        process = group.processes.get(process_name)
        if process is None:
            raise RPCError(FaultCode.BAD_NAME, name)
        return group, process

    def _process(self, name: Any) -> Process:
        _, process = self._resolve(name)
        if process is None:
            raise RPCError(FaultCode.BAD_NAME, name)
        return process

    def _group(self, name: Any) -> ProcessGroup:
        group = self.supervisor.groups.get(name) if isinstance(name, str) else None
        if group is None:
            raise RPCError(FaultCode.BAD_NAME, name)
        return group

    @staticmethod
    def _by_priority(group: ProcessGroup) -> list[Process]:
        return sorted(group.processes.values(), key=lambda p: p.config.priority)

    def _all_by_priority(self) -> list[Process]:
        return [p for g in self.supervisor.groups_by_priority() for p in self._by_priority(g)]

    @staticmethod
    def _namespec(process: Process) -> str:
        return make_namespec(process.group_name, process.name)

    # -- the daemon ------------------------------------------------------------

    def getAPIVersion(self) -> str:
        """The version of the XML-RPC API (3.0), which supervisorctl checks."""
        self._check_running()
        return API_VERSION

    def getSupervisorVersion(self) -> str:
        """The supervisord version this daemon behaves as (4.3.0; see SUPERVISOR_VERSION)."""
        self._check_running()
        return SUPERVISOR_VERSION

    def getIdentification(self) -> str:
        """The identifier= of [supervisord]."""
        self._check_running()
        return self.supervisor.config.identifier

    def getState(self) -> dict[str, Any]:
        """{'statecode': int, 'statename': str} of the daemon."""
        self._check_running()
        mood = self.supervisor.mood
        return {"statecode": int(mood), "statename": mood.name}

    def getPID(self) -> int:
        """The daemon's process id."""
        self._check_running()
        return os.getpid()

    def _mainlog_path(self) -> str | None:
        return self.supervisor.log.path or self.supervisor.config.logfile

    def readLog(self, offset: Any, length: Any) -> str:
        """length bytes of the main log from offset (a negative offset counts from the end)."""
        self._check_running()
        path = self._mainlog_path()
        if path is None or not os.path.exists(path):
            raise RPCError(FaultCode.NO_FILE, path)
        return self._read(path, offset, length)

    @staticmethod
    def _read(path: str, offset: Any, length: Any) -> str:
        from ..logs.tail import read_file  # at the first log read, not every daemon's start

        try:
            return _text(read_file(path, _int(offset), _int(length)))
        except ValueError as error:
            raise RPCError(FaultCode[str(error)]) from None

    def clearLog(self) -> bool:
        """Empty the main log."""
        self._check_running()
        path = self._mainlog_path()
        if path is None or not os.path.exists(path):
            raise RPCError(FaultCode.NO_FILE)
        # supervisord logs this line into the file it has just removed: nobody sees it.
        self.supervisor.log.info("reopening log file")
        try:
            self.supervisor.log.clear()
        except OSError:
            raise RPCError(FaultCode.FAILED) from None
        return True

    def shutdown(self) -> bool:
        """Stop every process, then exit."""
        self._check_running()
        self.supervisor.request_shutdown()
        return True

    def restart(self) -> bool:
        """Stop every process, re-read the configuration and start again."""
        self._check_running()
        self.supervisor.request_restart()
        return True

    # -- configuration ---------------------------------------------------------

    def reloadConfig(self) -> list[list[list[str]]]:
        """Re-read the config file: [[added, changed, removed]] group names. Nothing is
        applied; a config that does not parse is refused (CANT_REREAD) and changes nothing."""
        self._check_running()
        try:
            fresh = self.supervisor.reread_config()
        except ValueError as error:
            raise RPCError(FaultCode.CANT_REREAD, error) from None
        if fresh is None:
            raise RPCError(FaultCode.CANT_REREAD, "no configuration file to re-read")
        self.known_groups = tuple(fresh.groups)
        added, changed, removed = self.supervisor.diff_to_active(self.known_groups)
        return [[[g.name for g in added], [g.name for g in changed], [g.name for g in removed]]]

    def getConfigNotices(self) -> list[dict[str, Any]]:
        """Ours, only with [include] skip_broken = true: the included files the last read
        of the config set aside, each as {file, line, section, key, value, error}."""
        self._check_running()
        return [notice.as_struct() for notice in self.supervisor.config_notices]

    def addProcessGroup(self, name: Any) -> bool:
        """Make a group of the last read config active (its autostart processes start)."""
        self._check_running()
        for config in self.known_groups:
            if config.name == name:
                if not self.supervisor.add_group(config):
                    raise RPCError(FaultCode.ALREADY_ADDED, name)
                group = self.supervisor.groups[config.name]
                for process in self._by_priority(group):
                    self.supervisor.dependencies.autostart(process)
                return True
        raise RPCError(FaultCode.BAD_NAME, name)

    def removeProcessGroup(self, name: Any) -> bool:
        """Remove a group whose processes are all stopped."""
        self._check_running()
        if not isinstance(name, str) or name not in self.supervisor.groups:
            raise RPCError(FaultCode.BAD_NAME, name)
        if not self.supervisor.remove_group(name):
            raise RPCError(FaultCode.STILL_RUNNING, name)
        return True

    def getAllConfigInfo(self) -> list[dict[str, Any]]:
        """One struct per configured process (of the last read config), sorted by name."""
        self._check_running()
        infos = [
            config_info(self.supervisor, group, pconfig)
            for group in sorted(self.known_groups, key=lambda g: g.priority)
            for pconfig in group.processes
        ]
        infos.sort(key=lambda info: info["name"])
        return infos

    # -- process status ----------------------------------------------------------

    def getProcessInfo(self, name: Any) -> dict[str, Any]:
        """The status struct of one process (name or group:name)."""
        self._check_running()
        return process_info(self.supervisor, self._process(name))

    def getAllProcessInfo(self) -> list[dict[str, Any]]:
        """Status structs of every process, sorted by group then process name."""
        self._check_running()
        groups = self.supervisor.groups
        return [
            process_info(self.supervisor, groups[g].processes[p])
            for g in sorted(groups)
            for p in sorted(groups[g].processes)
        ]

    # -- starting ------------------------------------------------------------------

    def startProcess(self, name: Any, wait: Any = True) -> bool | Deferred | list:
        """Start a process (name, group:name, or group:* for a whole group); with wait,
        answer once it is RUNNING."""
        self._check_running()
        group, process = self._resolve(name)
        if process is None:
            return self.startProcessGroup(group.name, wait)
        try:
            resolve_command(process.config.command, self.supervisor.search_path(process.config))
        except SpawnError as error:
            text = str(error)
            missing = text.startswith("can't find command")
            code = FaultCode.NO_FILE if missing else FaultCode.NOT_EXECUTABLE
            raise RPCError(code, text) from None
        if process.state in RUNNING_STATES:
            raise RPCError(FaultCode.ALREADY_STARTED, name)
        if process.state is ProcessState.UNKNOWN:
            raise RPCError(FaultCode.FAILED, f"{name} is in an unknown process state")
        if self.supervisor.dependencies.unmet(process):  # ours: depends_on
            from .dependency_start import start_after_dependencies  # loaded by depends_on only

            return start_after_dependencies(self.supervisor, process, name, wait, self._started)
        process.spawn()
        return self._started(process, name, wait)

    def _started(self, process: Process, name: str, wait: Any) -> bool | Deferred:
        """The answer to startProcess once ``process`` was spawned."""
        if process.spawnerr:
            raise RPCError(FaultCode.SPAWN_ERROR, name)
        process.check_started()
        if not wait or process.state is ProcessState.RUNNING:
            return True

        def started() -> Any:
            if process.spawnerr:
                raise RPCError(FaultCode.SPAWN_ERROR, name)
            if process.state not in (ProcessState.STARTING, ProcessState.RUNNING):
                raise RPCError(FaultCode.ABNORMAL_TERMINATION, name)
            return True if process.state is ProcessState.RUNNING else PENDING

        started()  # may fail at once (e.g. the process was still STOPPING)
        return wait_for(self.supervisor, process, started)

    def startProcessGroup(self, name: Any, wait: Any = True) -> list | Deferred:
        """Start every process of a group not already running; one result struct each."""
        self._check_running()
        group = self._group(name)
        targets = [p for p in self._by_priority(group) if p.state not in RUNNING_STATES]
        targets = self.supervisor.dependencies.in_start_order(targets)
        return gather(
            self.supervisor.loop, targets, lambda p: self.startProcess(self._namespec(p), wait)
        )

    def startAllProcesses(self, wait: Any = True) -> list | Deferred:
        """Start every process not already running; one result struct each."""
        self._check_running()
        targets = [p for p in self._all_by_priority() if p.state not in RUNNING_STATES]
        targets = self.supervisor.dependencies.in_start_order(targets)
        return gather(
            self.supervisor.loop, targets, lambda p: self.startProcess(self._namespec(p), wait)
        )

    # -- stopping ------------------------------------------------------------------

    def stopProcess(self, name: Any, wait: Any = True) -> bool | Deferred | list:
        """Stop a process (or group:*); with wait, answer once it has stopped."""
        self._check_running()
        group, process = self._resolve(name)
        if process is None:
            return self.stopProcessGroup(group.name, wait)
        if self.supervisor.dependencies.cancel(process, "stopped while waiting"):
            return True  # ours: a start that waited for its dependencies is called off
        if process.state not in RUNNING_STATES:
            raise RPCError(FaultCode.NOT_RUNNING, name)
        message = process.stop()
        if message is not None:
            raise RPCError(FaultCode.FAILED, message)
        if not wait or process.state in STOPPED_STATES:
            return True
        return wait_for(
            self.supervisor,
            process,
            lambda: True if process.state in STOPPED_STATES else PENDING,
        )

    def stopProcessGroup(self, name: Any, wait: Any = True) -> list | Deferred:
        """Stop every running process of a group; one result struct each."""
        self._check_running()
        group = self._group(name)
        targets = [p for p in self._by_priority(group) if p.state in RUNNING_STATES]
        return gather(
            self.supervisor.loop, targets, lambda p: self.stopProcess(self._namespec(p), wait)
        )

    def stopAllProcesses(self, wait: Any = True) -> list | Deferred:
        """Stop every running process; one result struct each."""
        self._check_running()
        targets = [p for p in self._all_by_priority() if p.state in RUNNING_STATES]
        return gather(
            self.supervisor.loop, targets, lambda p: self.stopProcess(self._namespec(p), wait)
        )

    # -- signals -------------------------------------------------------------------

    def signalProcess(self, name: Any, signal: Any) -> bool | list:
        """Send a signal (name like 'HUP' or number) to a process, or to group:*."""
        self._check_running()
        group, process = self._resolve(name)
        if process is None:
            return self.signalProcessGroup(group.name, signal)
        try:
            sig = datatypes.signal_number(signal)
        except (ValueError, AttributeError):
            raise RPCError(FaultCode.BAD_SIGNAL, signal) from None
        if process.state not in SIGNALLABLE_STATES:
            raise RPCError(FaultCode.NOT_RUNNING, name)
        message = process.signal(sig)
        if message is not None:
            raise RPCError(FaultCode.FAILED, message)
        return True

    def _signal_all(self, processes: list[Process], signal: Any) -> list:
        targets = [p for p in processes if p.state in SIGNALLABLE_STATES]
        results = gather(
            self.supervisor.loop, targets, lambda p: self.signalProcess(self._namespec(p), signal)
        )
        assert isinstance(results, list)  # signalling never waits
        return results

    def signalProcessGroup(self, name: Any, signal: Any) -> list:
        """Signal every process of a group that can be signalled; one result struct each."""
        group = self.supervisor.groups.get(name) if isinstance(name, str) else None
        self._check_running()
        if group is None:
            raise RPCError(FaultCode.BAD_NAME, name)
        return self._signal_all(self._by_priority(group), signal)

    def signalAllProcesses(self, signal: Any) -> list:
        """Signal every process that can be signalled; one result struct each."""
        self._check_running()
        return self._signal_all(self._all_by_priority(), signal)

    # -- stdin and events ------------------------------------------------------------

    def sendProcessStdin(self, name: Any, chars: Any) -> bool:
        """Write chars (UTF-8 encoded) to the process's stdin."""
        self._check_running()
        if not isinstance(chars, (str, bytes)):
            raise RPCError(FaultCode.INCORRECT_PARAMETERS, chars)
        data = chars.encode("utf-8") if isinstance(chars, str) else chars
        process = self._process(name)
        if not process.pid or process.killing:
            raise RPCError(FaultCode.NOT_RUNNING, name)
        try:
            self.supervisor.write_stdin(process, data)
        except BrokenPipeError:
            raise RPCError(FaultCode.NO_FILE, name) from None
        return True

    def sendRemoteCommEvent(self, type: Any, data: Any) -> bool:
        """Publish a REMOTE_COMMUNICATION event to event listeners."""
        self.supervisor.publish(RemoteCommunicationEvent(str(type), str(data)))
        return True

    # -- process logs ------------------------------------------------------------------

    def _logfile(self, name: Any, channel: str) -> tuple[str | None, str | None]:
        """(the log's path, the file to read for it or None when there is none).

        An AUTO log not created yet reads as /dev/null: supervisord creates AUTO logs
        empty at start-up, ours come with the first output (README: deliberate
        differences), and an empty file gives the same answers to every read and tail.
        """
        logs = self.supervisor.logs_of(self._process(name))
        path = logs.stdout_path if channel == "stdout" else logs.stderr_path
        if path is not None and os.path.exists(path):
            return path, path
        return path, os.devnull if logs.not_created_yet(channel) else None

    def _read_process_log(self, name: Any, offset: Any, length: Any, channel: str) -> str:
        path, readable = self._logfile(name, channel)
        if readable is None:
            raise RPCError(FaultCode.NO_FILE, path)
        return self._read(readable, offset, length)

    def readProcessStdoutLog(self, name: Any, offset: Any, length: Any) -> str:
        """length bytes of a process's stdout log from offset."""
        self._check_running()
        return self._read_process_log(name, offset, length, "stdout")

    def readProcessStderrLog(self, name: Any, offset: Any, length: Any) -> str:
        """length bytes of a process's stderr log from offset."""
        self._check_running()
        return self._read_process_log(name, offset, length, "stderr")

    def _tail_process_log(self, name: Any, offset: Any, length: Any, channel: str) -> list:
        _, readable = self._logfile(name, channel)
        if readable is None:
            return ["", 0, False]
        from ..logs.tail import tail_file  # at the first tail, not every daemon's start

        data, new_offset, overflow = tail_file(readable, _int(offset), _int(length))
        return [_text(data), new_offset, overflow]

    def tailProcessStdoutLog(self, name: Any, offset: Any, length: Any) -> list:
        """[text, new offset, overflow]: up to length bytes at the end of the stdout log
        for a reader that had reached offset."""
        self._check_running()
        return self._tail_process_log(name, offset, length, "stdout")

    def tailProcessStderrLog(self, name: Any, offset: Any, length: Any) -> list:
        """Like tailProcessStdoutLog, for the stderr log."""
        self._check_running()
        return self._tail_process_log(name, offset, length, "stderr")

    def clearProcessLogs(self, name: Any) -> bool:
        """Empty a process's stdout and stderr logs."""
        self._check_running()
        process = self._process(name)
        try:
            self.supervisor.logs_of(process).clear()
        except OSError:
            raise RPCError(FaultCode.FAILED, name) from None
        return True

    def clearAllProcessLogs(self) -> list:
        """Empty every process's logs; one result struct each."""
        self._check_running()
        results = gather(
            self.supervisor.loop,
            self._all_by_priority(),
            lambda p: self.clearProcessLogs(self._namespec(p)),
        )
        assert isinstance(results, list)
        return results

    # -- registration --------------------------------------------------------------

    def register(self, registry: Registry) -> None:
        signatures: dict[str, tuple[str, ...]] = {
            "getAPIVersion": ("string",),
            "getSupervisorVersion": ("string",),
            "getIdentification": ("string",),
            "getState": ("struct",),
            "getPID": ("int",),
            "readLog": ("string", "int", "int"),
            "clearLog": ("boolean",),
            "shutdown": ("boolean",),
            "restart": ("boolean",),
            "reloadConfig": ("array",),
            "addProcessGroup": ("boolean", "string"),
            "removeProcessGroup": ("boolean", "string"),
            "getAllConfigInfo": ("array",),
            "getProcessInfo": ("struct", "string"),
            "getAllProcessInfo": ("array",),
            "startProcess": ("boolean", "string", "boolean"),
            "startProcessGroup": ("array", "string", "boolean"),
            "startAllProcesses": ("array", "boolean"),
            "stopProcess": ("boolean", "string", "boolean"),
            "stopProcessGroup": ("array", "string", "boolean"),
            "stopAllProcesses": ("array", "boolean"),
            "signalProcess": ("boolean", "string", "string"),
            "signalProcessGroup": ("array", "string", "string"),
            "signalAllProcesses": ("array", "string"),
            "sendProcessStdin": ("boolean", "string", "string"),
            "sendRemoteCommEvent": ("boolean", "string", "string"),
            "readProcessStdoutLog": ("string", "string", "int", "int"),
            "readProcessStderrLog": ("string", "string", "int", "int"),
            "tailProcessStdoutLog": ("array", "string", "int", "int"),
            "tailProcessStderrLog": ("array", "string", "int", "int"),
            "clearProcessLogs": ("boolean", "string"),
            "clearAllProcessLogs": ("array",),
        }
        if self.supervisor.config.skip_broken:
            # Only then: a stock config's method list and answers stay exactly stock's.
            signatures["getConfigNotices"] = ("array",)
        for name, signature in signatures.items():
            registry.add(f"supervisor.{name}", getattr(self, name), signature)
        # Older names supervisord still answers to.
        aliases = {
            "getVersion": "getAPIVersion",
            "readMainLog": "readLog",
            "readProcessLog": "readProcessStdoutLog",
            "tailProcessLog": "tailProcessStdoutLog",
            "clearProcessLog": "clearProcessLogs",
        }
        for alias, target in aliases.items():
            registry.add(f"supervisor.{alias}", getattr(self, target), signatures[target])
