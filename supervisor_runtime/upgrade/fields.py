"""What a live upgrade hands over of each process: one table, one row per field.

To carry a new piece of per-process state across an upgrade (a readiness result, the
restart history...), add one ``ProcessField`` to ``PROCESS_FIELDS``: a name, how to save
it (to JSON-able values) and how to restore it. Nothing else changes: the document's
format stays the same, an older daemon's document simply lacks the key (``restore`` is
not called; the process keeps its fresh default) and an older reader ignores it.

Rows are restored in table order: plain attributes first, then the logs (their AUTO file
names), then the child (its pipes go to the logs), then the listener protocol.
"""

from __future__ import annotations

from collections.abc import Callable

from supervisor_runtime.static_types import TYPE_CHECKING, NamedTuple

from ..events import Event
from ..osapi import ChildPipes
from ..states import EventListenerState, ProcessState
from .handover import decode_bytes, encode_bytes

if TYPE_CHECKING:
    from typing import Any

    from ..process import Process
    from ..supervisor import Supervisor
    from .handover import Json


class ProcessField(NamedTuple):
    name: str
    save: Callable[[Process, Supervisor], Json]
    restore: Callable[[Process, Supervisor, Json], None]


def _attribute(name: str, decode: Callable[[Any], Any] = lambda value: value) -> ProcessField:
    """A plain attribute of Process, saved as it is (an IntEnum is saved as its number)."""

    def save(process: Process, daemon: Supervisor) -> Json:
        return getattr(process, name)

    def restore(process: Process, daemon: Supervisor, value: Json) -> None:
        setattr(process, name, decode(value))

    return ProcessField(name, save, restore)


# -- the logs: AUTO names, which files exist, bytes held back -------------------------


def _save_logs(process: Process, daemon: Supervisor) -> Json:
    return daemon.logs_of(process).handover(encode_bytes)


def _restore_logs(process: Process, daemon: Supervisor, value: Json) -> None:
    daemon.logs_of(process).take_over(value, decode_bytes)


# -- the child: its pipes (inherited descriptors) and stdin not written yet -----------


def _save_child(process: Process, daemon: Supervisor) -> Json:
    child = daemon.running_child(process)
    if child is None:
        return None
    pipes = child.output.open_pipes()
    return {
        "pid": child.spawned.pid,
        "stdin": pipes.stdin,
        "stdout": pipes.stdout,
        "stderr": pipes.stderr,
        "stdin_pending": encode_bytes(child.output.pending_stdin()),
    }


def _restore_child(process: Process, daemon: Supervisor, value: Json) -> None:
    if value is None:
        return
    pipes = ChildPipes(value["stdin"], value["stdout"], value["stderr"])
    daemon.adopt(process, value["pid"], pipes)
    pending = decode_bytes(value["stdin_pending"])
    if pending:
        try:
            daemon.write_stdin(process, pending)
        except BrokenPipeError:
            pass  # the child closed its stdin meanwhile: as it would have been dropped


def child_descriptors(value: Json) -> list[int]:
    """The inherited descriptors a saved child holds (to mark inheritable, or to close)."""
    if not value:
        return []
    return [value[key] for key in ("stdin", "stdout", "stderr") if value.get(key) is not None]


# -- an event listener: its protocol state and the event it is busy with ------------


class FrozenEvent(Event):
    """An event handed over: its name, numbers and payload, as a listener receives them."""

    def __init__(self, name: str, payload: str) -> None:
        self.name = name  # type: ignore[misc]  # per instance here, per class elsewhere
        self._payload = payload

    def payload(self) -> str:
        return self._payload


def freeze_event(event: Event) -> Json:
    return {
        "name": event.name,
        "serial": event.serial,
        "pool_serials": dict(event.pool_serials),
        "payload": event.payload(),
    }


def thaw_event(value: Json) -> Event:
    event = FrozenEvent(value["name"], value["payload"])
    event.serial = value["serial"]
    event.pool_serials.update(value["pool_serials"])
    return event


def _save_listener(process: Process, daemon: Supervisor) -> Json:
    pool = daemon.pools.get(process.group_name)
    channel = pool.channel(process) if pool is not None else None
    if channel is None:
        return None
    return {
        "state": channel.state.name,
        "event": freeze_event(channel.event) if channel.event is not None else None,
        "buffer": encode_bytes(channel.buffer),
        "result_len": channel.result_len,
        "result": encode_bytes(channel.result),
    }


