"""A hand-written listener checks every header token and payload field, under stock
supervisord 4.3.0 and under ours: the same assertions pass for both."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.harness import PY, build_config, program, wait_until

RECORDER = Path(__file__).with_name("recorder_listener.py")
HEADER_ORDER = ["ver", "server", "serial", "pool", "poolserial", "eventname", "len"]

CHATTY = """
import sys, time
sys.stdout.write("plain line\\n")
sys.stdout.write("before<!--XSUPERVISOR:BEGIN-->captured text<!--XSUPERVISOR:END-->after\\n")
sys.stdout.flush()
time.sleep(3600)
"""


def _records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _names(records: list[dict]) -> list[str]:
    return [r["headers"]["eventname"] for r in records]


def _fields(payload: str) -> dict[str, str]:
    first_line = payload.split("\n", 1)[0]
    return dict(token.split(":", 1) for token in first_line.split())


def _config(workdir: Path, listener_args: str = "", events: str = "EVENT") -> str:
    (workdir / "chatty.py").write_text(CHATTY)
    out = workdir / "events.jsonl"
    return build_config(
        workdir,
        {
            "ok": program(f"{PY} -u {workdir / 'chatty.py'}", startsecs=0,
                          stdout_events_enabled=True, stdout_capture_maxbytes="1MB",
                          stdout_logfile=workdir / "ok.log"),
            "crash": program(f"{PY} -c 'raise SystemExit(3)'", startsecs=1, startretries=0,
                             autostart=True),
        },
        extra={
            "eventlistener:rec": {
                "command": f"{PY} -u {RECORDER} {out} {listener_args}",
                "events": events,
                "buffer_size": 100,
                "startsecs": 0,
                "stdout_logfile": workdir / "rec.log",
                "stderr_logfile": workdir / "rec.err",
            }
        },
    )


def test_headers_and_payloads_of_every_event_type(
    impl: str, start_daemon, workdir: Path
) -> None:
    daemon = start_daemon(_config(workdir))
    out = workdir / "events.jsonl"
    wanted = {
        "PROCESS_STATE_STARTING", "PROCESS_STATE_RUNNING", "PROCESS_STATE_BACKOFF",
        "PROCESS_STATE_FATAL", "PROCESS_LOG_STDOUT", "PROCESS_COMMUNICATION_STDOUT",
        "SUPERVISOR_STATE_CHANGE_RUNNING", "TICK_5",
    }
    def logged_text() -> str:
        return "".join(
            r["payload"].split("\n", 1)[1]
            for r in _records(out)
            if r["headers"]["eventname"] == "PROCESS_LOG_STDOUT"
        )

    wait_until(lambda: wanted <= set(_names(_records(out))), 20, f"events {sorted(wanted)}")
    if impl == "ours":
        # stock holds output shorter than the BEGIN token back until more output comes.
        wait_until(lambda: "after\n" in logged_text(), 10, "the output after the capture")
    daemon.stop()
    records = _records(out)

    serials = []
    for record in records:
        header_line = record["raw_header"].rstrip("\n")
        keys = [token.split(":", 1)[0] for token in header_line.split(" ")]
        assert keys == HEADER_ORDER, header_line
        headers = record["headers"]
        assert headers["ver"] == "3.0"
        assert headers["server"] == "supervisor"
        assert headers["pool"] == "rec"
        assert int(headers["len"]) == len(record["payload"])
        serials.append((int(headers["serial"]), int(headers["poolserial"])))
    # One pool: serials and pool serials both increase by one per new event.
    assert [s for s, _ in serials] == sorted(s for s, _ in serials)
    assert [p for _, p in serials] == list(range(serials[0][1], serials[0][1] + len(serials)))

    by_name: dict[str, list[dict]] = {}
    for record in records:
        by_name.setdefault(record["headers"]["eventname"], []).append(record)

    crash = [_fields(r["payload"]) for r in by_name["PROCESS_STATE_BACKOFF"]]
    assert crash[0] == {"processname": "crash", "groupname": "crash",
                        "from_state": "STARTING", "tries": "1"}
    fatal = [_fields(r["payload"]) for r in by_name["PROCESS_STATE_FATAL"]]
    assert {"processname": "crash", "groupname": "crash", "from_state": "BACKOFF"} in fatal
    starting = [_fields(r["payload"]) for r in by_name["PROCESS_STATE_STARTING"]]
    assert {"processname": "ok", "groupname": "ok", "from_state": "STOPPED",
            "tries": "0"} in starting
    running = [_fields(r["payload"]) for r in by_name["PROCESS_STATE_RUNNING"]]
    ok_running = [f for f in running if f["processname"] == "ok"]
    assert ok_running and set(ok_running[0]) == {"processname", "groupname", "from_state", "pid"}
    assert int(ok_running[0]["pid"]) > 0

    logs = by_name["PROCESS_LOG_STDOUT"]
    fields = _fields(logs[0]["payload"])
    assert set(fields) == {"processname", "groupname", "pid", "channel"}
    assert fields["channel"] == "stdout" and fields["processname"] == "ok"
    # supervisord raises PROCESS_LOG events for captured bytes too (only the file skips them).
    assert logged_text().startswith("plain line\nbeforecaptured text")
    if impl == "ours":
        assert logged_text() == "plain line\nbeforecaptured textafter\n"

    comm = by_name["PROCESS_COMMUNICATION_STDOUT"][0]
    comm_fields, comm_data = comm["payload"].split("\n", 1)
    assert set(_fields(comm_fields)) == {"processname", "groupname", "pid"}
    assert comm_data == "captured text"
    assert "captured text" not in (workdir / "ok.log").read_text()

    assert by_name["SUPERVISOR_STATE_CHANGE_RUNNING"][0]["payload"] == ""
    when = int(_fields(by_name["TICK_5"][0]["payload"])["when"])
    assert when % 5 == 0


def test_a_failed_event_is_delivered_again(start_daemon, workdir: Path) -> None:
    start_daemon(_config(workdir, "--fail-first 2", events="PROCESS_STATE_RUNNING"))
    out = workdir / "events.jsonl"
    wait_until(lambda: len([r for r in _records(out) if r["answer"] == "OK"]) >= 1, 15,
               "an accepted event")
    records = _records(out)
    first_ok = next(r for r in records if r["answer"] == "OK")
    # The two FAILed deliveries and the accepted one are the same event (same serial).
    assert [r["headers"]["serial"] for r in records[:3]] == [first_ok["headers"]["serial"]] * 3


@pytest.mark.parametrize("garbage", ["HELLO\n", "READY\nREADY\n"])
def test_a_listener_speaking_out_of_turn_goes_unknown(
    start_daemon, workdir: Path, garbage: str
) -> None:
    script = workdir / "rude.py"
    script.write_text(
        f"import sys, time\nsys.stdout.write({garbage!r})\nsys.stdout.flush()\ntime.sleep(3600)\n"
    )
    config = build_config(
        workdir,
        {},
        supervisord={"loglevel": "debug"},
        extra={"eventlistener:rude": {"command": f"{PY} -u {script}", "events": "TICK_5",
                                      "startsecs": 0}},
    )
    daemon = start_daemon(config)
    daemon.wait_log(re.escape(
        "rude: has entered the UNKNOWN state and will no longer receive events, this usually "
        "indicates the process violated the eventlistener protocol"
    ), timeout=10)


def test_childutils_rpc_interface_reaches_the_daemon(start_daemon, workdir: Path) -> None:
    out = workdir / "state.json"
    config = build_config(
        workdir,
        {},
        unix_socket=True,
        extra={
            "eventlistener:asker": {
                "command": f"{PY} -u {Path(__file__).with_name('rpc_listener.py')} {out}",
                "events": "SUPERVISOR_STATE_CHANGE_RUNNING,TICK_5",
                "startsecs": 0,
            }
        },
    )
    start_daemon(config)
    wait_until(out.exists, 15, "the listener's answer")
    answer = json.loads(out.read_text())
    assert answer["state"] == {"statecode": 1, "statename": "RUNNING"}
