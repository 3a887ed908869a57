"""The restart history (history.py) on a Supervisor driven through a fake OS and clock:
reasons, causes that carry over a restart, the request in progress, the size bound, and
restart_reason.record_transition, the entry point the liveness checks call; the output kept
with an unexpected exit (log_tail)."""

from __future__ import annotations

import signal

from supervisor_runtime.config.model import AutoRestart, SupervisordConfig
from supervisor_runtime.history import Requester, Transition
from supervisor_runtime.restart_reason import record_transition
from supervisor_runtime.supervisor import Supervisor
from tests.unit.test_process import FakeHost, make
from tests.unit.test_shutdown import FakeClock, FakeLog, FakeOS, RecordingLoop, exited, group


def daemon(
    size: int = 20, log_lines: int = 20, **program: object
) -> tuple[Supervisor, FakeOS, RecordingLoop]:
    """history on, one program "app" (no log file, ``program`` overrides) on the fake OS."""
    clock, fake_os = FakeClock(), FakeOS()
    loop = RecordingLoop(clock=clock)
    config = SupervisordConfig(config_path="/fake/supervisord.conf", here="/fake")
    supervisor = Supervisor(
        config._replace(
            groups=(group("app", 1, **program),), history_size=size, history_log_lines=log_lines
        ),
        FakeLog(),  # type: ignore[arg-type]
        loop,
        wallclock=clock,
        os_layer=fake_os,
    )
    supervisor.start()
    loop.run_once(max_wait=0)
    return supervisor, fake_os, loop


def entries(supervisor: Supervisor) -> list[tuple[str, str, str]]:
    assert supervisor.history is not None
    return [
        (t.from_state, t.to_state, t.reason) for t in supervisor.history.transitions("app", "app")
    ]


def test_a_health_restart_carries_its_reason_until_running() -> None:
    supervisor, fake_os, loop = daemon()
    process = supervisor.groups["app"].processes["app"]
    record_transition(process, "liveness: GET /health answered 500 three times")
    process.stop()
    fake_os.exit(process.pid, signal.SIGTERM)  # killed by the signal
    supervisor.reap()
    process.spawn()
    loop.run_once(max_wait=0)
    assert entries(supervisor) == [
        ("STOPPED", "STARTING", "autostart"),
        ("STARTING", "RUNNING", "started"),
        ("RUNNING", "RUNNING", "health"),
        ("RUNNING", "STOPPING", "health"),
        ("STOPPING", "STOPPED", "health"),
        ("STOPPED", "STARTING", "health"),
        ("STARTING", "RUNNING", "started"),
    ]
    assert supervisor.history is not None
    stopped = supervisor.history.transitions("app", "app")[4]
    assert stopped.signal == signal.SIGTERM
    assert stopped.description == (
        "terminated by SIGTERM; liveness: GET /health answered 500 three times"
    )
    # RUNNING again: the cause is spent, a crash is its own reason.
    fake_os.exit(process.pid, exited(3))
    supervisor.reap()
    assert entries(supervisor)[-2:] == [
        ("RUNNING", "EXITED", "exit"),
        ("EXITED", "STARTING", "autorestart"),
    ]


def test_a_request_names_who_asked_and_asks_the_kernel_once() -> None:
    supervisor, _, _ = daemon()
    book = supervisor.history
    assert book is not None
    process = supervisor.groups["app"].processes["app"]
    asked: list[int] = []

    def requester() -> Requester:
        asked.append(1)
        return Requester("unix", uid=1000, pid=4242)

    book.begin_request(requester)
    book.request_method("supervisor.stopProcess")
    process.stop()
    book.end_request()
    last = book.transitions("app", "app")[-1]
    assert (last.to_state, last.reason, last.requester) == ("STOPPING", "request", requester())
    assert last.description.startswith("stopProcess by uid 1000 (")
    assert last.description.endswith("), pid 4242 on the unix socket")
    assert len(asked) == 2  # once for the request's transitions, once above


def test_the_history_is_bounded() -> None:
    supervisor, fake_os, _ = daemon(size=3)
    process = supervisor.groups["app"].processes["app"]
    for _ in range(10):
        fake_os.exit(process.pid, exited(1))
        supervisor.reap()
    assert len(entries(supervisor)) == 3


