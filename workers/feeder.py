"""The status feeder of a host: ``python -m workers.feeder --host-root DIR``.

Run by the host runtime as ``status-<queue>`` when ``HostConfig.status_mode`` is "feed"
(the default; "poll" runs the poller, workers.status). Instead of asking every tenant
runtime for its processes every few seconds, it holds one connection per tenant runtime
to its state stream (``GET /state-stream``, our runtime's ``state_stream = true``), and
for each line it receives:

- writes ``hosting:status:<app>`` (hosting.status, the JSON the poller wrote) and
  publishes a ``status`` app event (hosting.live_events);
- for a process change with a history entry, appends it to ``hosting:history:<app>`` and
  publishes ``history``. On every (re)connect the transitions the runtime kept that are
  newer than the newest one stored are added first (``runtime.getAllProcessHistory``).

One thread and ``selectors``: at idle it sleeps in ``select`` and wakes every few seconds
to re-read the host's apps (one query) and, every ttl/3 (10 s at most), to refresh the
TTL of every status key in one pipelined round (a stopped feeder leaves no stale status).
Streams ask for a ping a minute; one silent for longer than ``SILENT_SECONDS`` is reconnected.

Every connection is checked to be that app's runtime before a byte is sent (SO_PEERCRED:
workers.tenants.runtime_peer_check); what it sends is untrusted (workers.state_lines).
A runtime that is refused, closes, or sends garbage is stored as down, with the host
runtime's view of it, and reconnected with a growing delay (``RETRY_SECONDS``). The feeder
also follows the host runtime's own state stream: a ``tenant-<app>`` going RUNNING is
reconnected at once, one going down has its status rewritten with the cause. A runtime
without the stream (stock supervisord answers 404) is polled every ``status_interval``
(workers.status.read_app). When Redis fails, streams are kept, and every app's status is
written again once it answers (resync).
"""

from __future__ import annotations

import logging
import selectors
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hosting.live_events import append_history, publish_app_event, read_history
from hosting.status import status_key, write_app_status, write_host_status

from workers.host import HostConfig
from workers.layout import find_owner
from workers.metrics import round_done
from workers.rounds import start_helper
from workers.state_lines import (
    BadLine,
    LineBuffer,
    clean_transition,
    parse_head,
    parse_line,
    request,
)
from workers.status import APP_SECONDS, AppRef, host_apps, host_views_of, read_app
from workers.tenants import connect, runtime_peer_check, tenant_program

log = logging.getLogger("workers.feeder")
APPS_SECONDS = 5.0  # how often the host's apps are re-read from the database
RETRY_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0)  # reconnect delays, the last one repeated
HEARTBEAT = 60.0
SILENT_SECONDS = 2.5 * HEARTBEAT
REDIS_RETRY_SECONDS = 1.0
HOST_RETRY_SECONDS = 3.0
EXPIRE_SECONDS = 10.0  # at most between two rounds of EXPIRE
RESTREAM_SECONDS = 60.0  # a polled (stock) runtime is asked for the stream again after this
READ_SIZE = 256 * 1024


def status_ttl(host: HostConfig) -> int:
    return max(30, int(host.status_interval * 5))


@dataclass(eq=False)
class Tenant:
    """One app's runtime as the feeder follows it."""

    app: AppRef
    mode: str = "connecting"  # connecting | head | stream | poll | down
    sock: socket.socket | None = None
    head: bytes = b""
    lines: LineBuffer = field(default_factory=LineBuffer)
    processes: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    notices: list[dict[str, Any]] = field(default_factory=list)
    why: str | None = None
    runtime_state: dict[str, str] | None = None
    newest: float = 0.0  # time of the newest history entry stored
    failures: int = 0
    due: float = 0.0  # monotonic time of the next connect attempt or poll
    last_seen: float = 0.0
    restream_at: float = 0.0  # polled: when to ask for the stream again
    backfill_due: bool = False  # connected anew: add the history kept meanwhile
    dirty: bool = False  # its status must be written
    new_history: list[dict[str, Any]] = field(default_factory=list)

    def status_fields(self) -> dict[str, Any]:
        now = time.time()
        up = self.mode in ("stream", "poll") and self.why is None
        processes = [dict(info, now=now) for _key, info in sorted(self.processes.items())]
        return {
            "processes": processes if up else [],
            "runtime": "up" if up else "down",
            "error": None if up else (self.why or "not connected yet"),
            "runtime_state": None if up else self.runtime_state,
            "notices": self.notices if up else [],
        }


