"""The live upgrade's hand-over, without an exec: a document written into a real memfd and
read back, and processes saved from one Supervisor and restored into a fresh one (on the
fake OS layer and clock of test_shutdown), including a field added to the table."""

from __future__ import annotations

import os

import pytest

from supervisor_runtime.config.model import GroupConfig, ProcessConfig, StreamConfig
from supervisor_runtime.states import ProcessState as S
from supervisor_runtime.upgrade import HANDOVER_ENV, fields
from supervisor_runtime.upgrade.handover import (
    HandoverError,
    take_from_environment,
    write_document,
)
from tests.unit.test_shutdown import Daemon

NO_LOG = StreamConfig(logfile=None)


def _groups() -> tuple[GroupConfig, ...]:
    def process(name: str, startsecs: int) -> ProcessConfig:
        return ProcessConfig(
            name=name,
            program_name=name,
            group_name=name,
            command=f"/bin/{name}",
            startsecs=startsecs,
            stdout=NO_LOG,
            stderr=NO_LOG,
        )

    return tuple(
        GroupConfig(name, 999, (process(name, startsecs),))
        for name, startsecs in (("slow", 5), ("quick", 0))
    )


def test_a_document_travels_through_a_memfd_named_in_the_environment() -> None:
    fd = write_document({"format": 1, "processes": {"a": {"b": {"pid": 7}}}})
    environ = {HANDOVER_ENV: str(fd), "OTHER": "x"}
    assert take_from_environment(environ) == {"format": 1, "processes": {"a": {"b": {"pid": 7}}}}
    assert environ == {"OTHER": "x"}  # children never see it
    with pytest.raises(OSError):
        os.fstat(fd)  # closed once read


def test_an_unknown_format_is_refused_by_name() -> None:
    fd = write_document({"format": 99})
    with pytest.raises(HandoverError, match=r"hand-over format 99 is not one this release"):
        take_from_environment({HANDOVER_ENV: str(fd)})


def _restored(old: Daemon) -> Daemon:
    """A fresh daemon on the same config and clock, with ``old``'s processes restored."""
    saved = {
        name: {p.name: fields.save_process(p, old.supervisor) for p in g.processes.values()}
        for name, g in old.supervisor.groups.items()
    }
    new = Daemon(_groups())
    new.clock.now = old.clock.now
    new.os = old.os
    new.supervisor._os = old.os

    def adopt() -> None:
        for name, processes in saved.items():
            for process_name, state in processes.items():
                process = new.supervisor.groups[name].processes[process_name]
                fields.restore_process(process, new.supervisor, state)
                process.resume()

    new.supervisor.start(adopt=adopt)
    return new


def test_states_pids_and_timers_carry_over() -> None:
    old = Daemon(_groups())
    old.start()
    slow = old.supervisor.groups["slow"].processes["slow"]
    quick = old.supervisor.groups["quick"].processes["quick"]
    assert (slow.state, quick.state) == (S.STARTING, S.RUNNING)
    old.advance(2)
    new = _restored(old)
    new.turn()
    after = {name: g.processes[name] for name, g in new.supervisor.groups.items()}
    assert (after["slow"].state, after["slow"].pid, after["slow"].laststart) == (
        S.STARTING,
        slow.pid,
        slow.laststart,
    )
    assert (after["quick"].state, after["quick"].pid) == (S.RUNNING, quick.pid)
    assert len(new.os.commands) == 2  # nothing spawned again
    # The startsecs timer was re-armed at the old deadline: 3 s more, not 5.
    new.advance(3.1)
    assert after["slow"].state is S.RUNNING
    # The new daemon reaps the adopted child.
    new.os.exit(quick.pid, 1 << 8)
    new.supervisor.reap()
    assert after["quick"].state in (S.EXITED, S.STARTING)


def test_a_field_added_to_the_table_is_saved_and_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    restored: list[tuple[str, object]] = []
    extra = fields.ProcessField(
        "extra",
        lambda process, daemon: [f"started {process.name}"],
        lambda process, daemon, value: restored.append((process.name, value)),
    )
    monkeypatch.setattr(fields, "PROCESS_FIELDS", (*fields.PROCESS_FIELDS, extra))
    old = Daemon(_groups())
    old.start()
    _restored(old)
    assert sorted(restored) == [("quick", ["started quick"]), ("slow", ["started slow"])]
    # A document from a daemon that did not know the field: the process keeps its default.
    restored.clear()
    process = old.supervisor.groups["slow"].processes["slow"]
    saved = fields.save_process(process, old.supervisor)
    del saved["extra"]
    fields.restore_process(process, old.supervisor, saved)
    assert restored == []
