"""The status feeder (workers.feeder) with real parts: a host runtime running it as
status-<queue>, tenant runtimes with their state stream, the platform's Redis.

status_interval is 30 s here: a change seen in well under a second can only have been
pushed."""

from __future__ import annotations

import json
import math
import os
import signal
import statistics
import threading
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

import pytest
from hosting.live_events import app_channel, read_history
from hosting.status import read_app_status
from redis.exceptions import RedisError

from tests.workers.fixtures import Platform, wait_until
from workers.feeder import Feeder, Tenant
from workers.host import HostConfig, host_runtime, program_safe
from workers.runtime import Runtime
from workers.tenants import tenant_program

pytestmark = pytest.mark.timeout(300)
TENANT = "tenant-web:tenant-web"


def app_state(platform: Platform, app_id: int) -> str | None:
    try:
        status = read_app_status(platform.redis, app_id) or {}
    except RedisError:  # restarting
        return None
    if status.get("runtime") != "up":
        return None
    states = {p["name"]: p["statename"] for p in status.get("processes", [])}
    return states.get("app")


def tenant_rpc(platform: Platform, app_id: int) -> Any:
    """The tenant runtime's XML-RPC, straight (what the tenant's supervisorctl uses)."""
    return Runtime(platform.app_serverurl(app_id), timeout=20)


def status_program(host: HostConfig) -> str:
    name = f"status-{program_safe(host.queue)}"
    return f"{name}:{name}"


def started_app(platform: Platform) -> int:
    platform.add_host(status_interval=30)
    app_id, _port = platform.create_app()
    platform.run("create_app", app_id)
    wait_until(lambda: app_state(platform, app_id) == "RUNNING", 20, "app RUNNING in Redis")
    return app_id


def test_a_change_behind_the_panels_back_is_pushed_to_redis_and_subscribers(
    platform: Platform,
) -> None:
    app_id = started_app(platform)
    pubsub = platform.redis.pubsub()
    pubsub.subscribe(app_channel(app_id))
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    latencies = []
    with tenant_rpc(platform, app_id) as runtime:
        for _ in range(10):
            for call, state in (("stopProcess", "STOPPED"), ("startProcess", "RUNNING")):
                runtime.call(call, "app:app")  # returns once the program is in ``state``
                started = time.monotonic()
                wait_until(lambda s=state: app_state(platform, app_id) == s, 5, state, step=0.002)
                latencies.append(time.monotonic() - started)
    kinds = set()
    while (message := pubsub.get_message(timeout=0.5)) is not None:
        kinds.add(json.loads(message["data"])["kind"])
    # (The usage sampler publishes its rounds on the same channel.)
    assert kinds - {"usage"} == {"status", "history"}
    history = read_history(platform.redis, app_id)
    assert history[-1]["process"] == "app:app" and history[-1]["to"] == "RUNNING"
    times = [entry["time"] for entry in history]
    assert times == sorted(times) and len(times) == len(set(times))  # nothing twice
    median = statistics.median(latencies)
    assert median < 1.0, latencies  # the poll interval is 30 s
    print(
        f"\nmeasured: change -> hosting:status, median {median * 1000:.1f} ms over "
        f"{len(latencies)}, max {max(latencies) * 1000:.1f} ms"
    )


