"""The text supervisorctl prints for RPC results: pure functions, byte-for-byte stock 4.3.0.

These lines are behaviour (people grep them in scripts), so their layout is fixed:
``app                              RUNNING   pid 123, uptime 0:00:05``, ``app: stopped``,
``app: ERROR (not running)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from supervisor_runtime.rpc.faults import FaultCode

Info = Mapping[str, Any]

# Status lines pad names to at least this width (plus 3 spaces), states to 10.
MIN_NAME_WIDTH = 30


def make_namespec(group: str, name: str | None) -> str:
    """``group:name``, or just ``name`` for a process alone in a group of its own name.

    A missing name prints as ``None`` (``clear web:*`` says ``web:None: ERROR ...`` in
    stock, and we keep its output).
    """
    if group == name:
        return name
    return f"{group}:{name}"


def split_namespec(namespec: str) -> tuple[str, str | None]:
    """``group:name`` -> (group, name); ``group:`` and ``group:*`` -> (group, None);
    a bare ``name`` -> (name, name)."""
    group, sep, name = namespec.partition(":")
    if not sep:
        return namespec, namespec
    if not name or name == "*":
        return group, None
    return group, name


def status_lines(infos: Sequence[Info]) -> list[str]:
    """One line per process: name column (>= 33 wide), state column (10 wide), description."""
    names = [make_namespec(info["group"], info["name"]) for info in infos]
    width = max([MIN_NAME_WIDTH, *(len(n) for n in names)]) + 3
    return [
        f"{name:<{width}}{info['statename']:<10}{info['description']}"
        for name, info in zip(names, infos, strict=True)
    ]


def _error(name: str, what: str) -> str:
    return f"{name}: ERROR ({what})"


_START_ERRORS = {
    FaultCode.BAD_NAME: "no such process",
    FaultCode.NO_FILE: "no such file",
    FaultCode.NOT_EXECUTABLE: "file is not executable",
    FaultCode.ALREADY_STARTED: "already started",
    FaultCode.SPAWN_ERROR: "spawn error",
    FaultCode.ABNORMAL_TERMINATION: "abnormal termination",
}

_SIGNAL_ERRORS = {
    FaultCode.BAD_NAME: "no such process",
    FaultCode.BAD_SIGNAL: "bad signal name",
    FaultCode.NOT_RUNNING: "not running",
}

_CLEAR_ERRORS = {
    FaultCode.BAD_NAME: "no such process",
    FaultCode.FAILED: "failed",
}


def _unknown_code(code: int, name: str) -> ValueError:
    return ValueError(f"Unknown result code {code} for {name}")


def start_result(result: Info) -> str:
    """A line for one startProcess outcome (a multicall-style result dict)."""
    name = make_namespec(result["group"], result["name"])
    code = result["status"]
    if code == FaultCode.SUCCESS:
        return f"{name}: started"
    if code in _START_ERRORS:
        return _error(name, _START_ERRORS[code])
    raise _unknown_code(code, name)


def signal_result(result: Info, success: str = "signalled") -> str:
    """A line for one signal/stop outcome; FAILED shows the server's own description."""
    name = make_namespec(result["group"], result["name"])
    code = result["status"]
    if code == FaultCode.SUCCESS:
        return f"{name}: {success}"
    if code in _SIGNAL_ERRORS:
        return _error(name, _SIGNAL_ERRORS[code])
    if code == FaultCode.FAILED:
        return str(result["description"])
    raise _unknown_code(code, name)


def stop_result(result: Info) -> str:
    return signal_result(result, success="stopped")


def clear_result(result: Info) -> str:
    name = make_namespec(result["group"], result["name"])
    code = result["status"]
    if code == FaultCode.SUCCESS:
        return f"{name}: cleared"
    if code in _CLEAR_ERRORS:
        return _error(name, _CLEAR_ERRORS[code])
    raise _unknown_code(code, name)


def fault_result(code: int, group: str, name: str | None, description: str) -> dict[str, Any]:
    """A fault raised for one name, shaped like the entries of the *All* calls' results."""
    return {"status": code, "group": group, "name": name, "description": description}


def config_info_line(info: Info) -> str:
    """One ``avail`` line: name (32), in use/avail (9), auto/manual (9), priorities."""
    name = make_namespec(info["group"], info["name"])
    inuse = "in use" if info["inuse"] else "avail"
    autostart = "auto" if info["autostart"] else "manual"
    priority = f"{info['group_prio']}:{info['process_prio']}"
    return f"{name:<32} {inuse:<9} {autostart:<9} {priority}"


def change_lines(added: Iterable[str], changed: Iterable[str], removed: Iterable[str]) -> list[str]:
    """``reread`` output: each group and what happened to it, sorted by name."""
    kinds: dict[str, str] = {}
    for names, kind in ((added, "available"), (changed, "changed"), (removed, "disappeared")):
        for name in names:
            kinds[name] = kind
    if not kinds:
        return ["No config updates to processes"]
    return [f"{name}: {kinds[name]}" for name in sorted(kinds)]
