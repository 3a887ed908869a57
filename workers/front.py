"""The host's way in to each tenant's app: ``python -m workers.front --host-root DIR``.

Every app listens on 127.0.0.1:<its port> (8080 by default) inside its own network
namespace, where nothing on the host can reach it by address. The front listens, for each
app, on a unix socket ``<host root>/front/<app>.sock`` (and, where a route asks for it, on
a TCP address of the host, as ``scripts/run`` does for the demo app), and relays each
connection to the app's port inside the app's namespace. The host's web server then proxies
each site to its app's socket, e.g. in nginx::

    location / { proxy_pass http://unix:/var/lib/hosting/host/front/shop.sock:; }

No host port is used per tenant, and no tenant can reach another one's app.

Routes are root's JSON files in ``<host root>/conf/front.d/<app>.json`` (written by the
workers when they register or change an app): ``{"netns": "/run/netns/...", "port": 8080,
"listen": ["tcp:127.0.0.1:18080"]}``. The front picks up changes within a second (a route
replaced whole, as the workers write them: a file edited in place within a minute). It runs
as root because entering a network namespace needs CAP_SYS_ADMIN; it only moves bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import logging
import os
import resource
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("workers.front")

CLONE_NEWNET = 0x40000000
RESCAN_SECONDS = 1.0
# front.d's time of change is trusted once older than this when it was listed (below).
SETTLED_SECONDS = 1.0
FULL_SCAN_SECONDS = 60.0  # every route file looked at again (one edited in place)
CONNECT_TIMEOUT = 10.0
IDLE_SECONDS = 300.0  # a direction with no byte for this long is closed
CLOSE_GRACE_SECONDS = 30.0  # after the client is done, for the app's last bytes
MAX_CONNECTIONS_PER_APP = 1024
CHUNK = 65536
SOCKET_MODE = 0o666  # the host root (0711) and front/ decide who may reach the sockets
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Route:
    app: str
    netns: str
    port: int
    listen: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path) -> Route:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(path.stem, data["netns"], int(data["port"]), tuple(data.get("listen", ())))


FileKey = tuple[int, int, int]  # inode, time of change (ns), size: a file replaced or edited


class RouteFiles:
    """The routes in ``front.d``, read again only where something changed: reading and
    parsing every app's file at every rescan cost the front a share of a core that grew
    with the apps (7.3 ms a second at 200 apps, 50 ms at 1,000)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[str, tuple[FileKey, Route]] = {}
        self.current: dict[str, Route] = {}  # the same object until something changed
        self.listed: tuple[int, int] | None = None  # the directory's inode and mtime then
        self.listed_at = 0.0  # time.time() of the last listing
        self.next_full = 0.0  # time.monotonic() of the next look at every file

    def routes(self) -> dict[str, Route]:
        try:
            info = self.directory.stat()
        except OSError:  # not made yet
            if self.files:
                self.files, self.current = {}, {}
            self.listed = None
            return self.current
        mark = (info.st_ino, info.st_mtime_ns)
        # A route written or removed changes the directory (workers.files.atomic_write
        # renames). Its time has a clock tick's resolution: a change in the same tick as
        # the last listing leaves it as it was, so it is trusted only when it was already
        # SETTLED_SECONDS old at that listing. A file edited in place leaves the directory
        # as it was: every file is looked at every FULL_SCAN_SECONDS.
        settled = mark == self.listed and self.listed_at - info.st_mtime_ns / 1e9 > SETTLED_SECONDS
        if not settled or time.monotonic() >= self.next_full:
            self.listed, self.listed_at = mark, time.time()
            self.next_full = time.monotonic() + FULL_SCAN_SECONDS
            self._list()
        return self.current

    def _list(self) -> None:
        files: dict[str, tuple[FileKey, Route]] = {}
        with os.scandir(self.directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if not entry.name.endswith(".json"):
                    continue
                name = entry.name.removesuffix(".json")
                try:
                    info = entry.stat()
                    key = (info.st_ino, info.st_mtime_ns, info.st_size)
                    known = self.files.get(name)
                    route = known[1] if known and known[0] == key else Route.load(Path(entry))
                except (OSError, ValueError, KeyError) as exc:
                    log.warning("%s: unreadable route: %s", entry.path, exc)
                    self.next_full = 0.0  # looked at again at the next rescan
                    continue
                files[name] = (key, route)
        if files != self.files:
            self.current = {name: route for name, (_key, route) in files.items()}
        self.files = files


def route_path(host_root: Path, app: str) -> Path:
    return host_root / "conf" / "front.d" / f"{app}.json"


def socket_path(host_root: Path, app: str) -> Path:
    return host_root / "front" / f"{app}.sock"


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def socket_in_netns(netns: str) -> socket.socket:
    """A TCP socket that belongs to the network namespace at ``netns``. setns() applies to
    the calling thread only; we switch, make the socket, and switch back at once."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        _setns(target)
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


class _Activity:
    """When bytes last moved, either way, on one relayed connection."""

    def __init__(self) -> None:
        self.last = asyncio.get_running_loop().time()

    def touch(self) -> None:
        self.last = asyncio.get_running_loop().time()

    async def until_idle(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        while (left := self.last + seconds - loop.time()) > 0:
            await asyncio.sleep(left)


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, activity: _Activity
) -> None:
    try:
        while data := await reader.read(CHUNK):
            activity.touch()
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def _relay_both(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    app: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    """Both directions until the app is done, or nothing has moved for IDLE_SECONDS, or the
    client has been gone for CLOSE_GRACE_SECONDS: an app that never answers or never closes
    must not hold the front's descriptors."""
    activity = _Activity()
    upstream = asyncio.ensure_future(_pipe(client[0], app[1], activity))
    downstream = asyncio.ensure_future(_pipe(app[0], client[1], activity))
    idle = asyncio.ensure_future(activity.until_idle(IDLE_SECONDS))
    try:
        await asyncio.wait({downstream, idle, upstream}, return_when=asyncio.FIRST_COMPLETED)
        if upstream.done() and not downstream.done() and not idle.done():
            await asyncio.wait(
                {downstream, idle}, timeout=CLOSE_GRACE_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
    finally:
        for task in (upstream, downstream, idle):
            task.cancel()
        for writer in (app[1], client[1]):
            writer.close()


@dataclass
class Served:
    route: Route
    servers: list[asyncio.base_events.Server] = field(default_factory=list)
    connections: int = 0  # open now; at most MAX_CONNECTIONS_PER_APP


class Front:
    def __init__(self, host_root: Path) -> None:
        self.host_root = host_root
        self.served: dict[str, Served] = {}
        self.route_files = RouteFiles(host_root / "conf" / "front.d")
        self.synced: dict[str, Route] | None = None  # the routes all served, if all were

    async def relay(
        self, route: Route, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        try:
            upstream = socket_in_netns(route.netns)
        except OSError as exc:  # no namespace (the app is being deleted), no descriptors
            log.info("%s: cannot reach its namespace: %s", route.app, exc)
            client_w.close()
            return
        upstream.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.sock_connect(upstream, ("127.0.0.1", route.port)), CONNECT_TIMEOUT
            )
            app_r, app_w = await asyncio.open_connection(sock=upstream)
        except (TimeoutError, OSError) as exc:
            upstream.close()
            log.info("%s: app not reachable on port %d: %s", route.app, route.port, exc)
            client_w.close()
            return
        await _relay_both((client_r, client_w), (app_r, app_w))

    async def start(self, route: Route) -> Served:
        served = Served(route)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # One app's visitors (or an app that never answers) cannot use up the
            # descriptors every other app's visitors need.
            if served.connections >= MAX_CONNECTIONS_PER_APP:
                writer.close()
                return
            served.connections += 1
            try:
                await self.relay(served.route, reader, writer)
            finally:
                served.connections -= 1

        path = socket_path(self.host_root, route.app)
        path.parent.mkdir(mode=0o755, exist_ok=True)
        # Bound and listening under a temporary name, then renamed: the web server never
        # finds the path missing, or there but refusing connections.
        temporary = path.with_name(f".{path.name}.new")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        served.servers.append(await asyncio.start_unix_server(handle, path=str(temporary)))
        os.chmod(temporary, SOCKET_MODE)
        os.replace(temporary, path)
        for address in route.listen:
            kind, _, rest = address.partition(":")
            host, _, port = rest.rpartition(":")
            if kind != "tcp" or not port.isdigit():
                log.warning("%s: ignoring listen address %r", route.app, address)
                continue
            server = await asyncio.start_server(
                handle, host=host, port=int(port), reuse_address=True
            )
            served.servers.append(server)
        log.info("%s: serving port %d of %s", route.app, route.port, route.netns)
        return served

    async def stop(self, app: str) -> None:
        """Stop listening for ``app``; relays in progress end on their own (waiting for
        them here would let one app's open connection hold up every route's change)."""
        served = self.served.pop(app)
        for server in served.servers:
            server.close()
        with contextlib.suppress(FileNotFoundError):
            socket_path(self.host_root, app).unlink()

    def wanted(self) -> dict[str, Route]:
        return self.route_files.routes()

    async def sync(self) -> None:
        wanted = self.wanted()
        if wanted is self.synced:  # nothing changed since they were all served
            return
        self.synced = None
        for app in list(self.served):
            if wanted.get(app) != self.served[app].route:
                await self.stop(app)
        for app, route in wanted.items():
            if app not in self.served:
                try:
                    self.served[app] = await self.start(route)
                except OSError as exc:
                    log.warning("%s: cannot listen: %s", app, exc)
        if set(self.served) == set(wanted):
            self.synced = wanted

    async def run(self, once: bool = False) -> None:
        while True:
            try:
                await self.sync()
            except OSError as exc:  # out of descriptors for a moment: keep what is served
                log.warning("rescan failed: %s", exc)
            if once:
                return
            await asyncio.sleep(RESCAN_SECONDS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.front", description=__doc__)
    parser.add_argument("--host-root", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Two descriptors per relayed connection: take all the kernel allows.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(Front(args.host_root.absolute()).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