class Feeder:
    def __init__(self, host: HostConfig, sessions: Any, redis: Any) -> None:
        self.host = host
        self.sessions = sessions
        self.redis = redis
        self.ttl = status_ttl(host)
        self.selector = selectors.DefaultSelector()
        self.tenants: dict[int, Tenant] = {}
        self.by_program: dict[str, Tenant] = {}
        self.next_apps = 0.0
        self.next_expire = 0.0
        self.redis_ok = True
        self.next_redis_try = 0.0
        # The host runtime's own stream (selector data None): its tenant-<app> programs.
        self.host_sock: socket.socket | None = None
        self.host_head: bytes | None = b""  # None once the head was read
        self.host_lines = LineBuffer()
        self.next_host_try = 0.0

    # -- the loop ---------------------------------------------------------------------

    def run(self, rounds: int | None = None) -> None:
        while rounds is None or rounds > 0:
            self.step()
            if rounds is not None:
                rounds -= 1

    def step(self) -> None:
        now = time.monotonic()
        if now >= self.next_apps:
            self.refresh_apps()
            self.next_apps = now + APPS_SECONDS
        if self.host_sock is None and now >= self.next_host_try:
            self.next_host_try = now + HOST_RETRY_SECONDS
            self.open_host_stream()
        self.attend_due(now)
        timeout = self.next_wakeup() - time.monotonic()
        for key, _mask in self.selector.select(max(0.0, timeout)):
            if key.data is None:
                self.on_host_readable()
            else:
                self.on_readable(key.data)
        self.flush()
        now = time.monotonic()
        if now >= self.next_expire and self.redis_ok:
            self.expire_round()
            # Also how soon a Redis that lost everything (a restart) is noticed.
            self.next_expire = now + min(self.ttl / 3, EXPIRE_SECONDS)

    def next_wakeup(self) -> float:
        waits = [self.next_apps, self.next_expire]
        if self.host_sock is None:
            waits.append(self.next_host_try)
        waits += [t.due for t in self.tenants.values() if t.mode in ("down", "poll")]
        if not self.redis_ok:
            waits.append(self.next_redis_try)
        return min(waits)

    # -- the app set ---------------------------------------------------------------------

    def refresh_apps(self) -> None:
        try:
            apps = {app.id: app for app in host_apps(self.sessions, self.host)}
        except Exception as exc:  # the database away for a moment: keep what we follow
            log.warning("apps not re-read: %s", exc)
            return
        for app_id in set(self.tenants) - set(apps):
            tenant = self.tenants.pop(app_id)
            self.by_program.pop(tenant_program(tenant.app.name), None)
            self.disconnect(tenant)
        now = time.monotonic()
        for app_id, app in apps.items():
            if app_id not in self.tenants:
                tenant = self.tenants[app_id] = Tenant(app, mode="down", due=now)
                self.by_program[tenant_program(app.name)] = tenant
                self.load_newest(tenant)
            elif now - self.tenants[app_id].last_seen > SILENT_SECONDS:
                tenant = self.tenants[app_id]
                if tenant.mode == "stream":
                    self.went_down(tenant, "its state stream went silent")

    def load_newest(self, tenant: Tenant) -> None:
        try:
            kept = read_history(self.redis, tenant.app.id, limit=1)
        except Exception:
            kept = []
        tenant.newest = float(kept[-1].get("time", 0)) if kept else 0.0

    # -- connections -----------------------------------------------------------------------

    def attend_due(self, now: float) -> None:
        for tenant in list(self.tenants.values()):
            if tenant.due > now:
                continue
            if tenant.mode == "down":
                self.try_connect(tenant)
            elif tenant.mode == "poll":
                self.poll(tenant)
        if not self.redis_ok and now >= self.next_redis_try:
            self.resync()

    def try_connect(self, tenant: Tenant) -> None:
        app = tenant.app
        owner = find_owner(app.user)
        if owner is None:
            return self.failed(tenant, "the app has no system user yet")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            # Non-blocking: a socket whose backlog is full fails now, it is not waited for.
            sock.connect(str(app.layout.socket))
            runtime_peer_check(self.host, app.name, owner, app.user)(sock)
            sock.send(request(HEARTBEAT))  # a few bytes into a fresh socket's buffer
        except Exception as exc:  # refused, no socket, not its runtime: down for now
            sock.close()
            return self.failed(tenant, str(exc) or type(exc).__name__)
        tenant.sock, tenant.mode, tenant.head = sock, "head", b""
        tenant.lines, tenant.backfill_due = LineBuffer(), True
        tenant.last_seen = time.monotonic()
        self.selector.register(sock, selectors.EVENT_READ, tenant)
        return None

    def failed(self, tenant: Tenant, why: str) -> None:
        """Not connected: stored as down (when it was not already), tried again later."""
        delay = RETRY_SECONDS[min(tenant.failures, len(RETRY_SECONDS) - 1)]
        tenant.failures += 1
        tenant.due = time.monotonic() + delay
        if tenant.why != why or tenant.mode != "down":
            tenant.mode, tenant.why = "down", why
            self.describe_down([tenant])

    def disconnect(self, tenant: Tenant) -> None:
        if tenant.sock is not None:
            self.selector.unregister(tenant.sock)
            tenant.sock.close()
            tenant.sock = None

    def went_down(self, tenant: Tenant, why: str) -> None:
        self.disconnect(tenant)
        tenant.mode = "down"
        self.failed(tenant, why)

    def describe_down(self, tenants: list[Tenant]) -> None:
        """Down apps get the host runtime's view of them (its state, the cause)."""
        views = host_views_of(self.host, [t.app.name for t in tenants])
        for tenant in tenants:
            view = views.get(tenant.app.name)
            tenant.runtime_state = view.as_dict() if view is not None else None
            tenant.dirty = True

    # -- reading ---------------------------------------------------------------------------

    def on_readable(self, tenant: Tenant) -> None:
        assert tenant.sock is not None
        try:
            data = tenant.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            return self.went_down(tenant, str(exc))
        if not data:
            return self.went_down(tenant, "its runtime closed the state stream")
        tenant.last_seen = time.monotonic()
        try:
            if tenant.mode == "head":
                data = self.read_head(tenant, data)
            for raw in tenant.lines.feed(data) if data else []:
                self.on_line(tenant, parse_line(raw))
        except BadLine as exc:
            log.warning("app %s: state stream dropped: %s", tenant.app.name, exc)
            self.went_down(tenant, f"its runtime sent {exc}")
        return None

    def read_head(self, tenant: Tenant, data: bytes) -> bytes:
        tenant.head += data
        parsed = parse_head(tenant.head)
        if parsed is None:
            return b""
        status, body = parsed
        if status == 404:  # a runtime without the stream (stock supervisord): poll it
            self.disconnect(tenant)
            tenant.mode, tenant.due, tenant.failures = "poll", time.monotonic(), 0
            tenant.restream_at = time.monotonic() + RESTREAM_SECONDS
            return b""
        if status != 200:
            raise BadLine(f"HTTP {status} for the state stream")
        tenant.mode, tenant.head = "stream", b""
        return body

    def on_line(self, tenant: Tenant, line: dict[str, Any]) -> None:
        kind = line["type"]
        if kind == "snapshot":
            tenant.processes = {(p["group"], p["name"]): p for p in line["processes"]}
            tenant.notices, tenant.why, tenant.runtime_state = line["notices"], None, None
            tenant.dirty = True
            if tenant.backfill_due:
                tenant.failures, tenant.backfill_due = 0, False
                self.backfill(tenant)
        elif kind == "process":
            info = line["process"]
            tenant.processes[(info["group"], info["name"])] = info
            tenant.dirty = True
            entry = line["transition"]
            if entry is not None and entry["time"] > tenant.newest:
                tenant.new_history.append(dict(entry, process=f"{info['group']}:{info['name']}"))
                tenant.newest = entry["time"]

    def backfill(self, tenant: Tenant) -> None:
        """The transitions the runtime kept that are newer than the newest stored."""
        app = tenant.app
        owner = find_owner(app.user)
        if owner is None:
            return
        runtime = connect(self.host, app.name, app.layout, owner, app.user, timeout=APP_SECONDS)
        try:
            structs = runtime.call("runtime.getAllProcessHistory")
        except Exception as exc:  # no history kept, or it does not answer: nothing to add
            log.info("app %s: no history backfilled: %s", app.name, exc)
            return
        finally:
            runtime.close()
        entries = []
        for struct in structs if isinstance(structs, list) else []:
            if not isinstance(struct, dict):
                continue
            name = f"{struct.get('group')}:{struct.get('name')}"
            for raw in struct.get("transitions") or []:
                try:
                    entry = clean_transition(raw)
                except BadLine:
                    continue
                if entry is not None and entry["time"] > tenant.newest:
                    entries.append(dict(entry, process=name))
        entries.sort(key=lambda e: e["time"])
        if entries:
            tenant.new_history.extend(entries)
            tenant.newest = entries[-1]["time"]

    def poll(self, tenant: Tenant) -> None:
        if time.monotonic() >= tenant.restream_at:
            tenant.mode = "down"
            return self.try_connect(tenant)
        state, processes, why, notices = read_app(self.host, tenant.app)
        tenant.processes = {(p["group"], p["name"]): p for p in processes}
        tenant.notices, tenant.why = notices, why
        if state != "up":
            self.describe_down([tenant])
        tenant.dirty = True
        tenant.due = time.monotonic() + self.host.status_interval
        return None

    # -- the host runtime's own stream -------------------------------------------------------

    def open_host_stream(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(str(self.host.socket))  # root's own socket, in the host root
            sock.send(request(HEARTBEAT))
        except OSError:
            sock.close()
            return
        self.host_sock, self.host_head, self.host_lines = sock, b"", LineBuffer()
        self.selector.register(sock, selectors.EVENT_READ, None)

    def on_host_readable(self) -> None:
        sock = self.host_sock
        assert sock is not None
        try:
            data = sock.recv(READ_SIZE)
            if not data:
                raise ConnectionError("closed")
            if self.host_head is not None:
                parsed = parse_head(self.host_head + data)
                if parsed is None:
                    self.host_head += data
                    return
                status, data = parsed
                if status != 200:
                    raise ConnectionError(f"HTTP {status}")
                self.host_head = None
            for raw in self.host_lines.feed(data):
                self.on_host_line(parse_line(raw))
        except (OSError, BadLine) as exc:
            # Tried again next step; meanwhile down runtimes are retried on their delay.
            log.info("host runtime stream closed (%s)", exc)
            self.selector.unregister(sock)
            sock.close()
            self.host_sock = None

    def on_host_line(self, line: dict[str, Any]) -> None:
        if line["type"] != "process":
            return
        tenant = self.by_program.get(line["process"]["group"])
        if tenant is None:
            return
        state = line["process"]["statename"]
        if state in ("STARTING", "RUNNING") and tenant.mode in ("down", "poll"):
            # Its socket appears while it starts: from now on tried at the fastest pace.
            tenant.mode, tenant.failures, tenant.due = "down", 0, time.monotonic()
        elif tenant.mode == "down":
            self.describe_down([tenant])  # BACKOFF, FATAL...: the cause changed

    # -- Redis ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every changed app's status (and history) in one pipelined round."""
        dirty = [t for t in self.tenants.values() if t.dirty or t.new_history]
        if not dirty or not self.redis_ok:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            for tenant in dirty:
                self.write(pipe, tenant)
            pipe.execute()
        except Exception as exc:
            return self.redis_failed(exc)
        for tenant in dirty:
            tenant.dirty = False
            tenant.new_history = []
        return None

    def write(self, pipe: Any, tenant: Tenant) -> None:
        app_id = tenant.app.id
        if tenant.dirty:
            write_app_status(pipe, app_id, ttl=self.ttl, **tenant.status_fields())
            publish_app_event(pipe, app_id, "status")
        if tenant.new_history:
            append_history(pipe, app_id, tenant.new_history)
            publish_app_event(pipe, app_id, "history")

    def redis_failed(self, exc: Exception) -> None:
        log.warning("redis: %s; will write every status again once it answers", exc)
        self.redis_ok = False
        self.next_redis_try = time.monotonic() + REDIS_RETRY_SECONDS

    def resync(self) -> None:
        for tenant in self.tenants.values():
            tenant.dirty = True
        self.redis_ok = True
        self.flush()
        if self.redis_ok:
            log.info("redis answers again: %d statuses written", len(self.tenants))
            self.next_expire = 0.0
        else:
            self.next_redis_try = time.monotonic() + REDIS_RETRY_SECONDS

    def expire_round(self) -> None:
        """Keep every status alive (one pipelined EXPIRE each); one Redis lost (a restart)
        is written again."""
        host = self.host
        tenants = list(self.tenants.values())
        try:
            write_host_status(
                self.redis, host.queue, host.containers, host.containers_off, self.ttl
            )
            pipe = self.redis.pipeline(transaction=False)
            for tenant in tenants:
                pipe.expire(status_key(tenant.app.id), self.ttl)
            kept = pipe.execute()
            round_done(self.redis, host.queue, "status")  # workers.metrics: a good round
        except Exception as exc:
            return self.redis_failed(exc)
        for tenant, alive in zip(tenants, kept, strict=True):
            # Lost (a Redis restart): written again, once there is something to say.
            known = tenant.mode in ("stream", "poll") or tenant.why is not None
            tenant.dirty = tenant.dirty or (not alive and known)
        self.flush()
        return None


def main(argv: Sequence[str] | None = None) -> int:
    helper = start_helper(argv, "python -m workers.feeder", __doc__)
    feeder = Feeder(helper.host, helper.sessions, helper.redis)
    feeder.run(rounds=3 if helper.once else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