def test_feeder_runtime_and_redis_restarts_recover_by_themselves(platform: Platform) -> None:
    app_id = started_app(platform)
    host = platform.host_of(app_id)
    feeder = status_program(host)

    def stop_then_expect(state_call: str, state: str) -> None:
        with tenant_rpc(platform, app_id) as runtime:
            runtime.call(state_call, "app:app")
        wait_until(lambda: app_state(platform, app_id) == state, 10, state)

    # The feeder restarted: its new streams' snapshots resync.
    with host_runtime(host) as runtime:
        runtime.call("stopProcess", feeder)
        with tenant_rpc(platform, app_id) as tenant:
            tenant.call("stopProcess", "app:app")  # while no feeder runs
        runtime.call("startProcess", feeder)
    wait_until(lambda: app_state(platform, app_id) == "STOPPED", 10, "resync after feeder")
    # What happened meanwhile is added to the history from the runtime's, once.
    history = wait_until(
        lambda: (h := read_history(platform.redis, app_id)) and h[-1]["to"] == "STOPPED" and h,
        10,
        "the history backfilled",
    )
    times = [entry["time"] for entry in history]
    assert times == sorted(times) and len(times) == len(set(times))
    stop_then_expect("startProcess", "RUNNING")

    # The tenant runtime killed (-9): down, then back with a new snapshot.
    with host_runtime(host) as runtime:
        pid = runtime.states()[TENANT]["pid"]
        os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: (read_app_status(platform.redis, app_id) or {}).get("runtime") == "down",
        10,
        "down after the kill",
    )
    wait_until(lambda: app_state(platform, app_id) == "RUNNING", 30, "up after the kill")
    stop_then_expect("stopProcess", "STOPPED")

    # Redis restarted (empty: no persistence): every status is written again.
    platform.restart_redis()
    wait_until(lambda: app_state(platform, app_id) == "STOPPED", 30, "resync after redis")
    stop_then_expect("startProcess", "RUNNING")


def test_a_socket_linked_to_another_tenants_is_refused(platform: Platform) -> None:
    platform.add_host(status_interval=30)
    first, _ = platform.create_app(name="web")
    second, _ = platform.create_app(name="shop", tenant="other")
    platform.run("create_app", first)
    platform.run("create_app", second)
    for app_id in (first, second):
        wait_until(lambda a=app_id: app_state(platform, a) == "RUNNING", 20, "RUNNING")
    # The tenant of web replaces its socket with a link to shop's, then its runtime's
    # stream ends (here: the feeder restarts), so the feeder connects to it again.
    sock = platform.app_root(first) / "run" / "supervisor.sock"
    sock.unlink()
    sock.symlink_to(platform.app_root(second) / "run" / "supervisor.sock")
    host = platform.host_of(first)
    with host_runtime(host) as runtime:
        runtime.call("stopProcess", status_program(host))
        platform.redis.delete(f"hosting:status:{first}")
        runtime.call("startProcess", status_program(host))

    def refused() -> dict[str, Any] | None:
        status = read_app_status(platform.redis, first) or {}
        return status if status.get("runtime") == "down" else None

    status = wait_until(refused, 15, "web shown down")
    log = (Path(host.root) / "log" / "status.log").read_text()
    assert "is not its runtime's; refusing it" in status["error"], log
    assert status["processes"] == []
    assert app_state(platform, second) == "RUNNING"  # shop's status untouched
    with Runtime(platform.app_serverurl(second)) as shop:
        shop.call("stopProcess", "app:app")
    wait_until(lambda: app_state(platform, second) == "STOPPED", 10, "shop still pushed")
    assert (read_app_status(platform.redis, first) or {}).get("runtime") == "down"


def test_a_runtime_without_the_stream_is_polled(platform: Platform) -> None:
    platform.add_host(status_interval=1)
    app_id, _port = platform.create_app()
    platform.run("create_app", app_id)
    wait_until(lambda: app_state(platform, app_id) == "RUNNING", 20, "app RUNNING in Redis")
    # Its runtime restarted without the key: it answers 404, as stock supervisord does.
    conf = platform.app_root(app_id) / "conf" / "supervisord.conf"
    conf.write_text(conf.read_text().replace("state_stream=true\n", ""))
    with host_runtime(platform.host_of(app_id)) as host:
        host.stop([TENANT], timeout=30)
        host.call("startProcess", TENANT, True)
    wait_until(lambda: app_state(platform, app_id) == "RUNNING", 30, "polled RUNNING")
    with tenant_rpc(platform, app_id) as runtime:
        try:
            runtime.call("stopProcess", "app:app")
        except xmlrpc.client.Fault:
            pass
    started = time.monotonic()
    wait_until(lambda: app_state(platform, app_id) == "STOPPED", 10, "polled STOPPED")
    assert time.monotonic() - started < 5
    log = Path(platform.host_of(app_id).root) / "log" / "status.log"
    assert "Traceback" not in log.read_text()


