"""[supervisord] metrics = true (ours): GET /metrics on the unix socket and the inet port of a
real daemon, read with prometheus_client's own parser and checked against
getAllProcessInfo; the inet server's login guards it (401 without); without the key the path
is a 404 on ours as on stock; stock 4.3.0 loads a file that uses the key."""

from __future__ import annotations

import base64
import http.client
import os
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.harness import build_config, child_cmd, ours_only, program, wait_until
from tests.rpc.conftest import UnixConnection, free_port, unix_proxy

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Prints 3 known lines (two on stdout, one on stderr), then exits 3: an unexpected exit.
CRASH = "/bin/sh -c 'echo hello; echo world; echo oops >&2; exit 3'"
WROTE = {"stdout": len(b"hello\nworld\n"), "stderr": len(b"oops\n")}


def get(
    connection: http.client.HTTPConnection,
    path: str = "/metrics",
    auth: tuple[str, str] | None = None,
) -> tuple[int, str, str]:
    headers = {}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    return response.status, response.getheader("Content-Type", ""), body


def unix_get(workdir: Path, path: str = "/metrics") -> tuple[int, str, str]:
    return get(UnixConnection(str(workdir / "supervisor.sock")), path)


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """metric family name -> [(labels, value)], as prometheus_client parses the page."""
    parsed: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            parsed.setdefault(sample.name, []).append((sample.labels, sample.value))
    return parsed


def by_process(rows: list[tuple[dict[str, str], float]], **labels: str) -> dict[str, float]:
    """name -> value of the samples whose labels include ``labels``."""
    return {
        lab["name"]: value
        for lab, value in rows
        if all(lab.get(key) == wanted for key, wanted in labels.items())
    }


def config(workdir: Path, metrics: bool = True, **extra: dict[str, object]) -> str:
    return build_config(
        workdir,
        {
            "app": program(child_cmd("sleep"), startsecs=0),
            "crash": program(CRASH, startsecs=0, autorestart=False),
            "idle": program(child_cmd("sleep"), autostart=False),
        },
        supervisord={"history": True, "metrics": True} if metrics else {},
        unix_socket=True,
        extra=extra,
    )


def settled(workdir: Path) -> list[dict[str, Any]] | None:
    try:
        infos = unix_proxy(workdir / "supervisor.sock").supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Fault):
        return None
    states = {info["name"]: info["statename"] for info in infos}
    wanted = {"app": "RUNNING", "crash": "EXITED", "idle": "STOPPED"}
    return infos if states == wanted else None


