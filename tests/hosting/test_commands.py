"""The command layer every surface calls: who may do what, what each action enqueues.

RQ's Queue is replaced by a recorder (no Redis here): ``enqueue_job`` itself runs for real,
so its argument checks, the Job row and the commit are those the panel and CLI get.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hosting import commands, services
from hosting.commands import Actor
from hosting.errors import InvalidInput, NotFound
from hosting.models import App, Host, Job, Tenant, User
from sqlalchemy.orm import Session

rq = pytest.importorskip("rq")


@dataclass
class Enqueued:
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    serializers: list[Any] = field(default_factory=list)


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> Enqueued:
    record = Enqueued()

    class RecordingQueue:
        def __init__(self, name: str, connection: Any = None, serializer: Any = None) -> None:
            self.name = name
            record.serializers.append(serializer)

        def enqueue(self, function: str, *args: Any, **options: Any) -> None:
            record.calls.append((self.name, args))

    monkeypatch.setattr(rq, "Queue", RecordingQueue)
    return record


@dataclass
class World:
    h1: Host
    h2: Host
    acme: Tenant
    globex: Tenant
    alice: User  # member of acme
    root: User  # admin
    shop: App  # acme on h1 (python: a single `app` program)
    blog: App  # globex on h1
    wiki: App  # acme on h2, and a second `shop` on h2 for the ambiguity test


@pytest.fixture
def world(session: Session, fast_passwords: None) -> World:
    h1 = services.create_host(session, "h1", "/srv/h1")
    h2 = services.create_host(session, "h2", "/srv/h2", queue="jobs-h2")
    acme = services.create_tenant(session, "Acme")
    globex = services.create_tenant(session, "Globex")
    alice = services.create_user(session, "alice@acme.example", "alice password")
    root = services.create_user(session, "root@host.example", "root password", is_admin=True)
    services.add_member(session, acme, alice)
    shop = services.create_app(session, acme, h1, "shop", "python")
    blog = services.create_app(session, globex, h1, "blog", "node")
    wiki = services.create_app(session, acme, h2, "wiki", "node")
    services.create_app(session, globex, h2, "shop", "node")
    session.commit()
    return World(h1, h2, acme, globex, alice, root, shop, blog, wiki)


OPERATOR = Actor.operator("cli:root")


def test_actors_say_who_they_are_and_what_they_see(world: World) -> None:
    alice, root = Actor.for_user(world.alice), Actor.for_user(world.root)
    assert (alice.label, alice.is_operator, alice.sees_everything) == (
        "user:alice@acme.example",
        False,
        False,
    )
    assert root.sees_everything and not root.is_operator
    assert OPERATOR.sees_everything and OPERATOR.is_operator and OPERATOR.user is None


def test_tenants_and_apps_are_scoped_to_users_not_operators(session: Session, world: World) -> None:
    alice = Actor.for_user(world.alice)
    assert [t.slug for t in commands.tenants_of(session, alice)] == ["acme"]
    assert [t.slug for t in commands.tenants_of(session, OPERATOR)] == ["acme", "globex"]
    assert commands.find_app(session, OPERATOR, "blog") is world.blog
    assert commands.find_app(session, alice, "h2/wiki") is world.wiki
    with pytest.raises(NotFound, match="no app 'blog'"):
        commands.find_app(session, alice, "blog")
    # alice sees one shop (acme's); an operator sees both and must say which host.
    assert commands.find_app(session, alice, "shop") is world.shop
    with pytest.raises(InvalidInput, match="on several hosts; say which: h1/shop, h2/shop"):
        commands.find_app(session, OPERATOR, "shop")


def test_program_targets_users_by_the_database_operators_by_the_runtime(
    session: Session, world: World, enqueued: Enqueued
) -> None:
    alice = Actor.for_user(world.alice)
    with pytest.raises(InvalidInput, match="runs no program 'cron'") as refused:
        commands.program_action(session, None, alice, world.shop, "cron", "restart")
    assert refused.value.field == "program"
    with pytest.raises(InvalidInput) as bad_action:
        commands.program_action(session, None, OPERATOR, world.shop, "cron", "explode")
    assert bad_action.value.field == "action"
    assert enqueued.calls == []

    # An operator may name a program the runtime has and the database does not know (a
    # tenant's own file): the job checks it against the runtime.
    job = commands.program_action(session, None, OPERATOR, world.shop, "cron", "restart")
    assert (job.kind, job.arguments, job.actor, job.user) == (
        "program_action",
        {"action": "restart", "program": "cron"},
        "cli:root",
        None,
    )
    job = commands.program_action(session, None, alice, world.shop, "all", "stop")
    assert (job.actor, job.user) == ("user:alice@acme.example", world.alice)
    assert enqueued.calls == [("host.h1", (job_id,)) for job_id in _job_ids(session)]


def _job_ids(session: Session) -> list[str]:
    return [job.id for job in session.query(Job).order_by(Job.created_at, Job.id)]


def test_read_log_checks_who_and_what_before_asking_the_host(
    session: Session, world: World, enqueued: Enqueued
) -> None:
    # The read itself (a worker answering through Redis) is tested end to end in
    # tests/workers/test_log_reads.py; here, what is refused before anything is asked.
    alice = Actor.for_user(world.alice)
    with pytest.raises(InvalidInput, match="runs no program 'nope'"):
        commands.read_log(session, None, alice, world.shop, "nope")
    with pytest.raises(InvalidInput, match="must be one of stdout, stderr"):
        commands.read_log(session, None, alice, world.shop, "app", "stdin")
    with pytest.raises(InvalidInput, match="from 1 to 1048576") as too_big:
        commands.read_log(session, None, OPERATOR, world.shop, "app", "stdout", 2**21)
    assert too_big.value.field == "bytes"
    assert enqueued.calls == []
    assert session.query(Job).count() == 0  # a read is never a Job


def test_each_change_is_titled_by_what_it_did(
    session: Session, world: World, enqueued: Enqueued
) -> None:
    alice = Actor.for_user(world.alice)
    shop = world.shop

    def title(result: Any) -> str:
        job = result[1] if isinstance(result, tuple) else result
        return session.get(Job, job.id).title

    assert title(commands.set_service_enabled(session, None, alice, shop, "redis", True)) == (
        "Enable Redis"
    )
    assert title(commands.set_service_enabled(session, None, alice, shop, "memcached", True)) == (
        "Enable Memcached"
    )
    assert title(commands.set_service_enabled(session, None, alice, shop, "memcached", False)) == (
        "Disable Memcached"
    )
    added = commands.save_custom_program(session, None, alice, shop, "worker", {"command": "w"})
    assert title(added) == "Add program worker"
    worker = added[0]
    changed = commands.save_custom_program(
        session, None, alice, shop, "worker", {"command": "w2"}, existing=worker
    )
    assert title(changed) == "Change program worker"
    assert title(commands.program_action(session, None, alice, shop, "app", "restart")) == (
        "Restart app"
    )
    assert title(commands.program_action(session, None, alice, shop, "worker", "stop")) == (
        "Stop program worker"
    )
    assert title(commands.remove_custom_program(session, None, alice, shop, worker)) == (
        "Remove program worker"
    )
    app, job = commands.create_app(session, None, alice, name="api", tech="node")
    assert title(job) == "Create app"
    assert title(commands.delete_app(session, None, alice, app)) == "Delete app"
    # Rows from before titles were stored are named from their kind and arguments.
    old = Job(kind="program_action", arguments={"action": "start", "program": "all"})
    assert commands.job_title(old) == "Start all programs"


def test_a_failed_job_is_retried_as_a_new_job_titled_after_it(
    session: Session, world: World, enqueued: Enqueued
) -> None:
    alice = Actor.for_user(world.alice)
    _service, job = commands.set_service_enabled(session, None, alice, world.shop, "redis", True)
    with pytest.raises(InvalidInput, match="only a failed job is retried; this one is queued"):
        commands.retry_job(session, None, alice, job)
    job.status, job.error = "failed", "config refused"
    session.commit()
    retry = commands.retry_job(session, None, alice, job)
    assert (retry.kind, retry.title, retry.status) == (
        "apply_services",
        "Retry: Enable Redis",
        "queued",
    )
    assert retry.id != job.id and retry.actor == "user:alice@acme.example"
    retry.status = "failed"
    again = commands.retry_job(session, None, OPERATOR, retry)
    assert again.title == "Retry: Enable Redis"  # not "Retry: Retry: ..."
    # Another tenant's job is not found, whatever its id.
    _service, theirs = commands.set_service_enabled(
        session, None, OPERATOR, world.blog, "redis", True
    )
    theirs.status = "failed"
    with pytest.raises(NotFound):
        commands.retry_job(session, None, alice, theirs)
    assert len(enqueued.calls) == 4


def test_a_program_named_all_is_refused(session: Session, world: World, enqueued: Enqueued) -> None:
    # "all" means every program to supervisorctl and to program actions.
    alice = Actor.for_user(world.alice)
    with pytest.raises(InvalidInput, match="'all' is reserved") as refused:
        commands.save_custom_program(session, None, alice, world.shop, "all", {"command": "x"})
    assert refused.value.field == "name"
    assert enqueued.calls == []


def test_toggles_add_enable_and_disable(session: Session, world: World, enqueued: Enqueued) -> None:
    service, job = commands.set_service_enabled(session, None, OPERATOR, world.shop, "redis", True)
    assert (service.kind, service.enabled, job.kind) == ("redis", True, "apply_services")
    service, _job = commands.set_service_enabled(
        session, None, OPERATOR, world.shop, "redis", False
    )
    assert service.enabled is False
    with pytest.raises(NotFound, match="has no service 'memcached'"):
        commands.set_service_enabled(session, None, OPERATOR, world.shop, "memcached", False)
    with pytest.raises(NotFound, match="has no service 'nginx'"):
        commands.set_service_enabled(session, None, OPERATOR, world.shop, "nginx", True)
    with pytest.raises(InvalidInput, match="cannot be disabled here"):
        commands.set_service_enabled(session, None, OPERATOR, world.shop, "app", False)
    assert len(enqueued.calls) == 2


def test_create_app_picks_tenant_and_host_by_who_asks(
    session: Session, world: World, enqueued: Enqueued
) -> None:
    alice = Actor.for_user(world.alice)
    app, job = commands.create_app(session, None, alice, name="api", tech="node")
    assert (app.tenant, job.kind, job.app) == (world.acme, "create_app", app)
    with pytest.raises(InvalidInput, match="only admins choose the host"):
        commands.create_app(session, None, alice, name="x", tech="node", host_ref="h2")
    with pytest.raises(InvalidInput, match="no tenant 'globex' of yours"):
        commands.create_app(session, None, alice, name="x", tech="node", tenant_ref="globex")

    # The operator names any tenant and host, and must name the tenant among several.
    with pytest.raises(InvalidInput, match="name the tenant"):
        commands.create_app(session, None, OPERATOR, name="x", tech="node")
    with pytest.raises(InvalidInput, match="no tenant 'initech'$"):
        commands.create_app(session, None, OPERATOR, name="x", tech="node", tenant_ref="initech")
    app, _job = commands.create_app(
        session, None, OPERATOR, name="ops", tech="node", tenant_ref="globex", host_ref="h2"
    )
    assert (app.tenant, app.host) == (world.globex, world.h2)
    assert [queue for queue, _args in enqueued.calls] == ["host.h1", "jobs-h2"]