def test_at_idle_the_feeder_writes_its_hosts_status_and_no_apps(platform: Platform) -> None:
    """Its idle work does not grow with the apps: one SET of the host's status a round
    keeps every app's status current (hosting.status), no TTL round over the apps."""
    app_id = started_app(platform)
    host = platform.host_of(app_id)
    commands: list[str] = []
    deadline = time.monotonic() + 11  # a round is 10 s apart at most (status_ttl / 3)

    def watch() -> None:
        with platform.redis.monitor() as monitor:
            for command in monitor.listen():  # the workers' polls keep it coming
                commands.append(command["command"])
                if time.monotonic() > deadline:
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    watcher.join(30)
    assert not watcher.is_alive()
    written = [c for c in commands if c.split()[0].upper() in ("SET", "EXPIRE", "DEL")]
    assert any(f"hosting:host:{host.queue}" in c for c in written), commands
    assert not [c for c in written if "hosting:status:" in c], written
    # What it wrote last counts while the host's status does.
    assert app_state(platform, app_id) == "RUNNING"
    platform.redis.delete(f"hosting:host:{host.queue}")
    assert read_app_status(platform.redis, app_id) is None


def feeder_streaming(platform: Platform) -> tuple[Feeder, Tenant]:
    """A feeder in this process, on the host of a started app, following that app's
    runtime's stream (and the host runtime's): the feeder and the app's Tenant."""
    app_id = started_app(platform)
    feeder = Feeder(platform.host_of(app_id), platform.sessions, platform.redis)
    feeder.step()  # reads the apps, opens the host runtime's stream
    tenant = feeder.tenants[app_id]
    wait_until(lambda: feeder.step() or tenant.mode == "stream", 20, "connected")
    return feeder, tenant


def test_a_runtime_the_host_has_not_started_waits_for_its_start(platform: Platform) -> None:
    """An app whose tenant-<app> is STOPPED on the host runtime (at a cold start, one still
    waiting its turn) is not tried every few seconds: a feeder (here in this process, on
    the same host) asks the host runtime about it once, then connects when the host
    runtime's stream shows it starting."""
    feeder, tenant = feeder_streaming(platform)
    host = feeder.host
    program = tenant_program(tenant.app.name)
    with host_runtime(host) as runtime:
        runtime.call("stopProcess", f"{program}:{program}")
    wait_until(lambda: feeder.step() or tenant.due == math.inf, 20, "waiting for its start")
    assert tenant.mode == "down" and tenant.runtime_state == {"state": "STOPPED", "cause": ""}
    with host_runtime(host) as runtime:
        runtime.call("startProcess", f"{program}:{program}", False)
    wait_until(lambda: feeder.step() or tenant.mode == "stream", 20, "connected on its start")


def test_an_app_the_host_is_starting_is_described_from_its_stream(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An app whose runtime does not answer yet while the host runtime's stream shows its
    tenant-<app> STARTING (at a cold start, most apps at first) gets that view with no call
    to the host runtime; one in a state with a cause (FATAL) is still asked about."""
    feeder, tenant = feeder_streaming(platform)
    # Its runtime may answer before its startsecs are up on the host runtime.
    wait_until(lambda: feeder.step() or tenant.host_state == "RUNNING", 20, "RUNNING on host")
    asked: list[list[str]] = []
    describe_down = feeder.describe_down

    def recording(tenants: list[Tenant]) -> None:
        asked.append([t.app.name for t in tenants])
        describe_down(tenants)

    monkeypatch.setattr(feeder, "describe_down", recording)
    program = tenant_program(tenant.app.name)
    starting = {"group": program, "name": program, "statename": "STARTING"}
    feeder.on_host_line({"type": "process", "process": starting, "transition": None})
    feeder.went_down(tenant, "its runtime refused the connection")
    feeder.describe_pending()
    assert asked == []
    assert tenant.runtime_state == {"state": "STARTING", "cause": ""}
    feeder.on_host_line({"type": "process", "process": dict(starting, statename="FATAL")})
    feeder.describe_pending()
    assert asked == [[tenant.app.name]]  # the cause is the host runtime's to give
    # What the host runtime says (its tenant-<app> is RUNNING: the line above was made up).
    assert tenant.runtime_state == {"state": "RUNNING", "cause": ""}
