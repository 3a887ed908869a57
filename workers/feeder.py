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

One thread and ``selectors``. At idle its work does not grow with the number of apps, but
for one ping per app every ``HEARTBEAT``: it sleeps in ``select``, and wakes every ttl/3
(10 s at most) to write the host's own status (``hosting:host:<queue>``, one SET): the
statuses it writes carry the host's queue and count only while that key lives
(hosting.status), so a stopped feeder leaves no stale status without a TTL round over every
app. It re-reads the host's apps every ``APPS_SECONDS``, and at once when the host
runtime's stream shows a tenant it does not know. A runtime that dies closes its stream
(the kernel does that), and the host runtime's stream says so too; the pings, asked for
every ``HEARTBEAT``, are only for a runtime that is alive but stuck: one silent for longer
than ``SILENT_SECONDS`` is reconnected.

Every connection is checked to be that app's runtime before a byte is sent (SO_PEERCRED:
workers.tenants.runtime_peer_check); what it sends is untrusted (workers.state_lines).
A runtime that is refused, closes, or sends garbage is stored as down, with the host
runtime's view of it (its state on the host runtime's stream, when that state has no cause
to ask for), and reconnected with a growing delay (``RETRY_SECONDS``). The feeder
also follows the host runtime's own state stream: a ``tenant-<app>`` going RUNNING is
reconnected at once, one going down has its status rewritten with the cause. A runtime
without the stream (stock supervisord answers 404) is polled every ``status_interval``
(workers.status.read_app). When Redis fails, streams are kept, and every app's status is
written again once it answers (resync).
"""

from __future__ import annotations

import logging
import math
import selectors
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hosting.live_events import append_history, publish_app_event, read_history
from hosting.status import host_key, status_key, write_app_status, write_host_status

from workers.host import HostConfig
from workers.layout import find_owner
from workers.metrics import round_done
from workers.rounds import start_helper
from workers.state_lines import BadLine, Ended, Refused, StreamReader, clean_transition, request
from workers.status import APP_SECONDS, AppRef, host_apps, host_views_of, read_app
from workers.tenants import connect, has_cause, runtime_peer_check, tenant_program

log = logging.getLogger("workers.feeder")
# How often the host's apps are re-read from the database; a new app shows on the host
# runtime's stream (its tenant-<app> starting) and is read at once.
APPS_SECONDS = 30.0
RETRY_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0)  # reconnect delays, the last one repeated
# A dead runtime closes its stream at once; pings only catch one that is alive but stuck
# (within SILENT_SECONDS), and each costs the runtime, the feeder and the host a wake-up.
HEARTBEAT = 300.0
SILENT_SECONDS = 2.5 * HEARTBEAT
REDIS_RETRY_SECONDS = 1.0
HOST_RETRY_SECONDS = 3.0
FRESH_SECONDS = 10.0  # at most between two writes of the host's status (what keeps all fresh)
# How long a status key lives unwritten: only a key nobody removed (a host gone for good)
# ever gets that old; every KEEP_SECONDS / 4 one pipelined round renews them all.
KEEP_SECONDS = 24 * 3600
RESTREAM_SECONDS = 60.0  # a polled (stock) runtime is asked for the stream again after this
# A tenant-<app> in one of these states on the host runtime has no runtime to connect to:
# it is not tried again until the host runtime's stream shows it STARTING (at a cold
# start, the apps still waiting their turn, autostart_concurrency: a try every 3 s each).
NOT_STARTED = frozenset({"STOPPED", "EXITED", "FATAL", "BACKOFF"})


def status_ttl(host: HostConfig) -> int:
    return max(30, int(host.status_interval * 5))


@dataclass(eq=False)
class Tenant:
    """One app's runtime as the feeder follows it."""

    app: AppRef
    mode: str = "connecting"  # connecting | head | stream | poll | down
    stream: StreamReader | None = None
    processes: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    notices: list[dict[str, Any]] = field(default_factory=list)
    why: str | None = None
    runtime_state: dict[str, str] | None = None
    # Its tenant-<app>'s state on the host runtime's stream, while that stream is open.
    host_state: str | None = None
    newest: float = 0.0  # time of the newest history entry stored
    failures: int = 0
    due: float = 0.0  # monotonic time of the next connect attempt or poll
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
        # Kept as sets so that a step's work is what changed, not every app followed.
        self.waiting: set[Tenant] = set()  # down or polled: each has a ``due`` time
        self.changed: set[Tenant] = set()  # a status or history to write
        self.undescribed: set[Tenant] = set()  # down: the host runtime's view to add
        self.next_apps = 0.0
        self.apps_read_at = 0.0
        self.next_fresh = 0.0
        self.next_keep = 0.0
        self.redis_ok = True
        self.next_redis_try = 0.0
        # The host runtime's own stream (selector data None): its tenant-<app> programs.
        self.host_stream: StreamReader | None = None
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
            self.apps_read_at, self.next_apps = now, now + APPS_SECONDS
        if self.host_stream is None and now >= self.next_host_try:
            self.next_host_try = now + HOST_RETRY_SECONDS
            self.open_host_stream()
        self.attend_due(now)
        timeout = self.next_wakeup() - time.monotonic()
        for key, _mask in self.selector.select(max(0.0, timeout)):
            if key.data is None:
                self.on_host_readable()
            else:
                self.on_readable(key.data)
        self.describe_pending()
        self.flush()
        now = time.monotonic()
        if now >= self.next_fresh and self.redis_ok:
            self.fresh_round()
            # Also how soon a Redis that lost everything (a restart) is noticed.
            self.next_fresh = now + min(self.ttl / 3, FRESH_SECONDS)
        if now >= self.next_keep and self.redis_ok:
            self.keep_round()
            self.next_keep = now + KEEP_SECONDS / 4

    def next_wakeup(self) -> float:
        waits = [self.next_apps, self.next_fresh, self.next_keep]
        if self.host_stream is None:
            waits.append(self.next_host_try)
        waits += [t.due for t in self.waiting]
        if not self.redis_ok:
            waits.append(self.next_redis_try)
        return min(waits)

    def set_mode(self, tenant: Tenant, mode: str) -> None:
        tenant.mode = mode
        if mode in ("down", "poll"):
            self.waiting.add(tenant)
        else:
            self.waiting.discard(tenant)

    def mark(self, tenant: Tenant) -> None:
        """Its status is to be written (with the next flush)."""
        tenant.dirty = True
        self.changed.add(tenant)

    # -- the app set ---------------------------------------------------------------------

    def refresh_apps(self) -> None:
        try:
            apps = {app.id: app for app in host_apps(self.sessions, self.host)}
        except Exception as exc:  # the database away for a moment: keep what we follow
            log.warning("apps not re-read: %s", exc)
            return
        gone = [self.tenants.pop(app_id) for app_id in set(self.tenants) - set(apps)]
        for tenant in gone:
            self.by_program.pop(tenant_program(tenant.app.name), None)
            self.disconnect(tenant)
            self.waiting.discard(tenant)
            self.changed.discard(tenant)
            self.undescribed.discard(tenant)
        if gone and self.redis_ok:
            # No longer this host's: nobody vouches for their statuses (hosting.status).
            try:
                self.redis.delete(*(status_key(t.app.id) for t in gone))
            except Exception as exc:
                self.redis_failed(exc)
        now = time.monotonic()
        for app_id, app in apps.items():
            if app_id not in self.tenants:
                tenant = self.tenants[app_id] = Tenant(app, due=now)
                self.set_mode(tenant, "down")
                self.by_program[tenant_program(app.name)] = tenant
                self.load_newest(tenant)
            else:
                tenant = self.tenants[app_id]
                stream = tenant.stream
                silent = stream is not None and now - stream.last_data > SILENT_SECONDS
                if silent and tenant.mode in ("head", "stream"):  # a head never sent, too
                    self.went_down(tenant, "its state stream went silent")

    def load_newest(self, tenant: Tenant) -> None:
        try:
            kept = read_history(self.redis, tenant.app.id, limit=1)
        except Exception:
            kept = []
        tenant.newest = float(kept[-1].get("time", 0)) if kept else 0.0

    # -- connections -----------------------------------------------------------------------

    def attend_due(self, now: float) -> None:
        for tenant in [t for t in self.waiting if t.due <= now]:
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
        tenant.stream, tenant.backfill_due = StreamReader(sock), True
        self.set_mode(tenant, "head")
        self.selector.register(sock, selectors.EVENT_READ, tenant)
        return None

    def failed(self, tenant: Tenant, why: str) -> None:
        """Not connected: stored as down (when it was not already), tried again later."""
        delay = RETRY_SECONDS[min(tenant.failures, len(RETRY_SECONDS) - 1)]
        tenant.failures += 1
        tenant.due = time.monotonic() + delay
        if tenant.why != why or tenant.mode != "down":
            self.set_mode(tenant, "down")
            tenant.why = why
            self.undescribed.add(tenant)

    def disconnect(self, tenant: Tenant) -> None:
        if tenant.stream is not None:
            self.selector.unregister(tenant.stream.sock)
            tenant.stream.sock.close()
            tenant.stream = None

    def went_down(self, tenant: Tenant, why: str) -> None:
        self.disconnect(tenant)
        self.set_mode(tenant, "down")
        self.failed(tenant, why)

    def describe_pending(self) -> None:
        """The host runtime's view of the apps that went down this step, asked in one go
        (one call per app was a round trip per tenant of a cold start); none is asked
        about an app whose view is its state alone on the host runtime's stream (at a cold
        start, STARTING: its runtime not listening yet). Those it has not started wait for
        its stream to show them STARTING."""
        tenants = [t for t in self.undescribed if t.mode == "down"]
        self.undescribed.clear()
        if not tenants:
            return
        known = [t for t in tenants if t.host_state is not None and not has_cause(t.host_state)]
        for tenant in known:
            tenant.runtime_state = {"state": str(tenant.host_state), "cause": ""}
            self.mark(tenant)
        if len(known) < len(tenants):
            self.describe_down([t for t in tenants if t not in known])
        if self.host_stream is None:
            return  # nothing would wake them: tried on their delay
        for tenant in tenants:
            if (tenant.runtime_state or {}).get("state") in NOT_STARTED:
                tenant.due = math.inf

    def describe_down(self, tenants: list[Tenant]) -> None:
        """Down apps get the host runtime's view of them (its state, the cause)."""
        views = host_views_of(self.host, [t.app.name for t in tenants])
        for tenant in tenants:
            view = views.get(tenant.app.name)
            tenant.runtime_state = view.as_dict() if view is not None else None
            self.mark(tenant)

    # -- reading ---------------------------------------------------------------------------

    def on_readable(self, tenant: Tenant) -> None:
        stream = tenant.stream
        assert stream is not None
        try:
            lines = stream.read()  # the head is read by now (the lines as they are taken)
            if tenant.mode == "head" and stream.streaming:
                self.set_mode(tenant, "stream")
            for line in lines:
                self.on_line(tenant, line)
        except Refused as exc:
            if exc.status != 404:
                return self.dropped(tenant, exc)
            # A runtime without the stream (stock supervisord): poll it.
            self.disconnect(tenant)
            self.set_mode(tenant, "poll")
            tenant.due, tenant.failures = time.monotonic(), 0
            tenant.restream_at = time.monotonic() + RESTREAM_SECONDS
        except Ended as exc:
            self.went_down(tenant, exc.error or "its runtime closed the state stream")
        except BadLine as exc:
            self.dropped(tenant, exc)
        return None

    def dropped(self, tenant: Tenant, exc: BadLine) -> None:
        log.warning("app %s: state stream dropped: %s", tenant.app.name, exc)
        self.went_down(tenant, f"its runtime sent {exc}")

    def on_line(self, tenant: Tenant, line: dict[str, Any]) -> None:
        kind = line["type"]
        if kind == "snapshot":
            tenant.processes = {(p["group"], p["name"]): p for p in line["processes"]}
            tenant.notices, tenant.why, tenant.runtime_state = line["notices"], None, None
            self.mark(tenant)
            if tenant.backfill_due:
                tenant.failures, tenant.backfill_due = 0, False
                self.backfill(tenant)
        elif kind == "process":
            info = line["process"]
            tenant.processes[(info["group"], info["name"])] = info
            self.mark(tenant)
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
            self.changed.add(tenant)

    def poll(self, tenant: Tenant) -> None:
        if time.monotonic() >= tenant.restream_at:
            self.set_mode(tenant, "down")
            return self.try_connect(tenant)
        state, processes, why, notices = read_app(self.host, tenant.app)
        tenant.processes = {(p["group"], p["name"]): p for p in processes}
        tenant.notices, tenant.why = notices, why
        if state != "up":
            self.describe_down([tenant])
        self.mark(tenant)
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
        self.host_stream = StreamReader(sock)
        self.selector.register(sock, selectors.EVENT_READ, None)

    def on_host_readable(self) -> None:
        stream = self.host_stream
        assert stream is not None
        try:
            for line in stream.read():
                self.on_host_line(line)
        except (Ended, BadLine) as exc:
            # Tried again next step; meanwhile down runtimes are retried on their delay.
            log.info("host runtime stream closed (%s)", exc)
            self.selector.unregister(stream.sock)
            stream.sock.close()
            self.host_stream = None
            for tenant in self.tenants.values():  # asked again until it is back
                tenant.host_state = None
            now = time.monotonic()
            for tenant in self.waiting:  # what it would have woken is tried on a delay
                tenant.due = min(tenant.due, now)

    def on_host_line(self, line: dict[str, Any]) -> None:
        if line["type"] == "snapshot":
            for info in line["processes"]:
                if (known := self.by_program.get(info["group"])) is not None:
                    known.host_state = info["statename"]
            return
        group = line["process"]["group"]
        tenant = self.by_program.get(group)
        if tenant is None:
            if group.startswith(tenant_program("")):
                # A new app's runtime (or one on its way out): the app set is read soon.
                self.next_apps = min(self.next_apps, self.apps_read_at + 1.0)
            return
        state = line["process"]["statename"]
        tenant.host_state = state
        if state in ("STARTING", "RUNNING") and tenant.mode in ("down", "poll"):
            # Its socket appears while it starts: from now on tried at the fastest pace.
            self.set_mode(tenant, "down")
            tenant.failures, tenant.due = 0, time.monotonic()
        elif tenant.mode == "down":
            self.undescribed.add(tenant)  # BACKOFF, FATAL...: the cause changed

    # -- Redis ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every changed app's status (and history) in one pipelined round."""
        if not self.changed or not self.redis_ok:
            return
        dirty = list(self.changed)
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
        self.changed.clear()
        return None

    def write(self, pipe: Any, tenant: Tenant) -> None:
        app_id = tenant.app.id
        if tenant.dirty:
            fields = tenant.status_fields()
            write_app_status(pipe, app_id, ttl=KEEP_SECONDS, host=self.host.queue, **fields)
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
            self.mark(tenant)
        self.redis_ok = True
        self.flush()
        if self.redis_ok:
            log.info("redis answers again: %d statuses written", len(self.tenants))
            self.next_fresh = 0.0
        else:
            self.next_redis_try = time.monotonic() + REDIS_RETRY_SECONDS

    def rewrite_known(self, tenants: list[Tenant]) -> None:
        """Their statuses were lost (a Redis restart): written again, once there is
        something to say."""
        for tenant in tenants:
            if tenant.mode in ("stream", "poll") or tenant.why is not None:
                self.mark(tenant)

    def fresh_round(self) -> None:
        """The host's status, written again: what keeps every status of this host current
        (hosting.status), one key whatever the number of apps. Its loss means Redis lost
        everything (a restart): every status is written again."""
        host = self.host
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.exists(host_key(host.queue))
            write_host_status(pipe, host.queue, host.containers, host.containers_off, self.ttl)
            there, _ = pipe.execute()
            round_done(self.redis, host.queue, "status")  # workers.metrics: a good round
        except Exception as exc:
            return self.redis_failed(exc)
        if not there:
            self.rewrite_known(list(self.tenants.values()))
        self.flush()
        return None

    def keep_round(self) -> None:
        """Renew every status key's long TTL (one pipelined EXPIRE each, a few times a day);
        one that is gone is written again."""
        tenants = list(self.tenants.values())
        if not tenants:
            return None
        try:
            pipe = self.redis.pipeline(transaction=False)
            for tenant in tenants:
                pipe.expire(status_key(tenant.app.id), KEEP_SECONDS)
            kept = pipe.execute()
        except Exception as exc:
            return self.redis_failed(exc)
        self.rewrite_known([t for t, alive in zip(tenants, kept, strict=True) if not alive])
        self.flush()
        return None


def main(argv: Sequence[str] | None = None) -> int:
    helper = start_helper(argv, "python -m workers.feeder", __doc__)
    feeder = Feeder(helper.host, helper.sessions, helper.redis)
    feeder.run(rounds=3 if helper.once else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
