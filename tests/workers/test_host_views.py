"""How the host runtime sees apps' runtimes (``workers.tenants.host_views``): a few apps are
asked about one by one, many in one ``getAllProcessInfo``; both give the same views, on a
real runtime with a running, a failing and a missing app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import ours_on_socket, program, wait_until
from workers import tenants
from workers.runtime import Runtime
from workers.tenants import host_views, tenant_program


@pytest.fixture
def host() -> Iterator[Runtime]:
    programs = {
        tenant_program("up"): program("sleep 300"),
        tenant_program("bad"): program("sh -c 'echo Error: no config; exit 3'", startretries=0),
    }
    with (
        ours_on_socket("hv-", programs) as made,
        Runtime(f"unix://{made.workdir / 'supervisor.sock'}", timeout=10) as runtime,
    ):
        yield runtime


def test_one_by_one_and_all_at_once_see_the_same(
    host: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["up", "bad", "missing"]

    def settled() -> bool:
        if not host.is_up():
            return False
        states = {info["group"]: info["statename"] for info in host.processes()}
        return states == {tenant_program("up"): "RUNNING", tenant_program("bad"): "FATAL"}

    wait_until(settled, 15, "tenant-up RUNNING and tenant-bad FATAL")
    calls: list[str] = []
    call = host.call
    monkeypatch.setattr(host, "call", lambda method, *a: calls.append(method) or call(method, *a))
    few = host_views(host, names)
    assert "getAllProcessInfo" not in calls
    monkeypatch.setattr(tenants, "FEW_APPS", 0)
    calls.clear()
    many = host_views(host, names)
    assert calls.count("getAllProcessInfo") == 1
    assert few == many
    assert set(few) == {"up", "bad"}  # not run by the host: no view
    assert few["up"].state == "RUNNING" and not few["up"].down
    assert few["bad"].state == "FATAL" and "Error: no config" in few["bad"].cause