def _restore_listener(process: Process, daemon: Supervisor, value: Json) -> None:
    pool = daemon.pools.get(process.group_name)
    if value is None or pool is None:
        return
    channel = pool.new_channel(process)
    channel.state = EventListenerState[value["state"]]
    channel.event = thaw_event(value["event"]) if value["event"] is not None else None
    channel.buffer = decode_bytes(value["buffer"])
    channel.result_len = value["result_len"]
    channel.result = decode_bytes(value["result"])


# -- ours, opt-in: readiness and liveness (health.py), the restart history (history.py)
# with the output kept for crashes (output_tail.py) --


def _save_health(process: Process, daemon: Supervisor) -> Json:
    health = daemon.health.of(process)
    if health is None:
        return None
    return {"ready": health.ready, "failures": health.failures, "detail": health.last_detail}


def _restore_health(process: Process, daemon: Supervisor, value: Json) -> None:
    """The findings so far, and the checks running again where the state runs them."""
    health = daemon.health.of(process)
    if value is None or health is None:
        return
    health.ready, health.failures, health.last_detail = (
        value["ready"],
        value["failures"],
        value["detail"],
    )
    running = process.state is ProcessState.RUNNING
    if (
        health.readiness is not None
        and not health.ready
        and process.state in (ProcessState.STARTING, ProcessState.RUNNING)
    ):
        health.readiness.start()
    if health.liveness is not None and running:
        health.liveness.start()


def _save_history(process: Process, daemon: Supervisor) -> Json:
    book = daemon.history
    if book is None:
        return None
    saved = []
    for entry in book.transitions(process.group_name, process.name):
        fields = entry._asdict()
        # In its own row (log_tails): a release before it would refuse the unknown key.
        del fields["log_tail"]
        fields["requester"] = entry.requester._asdict() if entry.requester else None
        saved.append(fields)
    return saved


def _restore_history(process: Process, daemon: Supervisor, value: Json) -> None:
    from ..history import Requester, Transition

    book = daemon.history
    if value is None or book is None:
        return
    book.take_over(
        process.group_name,
        process.name,
        [
            Transition(
                **{
                    **entry,
                    "requester": Requester(**entry["requester"]) if entry["requester"] else None,
                }
            )
            for entry in value
        ],
    )


def _save_log_tails(process: Process, daemon: Supervisor) -> Json:
    """The log_tail of each transition (None where it has none), in the history's order."""
    book = daemon.history
    if book is None:
        return None
    tails = [entry.log_tail for entry in book.transitions(process.group_name, process.name)]
    return tails if any(tail is not None for tail in tails) else None


def _restore_log_tails(process: Process, daemon: Supervisor, value: Json) -> None:
    book = daemon.history
    if value is None or book is None:
        return
    entries = book.transitions(process.group_name, process.name)
    if not entries or len(value) < len(entries):
        return  # not the history they were saved with
    # A smaller history_size kept the newest entries: so do the tails.
    tails = value[len(value) - len(entries) :]
    book.take_over(
        process.group_name,
        process.name,
        [entry._replace(log_tail=tail) for entry, tail in zip(entries, tails, strict=True)],
    )


def _save_output_tail(process: Process, daemon: Supervisor) -> Json:
    tail = daemon.logs_of(process).tail
    return tail.handover(encode_bytes) if tail is not None else None


def _restore_output_tail(process: Process, daemon: Supervisor, value: Json) -> None:
    tail = daemon.logs_of(process).tail
    if value is not None and tail is not None:
        tail.take_over(value, decode_bytes)


PROCESS_FIELDS: tuple[ProcessField, ...] = (
    _attribute("state", ProcessState),
    _attribute("pid"),
    _attribute("laststart"),
    _attribute("laststop"),
    _attribute("delay"),
    _attribute("backoff"),
    _attribute("spawnerr"),
    _attribute("exitstatus"),
    _attribute("killing"),
    _attribute("administrative_stop"),
    _attribute("system_stop"),
    ProcessField("logs", _save_logs, _restore_logs),
    ProcessField("child", _save_child, _restore_child),
    ProcessField("listener", _save_listener, _restore_listener),
    ProcessField("health", _save_health, _restore_health),
    ProcessField("history", _save_history, _restore_history),
    ProcessField("log_tails", _save_log_tails, _restore_log_tails),
    ProcessField("output_tail", _save_output_tail, _restore_output_tail),
)


def save_process(process: Process, daemon: Supervisor) -> dict[str, Json]:
    return {field.name: field.save(process, daemon) for field in PROCESS_FIELDS}


def restore_process(process: Process, daemon: Supervisor, saved: dict[str, Json]) -> None:
    for field in PROCESS_FIELDS:
        if field.name in saved:
            field.restore(process, daemon, saved[field.name])
