"""Ours, opt-in: ``depends_on`` and ``dependency_stop`` of a [program:x] section.

``depends_on = redis, data:postgres`` names what must be ready before the program starts,
the way supervisorctl names things:

- ``name`` (or ``name:*``) is a whole group: a [program:x] is a group of its own name
  (all of its ``numprocs`` copies), a [group:x] is all of its programs;
- ``group:process`` is one process of a group (e.g. ``data:postgres`` for the program
  postgres of [group:data], or ``redis:redis_01`` for one copy of a numprocs program).

Names must exist in the same configuration and the graph must have no cycle; both are
checked once every group is read (``check_graph``). ``dependency_stop`` says what happens
to the program when something it depends on leaves RUNNING: ``leave`` it (the default),
``stop`` it, or ``restart`` it (stop it, start it again once the dependency is ready).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from supervisor_runtime.config import datatypes as dt
from supervisor_runtime.config.model import AnyGroupConfig, ProcessConfig
from supervisor_runtime.config.reader import SectionReader

DEPENDENCY_STOP = ("leave", "stop", "restart")
DEPENDENCY_KEYS = frozenset({"depends_on", "dependency_stop"})
Key = tuple[str, str]  # (group name, process name)
# The reader of the section a process came from, for errors that point at it.
SectionLocator = Callable[[ProcessConfig], SectionReader]


def read_depends_on(reader: SectionReader, names: dict[str, object]) -> tuple[str, ...]:
    """The namespecs of ``depends_on``, as written (checked against the groups later)."""
    text = reader.text("depends_on", None, names)
    if text is None:
        return ()
    specs = [spec for spec in dt.list_of_strings(text) if spec]
    for spec in specs:
        group, _, process = spec.partition(":")
        if not group or " " in spec or ":" in process or ("*" in process and process != "*"):
            raise reader.error("depends_on", f"{spec!r} is not a name or group:name")
    if not specs:
        raise reader.error("depends_on", "expected one or more names, comma separated")
    return tuple(dict.fromkeys(specs))


def read_dependency_stop(reader: SectionReader, names: dict[str, object]) -> str:
    value = reader.text("dependency_stop", "leave", names).strip().lower()
    if value not in DEPENDENCY_STOP:
        raise reader.error("dependency_stop", "expected leave, stop or restart")
    return value


def resolve(spec: str, groups: Mapping[str, Iterable[str]]) -> list[Key] | None:
    """The processes ``spec`` names among ``groups`` (group name -> its process names),
    or None when it names nothing there."""
    group, sep, process = spec.partition(":")
    members = groups.get(group)
    if members is None:
        return None
    if not sep or process == "*":
        return [(group, name) for name in members]
    return [(group, process)] if process in members else None


def check_graph(groups: Iterable[AnyGroupConfig], section_of: SectionLocator) -> None:
    """Every ``depends_on`` name exists and the graph has no cycle; else a ConfigError
    naming the file, section, key, value and the unknown name or the cycle."""
    groups = list(groups)
    if not any(process.depends_on for group in groups for process in group.processes):
        return
    members = {g.name: [p.name for p in g.processes] for g in groups}
    edges: dict[Key, list[Key]] = {}
    configs: dict[Key, ProcessConfig] = {}
    for group in groups:
        for process in group.processes:
            key = (group.name, process.name)
            configs[key] = process
            edges[key] = []
            for spec in process.depends_on:
                found = resolve(spec, members)
                if found is None:
                    raise section_of(process).error(
                        "depends_on", f"{spec!r} names no program, group or group:process"
                    )
                edges[key].extend(found)
    cycle = _find_cycle(edges)
    if cycle is not None:
        path = " -> ".join(_namespec(key) for key in cycle)
        raise section_of(configs[cycle[0]]).error("depends_on", f"dependency cycle: {path}")


def _find_cycle(edges: Mapping[Key, list[Key]]) -> list[Key] | None:
    """A cycle of ``edges`` as a path that ends where it started, or None."""
    done: set[Key] = set()
    for start in edges:
        if start in done:
            continue
        path: list[Key] = []
        on_path: set[Key] = set()
        stack: list[tuple[Key, int]] = [(start, 0)]
        while stack:
            node, index = stack.pop()
            if index == 0:
                path.append(node)
                on_path.add(node)
            targets = edges.get(node, [])
            if index < len(targets):
                stack.append((node, index + 1))
                target = targets[index]
                if target in on_path:
                    return path[path.index(target) :] + [target]
                if target not in done:
                    stack.append((target, 0))
                continue
            done.add(node)
            on_path.discard(node)
            path.pop()
    return None


def _namespec(key: Key) -> str:
    group, name = key
    return name if group == name else f"{group}:{name}"
