"""The enqueue-side API: validation before storing, tenant isolation, ports, job records."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hosting import services
from hosting.errors import InvalidInput, NotFound, ServiceSettingError
from hosting.models import App, Host, Job, Service, Tenant, User
from sqlalchemy import select
from sqlalchemy.orm import Session


@dataclass
class World:
    host: Host
    other_host: Host
    acme: Tenant
    globex: Tenant
    alice: User  # acme
    bob: User  # globex
    root: User  # admin
    shop: App  # acme, host h1
    blog: App  # globex, host h1
    wiki: App  # acme, host h2


@pytest.fixture
def world(session: Session, fast_passwords: None) -> World:
    host = services.create_host(session, "h1", "/srv/h1")
    other_host = services.create_host(session, "h2", "/srv/h2", queue="jobs-h2")
    acme = services.create_tenant(session, "Acme")
    globex = services.create_tenant(session, "Globex", slug="globex-corp")
    alice = services.create_user(session, "alice@acme.example", "alice password")
    bob = services.create_user(session, "bob@globex.example", "bob password")
    root = services.create_user(session, "root@host.example", "root password", is_admin=True)
    services.add_member(session, acme, alice, "owner")
    services.add_member(session, globex, bob)
    shop = services.create_app(session, acme, host, "shop", "python")
    blog = services.create_app(session, globex, host, "blog", "node")
    wiki = services.create_app(session, acme, other_host, "wiki", "custom", "bin/wiki --serve")
    session.commit()
    return World(host, other_host, acme, globex, alice, bob, root, shop, blog, wiki)


def names(apps: list[App]) -> list[str]:
    return sorted(app.name for app in apps)


def test_apps_visible_to_respects_tenants(session: Session, world: World) -> None:
    assert names(services.apps_visible_to(session, world.alice)) == ["shop", "wiki"]
    assert names(services.apps_visible_to(session, world.bob)) == ["blog"]
    assert names(services.apps_visible_to(session, world.root)) == ["blog", "shop", "wiki"]
    loner = services.create_user(session, "loner@x.example", "loner password")
    assert services.apps_visible_to(session, loner) == []


def test_get_app_for_hides_other_tenants_apps(session: Session, world: World) -> None:
    assert services.get_app_for(session, world.alice, world.shop.id) is world.shop
    with pytest.raises(NotFound):
        services.get_app_for(session, world.alice, world.blog.id)
    with pytest.raises(NotFound):
        services.get_app_for(session, world.bob, 10_000)
    assert services.get_app_for(session, world.root, world.blog.id) is world.blog


def test_membership_in_two_tenants(session: Session, world: World) -> None:
    services.add_member(session, world.globex, world.alice)
    assert names(services.apps_visible_to(session, world.alice)) == ["blog", "shop", "wiki"]


def test_jobs_visible_to_follow_apps(session: Session, world: World) -> None:
    services.record_job(session, "restart", {"app_id": world.shop.id}, app=world.shop)
    services.record_job(session, "restart", {"app_id": world.blog.id}, app=world.blog)
    services.record_job(session, "host-check", {}, actor="cli:root")
    assert [j.app_id for j in services.jobs_visible_to(session, world.alice)] == [world.shop.id]
    assert [j.app_id for j in services.jobs_visible_to(session, world.bob)] == [world.blog.id]
    assert len(services.jobs_visible_to(session, world.root)) == 3


def test_create_app_adds_its_app_service(session: Session, world: World) -> None:
    (service,) = world.shop.services
    assert (service.kind, service.name, service.enabled) == ("app", "app", True)
    assert world.shop.root == "/srv/h1/shop/srv"
    assert world.wiki.custom_command == "bin/wiki --serve"


@pytest.mark.parametrize(
    ("kwargs", "field", "match"),
    [
        ({"name": "Shop"}, "name", "not a valid app name"),
        ({"name": "-shop"}, "name", "not a valid app name"),
        ({"name": "all"}, "name", "'all' is reserved: it means every program"),
        ({"name": "a:b"}, "name", "not a valid app name"),
        ({"name": "shop"}, "name", "has an app named 'shop' already"),
        ({"tech": "cobol"}, "tech", "must be one of"),
        ({"tech": "custom"}, "custom_command", "needs a command"),
        ({"tech": "custom", "custom_command": "a\nb"}, "custom_command", "control"),
        ({"custom_command": "x"}, "custom_command", "only custom apps"),
    ],
)
def test_create_app_refuses(
    session: Session, world: World, kwargs: dict, field: str, match: str
) -> None:
    arguments = {"name": "new", "tech": "python", **kwargs}
    with pytest.raises(InvalidInput, match=match) as info:
        services.create_app(session, world.acme, world.host, **arguments)
    assert info.value.field == field


def test_same_app_name_on_another_host_is_fine(session: Session, world: World) -> None:
    app = services.create_app(session, world.globex, world.other_host, "shop", "php")
    assert app.root == "/srv/h2/shop/srv"


def test_hosts_tenants_refuse_bad_input(session: Session, world: World) -> None:
    with pytest.raises(InvalidInput, match="exists already"):
        services.create_host(session, "h1", "/srv/x")
    with pytest.raises(InvalidInput, match="another host") as info:
        services.create_host(session, "h3", "/srv/x", queue="jobs-h2")
    assert info.value.field == "queue"
    with pytest.raises(InvalidInput) as info:
        services.create_host(session, "h3", "relative/path")
    assert info.value.field == "apps_root"
    with pytest.raises(InvalidInput, match="taken") as info:
        services.create_tenant(session, "ACME")
    assert info.value.field == "slug"
    with pytest.raises(InvalidInput, match="role"):
        services.add_member(session, world.acme, world.bob, "king")


def count_services(session: Session) -> int:
    return len(session.scalars(select(Service)).all())


@pytest.mark.parametrize(
    ("kind", "name", "settings", "field"),
    [
        ("redis", None, {"port": "x"}, "port"),
        ("redis", "redis", {"maxmemory_mb": 0}, "maxmemory_mb"),
        ("custom", None, {"command": "x"}, "name"),
        ("custom", "evil", {"command": "ls\n[program:evil]"}, "command"),
        ("custom", "evil", {"command": "x", "directory": "../../etc"}, "directory"),
        ("custom", "evil", {"command": "x", "environment": {"A=B": "1"}}, "environment"),
        ("custom", "Evil", {"command": "x"}, "name"),
        ("app", "app", {}, "name"),  # exists already
        ("nope", "x", {}, "kind"),
    ],
)
def test_bad_services_are_refused_before_anything_is_stored(
    session: Session, world: World, kind: str, name: str | None, settings: dict, field: str
) -> None:
    before = count_services(session)
    with pytest.raises(ServiceSettingError) as info:
        services.add_service(session, world.shop, kind, name, settings)
    assert info.value.field == field
    assert count_services(session) == before


def test_settings_store_only_overrides_normalized(session: Session, world: World) -> None:
    worker = services.add_service(
        session, world.shop, "rq-worker", settings={"queues": "high, low", "numprocs": "2"}
    )
    assert worker.name == "worker"
    assert worker.settings == {"queues": ["high", "low"], "numprocs": 2}
    services.update_service(session, worker, {"numprocs": 3, "queues": None})
    assert worker.settings == {"numprocs": 3}
    with pytest.raises(ServiceSettingError, match="between 1 and 16"):
        services.update_service(session, worker, {"numprocs": 99})
    assert worker.settings == {"numprocs": 3}  # unchanged after a refusal
    services.update_service(session, worker, {"job_timeout": 60}, replace=True)
    assert worker.settings == {"job_timeout": 60}


def test_ports_are_per_app_and_never_shared_within_one(session: Session, world: World) -> None:
    def ports(app: App) -> dict[str, dict]:
        return {s.name: s.settings for s in app.services}

    # Every app has a network namespace of its own: each gets the defaults.
    assert ports(world.shop)["app"] == ports(world.blog)["app"] == ports(world.wiki)["app"] == {}
    for app in (world.shop, world.blog):
        assert services.add_service(session, app, "nginx").settings == {"upstream_port": 8080}
    # Within one app, a port is used once.
    with pytest.raises(ServiceSettingError, match="port 8080 is used by 'app'") as info:
        services.add_service(session, world.blog, "redis", settings={"port": 8080})
    assert info.value.field == "port"
    # A disabled service holds no port; enabling it again re-checks.
    redis = services.add_service(session, world.shop, "redis")
    services.disable_service(session, redis)
    other = services.add_service(session, world.shop, "redis", "cache", settings={"port": 6379})
    services.enable_service(session, redis)  # it never chose 6379: it moves
    assert redis.settings == {"port": 6380}
    services.disable_service(session, other)
    services.update_service(session, other, {"port": 6380})  # disabled: no check yet
    with pytest.raises(ServiceSettingError, match="port 6380") as info:
        services.enable_service(session, other)  # chosen explicitly: refused
    assert info.value.field == "port" and not other.enabled
    # Another app's services never stand in the way.
    assert services.add_service(session, world.blog, "redis").settings == {}


def test_nginx_follows_the_app_port(session: Session, world: World) -> None:
    nginx = services.add_service(session, world.shop, "nginx")
    assert nginx.settings["upstream_port"] == 8080
    services.update_service(session, world.shop.services[0], {"port": 9000})
    assert nginx.settings["upstream_port"] == 9000


def test_sockets_take_no_port(session: Session, world: World) -> None:
    a = services.add_service(session, world.shop, "redis", settings={"socket": True})
    b = services.add_service(session, world.blog, "redis", settings={"socket": True})
    assert a.settings == b.settings == {"socket": True}


def test_the_app_service_cannot_be_removed(session: Session, world: World) -> None:
    with pytest.raises(ServiceSettingError, match="cannot be removed"):
        services.remove_service(session, world.shop.services[0])
    services.disable_service(session, world.shop.services[0])
    assert not world.shop.services[0].enabled


def test_job_lifecycle_is_the_audit_record(session: Session, world: World) -> None:
    job = services.record_job(
        session, "apply-services", {"app_id": world.shop.id}, app=world.shop, user=world.alice
    )
    assert (job.status, job.actor, job.attempts) == ("queued", "user:alice@acme.example", 0)
    services.start_job(session, job.id)
    services.start_job(session, job.id)  # a retry
    assert (job.status, job.attempts) == ("running", 2)
    services.finish_job(session, job.id, error="app did not start", log_tail="Traceback...")
    assert (job.status, job.error, job.log_tail) == ("failed", "app did not start", "Traceback...")
    assert job.finished_at is not None and job.finished
    session.commit()
    assert session.get(Job, job.id).status == "failed"
    with pytest.raises(InvalidInput, match="JSON"):
        services.record_job(session, "x", {"app": world.shop})
    with pytest.raises(InvalidInput, match="job kind"):
        services.record_job(session, "Bad Kind", {})
    with pytest.raises(NotFound):
        services.start_job(session, "no-such-job")


def test_enabled_services_render_for_the_app(session: Session, world: World) -> None:
    from hosting.rendering import render_enabled_services

    redis = services.add_service(session, world.shop, "redis", settings={"socket": True})
    services.add_service(session, world.shop, "memcached", enabled=False)
    rendered = render_enabled_services(world.shop)
    assert [r.program_name for r in rendered] == ["app", "redis"]
    assert f"unixsocket {world.shop.root}/run/redis.sock" in rendered[1].files["conf/redis.conf"]
    assert redis.enabled