def test_metrics_agree_with_get_all_process_info(impl: str, start_daemon, workdir: Path) -> None:
    ours_only(impl, "GET /metrics is ours")
    start_daemon(config(workdir))
    infos = wait_until(lambda: settled(workdir), 20, "app RUNNING, crash EXITED")
    # Every byte of crash's output is counted once its pipes are drained.
    status, content_type, text = unix_get(workdir)
    assert (status, content_type) == (200, CONTENT_TYPE)
    page = samples(text)

    states = {
        lab["name"]: (lab["state"], value) for lab, value in page["supervisord_process_state"]
    }
    assert states == {info["name"]: (info["statename"], info["state"]) for info in infos}
    assert by_process(page["supervisord_process_up"]) == {"app": 1, "crash": 0, "idle": 0}
    assert {
        name: int(value)
        for name, value in by_process(page["supervisord_process_start_time_seconds"]).items()
    } == {info["name"]: info["start"] for info in infos}
    exit_status = by_process(page["supervisord_process_exit_status"])
    assert exit_status == {info["name"]: info["exitstatus"] for info in infos}
    uptime = by_process(page["supervisord_process_uptime_seconds"])
    app = next(info for info in infos if info["name"] == "app")
    assert 0 <= uptime["app"] <= time.time() - app["start"] + 1
    assert uptime["crash"] == uptime["idle"] == 0
    assert by_process(page["supervisord_process_backoff_tries"]) == {
        "app": 0,
        "crash": 0,
        "idle": 0,
    }
    # Counted by the history's reasons (history = true here).
    assert by_process(page["supervisord_process_starts_total"], reason="autostart") == {
        "app": 1,
        "crash": 1,
    }
    assert by_process(page["supervisord_process_exits_total"]) == {"crash": 1}
    assert by_process(page["supervisord_process_exits_total"], reason="exit") == {"crash": 1}
    for stream, size in WROTE.items():
        written = by_process(page["supervisord_process_log_bytes_total"], stream=stream)
        assert written["crash"] == size and written["idle"] == 0
    # Group labels: each program is its own group here.
    assert all(lab["group"] == lab["name"] for lab, _ in page["supervisord_process_up"])

    # The daemon itself.
    assert page["supervisord_info"] == [
        (
            {
                "version": "4.3.0",
                "runtime_version": page["supervisord_info"][0][0]["runtime_version"],
                "identifier": "supervisor",
            },
            1.0,
        )
    ]
    assert page["supervisord_state"] == [({"state": "RUNNING"}, 1.0)]
    daemon_pid = unix_proxy(workdir / "supervisor.sock").supervisor.getPID()
    fds = len(os.listdir(f"/proc/{daemon_pid}/fd"))
    assert abs(page["supervisord_open_fds"][0][1] - fds) <= 3
    assert page["supervisord_resident_memory_bytes"][0][1] > 5 * 2**20
    assert page["supervisord_cpu_seconds_total"][0][1] > 0
    started = page["supervisord_start_time_seconds"][0][1]
    assert started <= app["start"] + 1 and started > time.time() - 600

    # A restart through the socket is counted with its reason.
    assert unix_proxy(workdir / "supervisor.sock").supervisor.stopProcess("app") is True
    assert unix_proxy(workdir / "supervisor.sock").supervisor.startProcess("app") is True
    page = samples(unix_get(workdir)[2])
    reasons = {
        lab["reason"]: value
        for lab, value in page["supervisord_process_starts_total"]
        if lab["name"] == "app"
    }
    assert reasons == {"autostart": 1, "request": 1}
    exits = {
        lab["reason"]: value
        for lab, value in page["supervisord_process_exits_total"]
        if lab["name"] == "app"
    }
    assert exits == {"request": 1}


def test_inet_server_guards_metrics_with_its_login(impl: str, start_daemon, workdir: Path) -> None:
    ours_only(impl, "GET /metrics is ours")
    port = free_port()
    inet = {"inet_http_server": {"port": f"127.0.0.1:{port}", "username": "prom", "password": "pw"}}
    start_daemon(config(workdir, **inet))
    wait_until(lambda: settled(workdir), 20, "app RUNNING, crash EXITED")
    status, _, _ = get(http.client.HTTPConnection("127.0.0.1", port, timeout=10))
    assert status == 401
    status, _, _ = get(
        http.client.HTTPConnection("127.0.0.1", port, timeout=10), auth=("prom", "no")
    )
    assert status == 401
    status, content_type, text = get(
        http.client.HTTPConnection("127.0.0.1", port, timeout=10), auth=("prom", "pw")
    )
    assert (status, content_type) == (200, CONTENT_TYPE)
    assert by_process(samples(text)["supervisord_process_up"]) == {"app": 1, "crash": 0, "idle": 0}
    # The unix socket (no login configured for it) serves the same page.
    assert unix_get(workdir)[0] == 200


def test_without_the_key_metrics_is_a_404_as_stock(impl: str, start_daemon, workdir: Path) -> None:
    start_daemon(config(workdir, metrics=False))
    wait_until(lambda: settled(workdir), 20, "app RUNNING, crash EXITED")
    status, _, body = unix_get(workdir)
    assert status == 404 and "supervisord_" not in body


def test_stock_loads_a_file_using_our_keys(impl: str, start_daemon, workdir: Path) -> None:
    """The same file on both: stock ignores metrics, history and history_log_lines (and
    answers 404), ours serves the page."""
    text = config(workdir).replace("metrics=true", "metrics=true\nhistory_log_lines=5")
    assert "history_log_lines=5" in text
    start_daemon(text)
    wait_until(lambda: settled(workdir), 20, "app RUNNING, crash EXITED")
    status, _, body = unix_get(workdir)
    if impl == "stock":
        assert status == 404
    else:
        assert status == 200 and "supervisord_process_state" in body
