"""The front's routes (workers.front.RouteFiles): front.d is read again only where
something changed, and no change is missed, even one in the same clock tick as a listing."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from workers import front
from workers.files import atomic_write


def write_route(directory: Path, app: str, port: int) -> None:
    route = {"netns": f"/run/netns/{app}", "port": port, "listen": []}
    atomic_write(directory / f"{app}.json", json.dumps(route))


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "conf" / "front.d"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The route files read (Route.load), in order."""
    read: list[str] = []
    load = front.Route.load

    def counting(path: Path) -> front.Route:
        read.append(path.name)
        return load(path)

    monkeypatch.setattr(front.Route, "load", counting)
    return read


def settle(directory: Path) -> None:
    """front.d as if last changed a while ago (older than SETTLED_SECONDS)."""
    then = time.time_ns() - 5 * 10**9
    os.utime(directory, ns=(then, then))


def test_an_unchanged_directory_is_not_read_again(directory: Path, loads: list[str]) -> None:
    write_route(directory, "shop", 8080)
    write_route(directory, "blog", 8081)
    settle(directory)
    files = front.RouteFiles(directory)
    first = files.routes()
    assert {name: route.port for name, route in first.items()} == {"shop": 8080, "blog": 8081}
    assert sorted(loads) == ["blog.json", "shop.json"]
    for _ in range(3):
        assert files.routes() is first  # the same routes: the front has nothing to do
    assert len(loads) == 2


def test_only_the_changed_file_is_read_again(directory: Path, loads: list[str]) -> None:
    write_route(directory, "shop", 8080)
    write_route(directory, "blog", 8081)
    files = front.RouteFiles(directory)
    files.routes()
    loads.clear()
    write_route(directory, "shop", 9090)
    (directory / "blog.json").unlink()
    write_route(directory, "wiki", 8082)
    routes = files.routes()
    assert {name: route.port for name, route in routes.items()} == {"shop": 9090, "wiki": 8082}
    assert sorted(loads) == ["shop.json", "wiki.json"]


def test_a_change_in_the_same_tick_as_the_listing_is_seen(directory: Path) -> None:
    """A second change leaving front.d's time as the listing saw it (same clock tick) is
    still seen: a directory time that recent is not trusted."""
    write_route(directory, "shop", 8080)
    files = front.RouteFiles(directory)
    assert files.routes()["shop"].port == 8080
    before = directory.stat()
    write_route(directory, "shop", 9090)
    os.utime(directory, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same tick
    assert directory.stat().st_mtime_ns == before.st_mtime_ns
    assert files.routes()["shop"].port == 9090


def test_a_file_edited_in_place_is_seen_at_the_next_full_look(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_route(directory, "shop", 8080)
    settle(directory)
    files = front.RouteFiles(directory)
    assert files.routes()["shop"].port == 8080
    path = directory / "shop.json"
    path.write_text(json.dumps({"netns": "/run/netns/shop", "port": 9090}))  # in place
    settle(directory)
    files.listed = (directory.stat().st_ino, directory.stat().st_mtime_ns)
    assert files.routes()["shop"].port == 8080  # the directory did not change
    files.next_full = time.monotonic()  # FULL_SCAN_SECONDS later
    assert files.routes()["shop"].port == 9090


def test_an_unreadable_route_is_tried_again_at_the_next_rescan(directory: Path) -> None:
    (directory / "shop.json").write_text("{not json")
    settle(directory)
    files = front.RouteFiles(directory)
    assert files.routes() == {}
    (directory / "shop.json").write_text(json.dumps({"netns": "/run/netns/shop", "port": 80}))
    settle(directory)  # the directory as it was: only the file changed
    assert files.routes()["shop"].port == 80


def test_no_directory_no_routes(tmp_path: Path) -> None:
    files = front.RouteFiles(tmp_path / "missing")
    assert files.routes() == {}
    (tmp_path / "missing").mkdir()
    write_route(tmp_path / "missing", "shop", 8080)
    assert set(files.routes()) == {"shop"}