def test_without_history_record_transition_does_nothing() -> None:
    host = FakeHost()  # no history attribute at all
    record_transition(make(host), "whatever")
    supervisor = Supervisor(
        SupervisordConfig(config_path="/x", here="/"),
        FakeLog(),  # type: ignore[arg-type]
        RecordingLoop(clock=FakeClock()),
    )
    assert supervisor.history is None


# ----------------------------------------------------------------- crash logs (log_tail)


def crash_daemon(**program: object) -> tuple[Supervisor, FakeOS, RecordingLoop]:
    """Two lines kept, autorestart off."""
    return daemon(log_lines=2, autorestart=AutoRestart.NEVER, **program)


def last_entry(supervisor: Supervisor) -> Transition:
    assert supervisor.history is not None
    return supervisor.history.transitions("app", "app")[-1]


def test_an_unexpected_exit_keeps_the_last_lines_through_the_output_path() -> None:
    supervisor, fake_os, loop = crash_daemon()
    process = supervisor.groups["app"].processes["app"]
    logs = supervisor.logs_of(process)
    logs.feed("stdout", b"one\ntwo\n")
    logs.feed("stderr", memoryview(b"three\n"))
    fake_os.exit(process.pid, exited(3))
    supervisor.reap()
    entry = last_entry(supervisor)
    assert (entry.to_state, entry.log_tail) == ("EXITED", "two\nthree")
    assert entry.as_struct()["log_tail"] == "two\nthree"
    # A new start begins an empty tail; an expected exit keeps nothing.
    process.spawn()
    loop.run_once(max_wait=0)
    logs.feed("stdout", b"all good\n")
    fake_os.exit(process.pid, exited(0))
    supervisor.reap()
    entry = last_entry(supervisor)
    assert (entry.to_state, entry.log_tail) == ("EXITED", None)
    assert "log_tail" not in entry.as_struct()
    # A stop (a signal supervisord sent) is no crash either.
    process.spawn()
    loop.run_once(max_wait=0)
    process.stop()
    fake_os.exit(process.pid, signal.SIGTERM)
    supervisor.reap()
    assert (last_entry(supervisor).to_state, last_entry(supervisor).log_tail) == ("STOPPED", None)


def test_failed_starts_and_fatal_keep_the_last_attempts_output() -> None:
    supervisor, fake_os, loop = crash_daemon(startsecs=5, startretries=1)
    process = supervisor.groups["app"].processes["app"]
    supervisor.logs_of(process).feed("stderr", b"cannot bind :80\n")
    fake_os.exit(process.pid, exited(1))  # within startsecs: BACKOFF
    supervisor.reap()
    entry = last_entry(supervisor)
    assert (entry.to_state, entry.log_tail) == ("BACKOFF", "cannot bind :80")
    process.spawn()  # the retry (the backoff timer's job)
    fake_os.exit(process.pid, exited(1))  # silent this time; no retry left
    supervisor.reap()
    book = supervisor.history
    assert book is not None
    backoff, fatal = book.transitions("app", "app")[-2:]
    assert (backoff.to_state, backoff.log_tail) == ("BACKOFF", "")
    assert (fatal.to_state, fatal.log_tail) == ("FATAL", "")


def test_history_log_lines_zero_keeps_no_tail() -> None:
    supervisor, _, _ = daemon()  # the default: 20 lines
    process = supervisor.groups["app"].processes["app"]
    assert supervisor.logs_of(process).tail is not None
    quiet, _, _ = daemon(log_lines=0)
    assert quiet.logs_of(quiet.groups["app"].processes["app"]).tail is None
    # Without the history at all: no tail, and no counting either (metrics off).
    clock = FakeClock()
    plain = Supervisor(
        SupervisordConfig(config_path="/x", here="/", groups=(group("app", 1),)),
        FakeLog(),  # type: ignore[arg-type]
        RecordingLoop(clock=clock),
        wallclock=clock,
        os_layer=FakeOS(),
    )
    plain.start()
    logs = plain.logs_of(plain.groups["app"].processes["app"])
    assert (plain.history, logs.tail, logs.written) == (None, None, None)
