"""The app file: its shape, the diff against an app, applying it, and writing it back.

Applying runs ``hosting.commands.apply_spec`` with RQ's Queue replaced by a recorder (the
``enqueued`` fixture of test_commands): the Job rows are real. The real runtimes and
workers are in tests/workers/test_app_file.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hosting import commands, services
from hosting.app_spec import SpecError, read_spec, spec_of, spec_text
from hosting.commands import Actor
from hosting.models import App, Job
from hosting.spec_plan import plan
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.hosting.test_commands import Enqueued, enqueued  # noqa: F401 (a fixture)

OPERATOR = Actor.operator("cli:root")


@pytest.fixture
def shop(session: Session) -> App:
    host = services.create_host(session, "h1", "/srv/h1")
    tenant = services.create_tenant(session, "Acme")
    app = services.create_app(session, tenant, host, "shop", "python")
    services.update_service(
        session, services.service_named(session, app, "app"), {"environment": {"MODE": "prod"}}
    )
    services.add_service(
        session, app, "custom", "worker", {"command": "rq worker default", "numprocs": 2}
    )
    services.add_service(session, app, "custom", "cron", {"command": "python cron.py"})
    services.add_service(session, app, "memcached", enabled=False)
    session.commit()
    return app


def jobs(session: Session) -> int:
    return session.scalar(select(func.count(Job.id)))


def test_export_then_plan_is_empty_and_reads_back_the_same(shop: App) -> None:
    text = spec_text(spec_of(shop))
    assert text.splitlines()[1:] == [
        'name = "shop"',
        'host = "h1"',
        'tech = "python"',
        "",
        "[environment]",
        'MODE = "prod"',
        "",
        "[services.memcached]",
        "enabled = false",
        "",
        "[programs.worker]",
        'command = "rq worker default"',
        "numprocs = 2",
        "",
        "[programs.cron]",
        'command = "python cron.py"',
    ]
    assert plan(shop, read_spec(text, "export.toml")).changes == ()


def test_the_diff_is_field_by_field(shop: App) -> None:
    text = spec_text(spec_of(shop))
    text = text.replace("numprocs = 2", "numprocs = 4\nstopwaitsecs = 10")  # 10: the default
    text = text.replace('MODE = "prod"', 'MODE = "test"\nDEBUG = "1"')
    text = text.replace("enabled = false", "memory_mb = 128")
    text = text[: text.index("[programs.cron]")] + '[programs.mail]\ncommand = "mailer"\n'
    result = plan(shop, read_spec(text, "app.toml"))
    assert result.lines() == [
        '~ environment.MODE: "prod" -> "test"',
        '~ environment.DEBUG: (none) -> "1"',
        "~ services.memcached.enabled: false -> true",
        "~ services.memcached.memory_mb: 64 -> 128",
        "~ programs.worker.numprocs: 2 -> 4",
        '+ programs.mail: added (command = "mailer")',
        "- programs.cron: removed",
        "restarts: app, worker",
    ]


def test_every_bad_value_is_named_with_its_file_field_and_value(shop: App) -> None:
    text = """
name = "shop"
[app]
workers = 99
[services.nginx]
[services.cron]
[programs.worker]
command = "a ; b"
numprocs = 0
directory = "../../etc"
[programs."Bad Name"]
command = "x"
"""
    with pytest.raises(SpecError) as refused:
        plan(shop, read_spec(text, "app.toml"))
    assert [str(each) for each in refused.value.every] == [
        "app.toml: app.workers = 99: must be between 1 and 32, not 99",
        "app.toml: services.nginx: no such service; a file adds only memcached, redis services",
        "app.toml: services.cron: the app has 'cron' as a custom program: write it as"
        " [programs.cron]",
        "app.toml: programs.worker.command = \"a ; b\": must not contain ';' or '#' after a"
        " space (it starts a comment)",
        "app.toml: programs.worker.numprocs = 0: must be between 1 and 16, not 0",
        "app.toml: programs.worker.directory = \"../../etc\": '../../etc' must not contain '..'",
        "app.toml: programs.Bad Name = \"Bad Name\": 'Bad Name' is not a valid name: use 1 to"
        " 40 of a-z, 0-9, '_', '-'",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = ", "app.toml: file: not valid TOML: Invalid value (at end of document)"),
        ("[deploy]\nbefore = ['make']", "app.toml: deploy: deploy hooks are not part of"),
        ("colour = 'red'", "app.toml: colour: unknown key; known: name, host, tech,"),
        ("app = 1", "app.toml: app = 1: must be a table ([app])"),
        ("[app]\nenvironment = {A = '1'}", "app.toml: app.environment: write it as [environment]"),
        ("[programs.x]\nkind = 'redis'", 'app.toml: programs.x.kind = "redis": programs are'),
        ("[services.redis]\nenabled = 'yes'", 'services.redis.enabled = "yes": must be true or'),
    ],
)
def test_the_shape_of_the_file_is_checked(text: str, message: str) -> None:
    with pytest.raises(SpecError) as refused:
        read_spec(text, "app.toml")
    assert message in str(refused.value)


def test_rules_across_keys_are_named_too(shop: App) -> None:
    with pytest.raises(SpecError) as refused:
        plan(shop, read_spec('[environment]\nPORT = "1"\n', "app.toml"))
    assert str(refused.value) == (
        'app.toml: environment.PORT = "1": set it with the port key instead'
    )


def test_identity_must_match_the_app(shop: App) -> None:
    text = 'name = "blog"\nhost = "h1"\ntech = "node"\n'
    with pytest.raises(SpecError) as refused:
        plan(shop, read_spec(text, "app.toml"))
    assert [str(e) for e in refused.value.every] == [
        'app.toml: name = "blog": app shop\'s name is shop: another app?',
        'app.toml: tech = "node": app shop\'s tech is python: tech is fixed when an app is created',
    ]


def test_apply_is_one_job_and_applying_again_is_none(
    session: Session,
    shop: App,
    enqueued: Enqueued,  # noqa: F811 (the fixture)
) -> None:
    text = spec_text(spec_of(shop)).replace("numprocs = 2", "numprocs = 3")
    text = text.replace("enabled = false", "socket = true")
    text = text[: text.index("[programs.cron]")] + "[services.redis]\n"
    before = jobs(session)
    result, job = commands.apply_spec(session, None, OPERATOR, shop, read_spec(text, "a.toml"))
    assert job is not None and job.kind == "apply_services"
    assert job.title == "Apply app file: 5 changes (cron, memcached, redis, worker)"
    assert jobs(session) == before + 1 and len(enqueued.calls) == 1
    by_name = {s.name: s for s in shop.services}
    assert "cron" not in by_name
    assert by_name["worker"].settings == {"command": "rq worker default", "numprocs": 3}
    assert by_name["memcached"].enabled and by_name["memcached"].settings == {"socket": True}
    assert by_name["redis"].enabled and by_name["redis"].kind == "redis"
    assert [change.field for change in result.changes] == [
        "services.memcached.enabled",
        "services.memcached.socket",
        "services.redis",
        "programs.worker.numprocs",
        "programs.cron",
    ]
    again, none = commands.apply_spec(session, None, OPERATOR, shop, read_spec(text, "a.toml"))
    assert none is None and again.changes == () and jobs(session) == before + 1


def test_an_error_while_applying_names_the_file(
    session: Session,
    shop: App,
    enqueued: Enqueued,  # noqa: F811 (the fixture)
) -> None:
    """A port another service holds is found when the change is made: named all the same."""
    text = spec_text(spec_of(shop)) + "[services.redis]\nport = 8080\n"
    with pytest.raises(SpecError, match=r"a.toml: services.redis.port = 8080: port 8080 is used"):
        commands.apply_spec(session, None, OPERATOR, shop, read_spec(text, "a.toml"))
    session.rollback()
    assert enqueued.calls == []


def test_the_documented_example_applies_to_a_python_app(session: Session, shop: App) -> None:
    """examples/shop.toml (docs/APP_FILE.md): its changes against the shop above."""
    text = (Path(__file__).resolve().parents[2] / "examples" / "shop.toml").read_text()
    lines = plan(shop, read_spec(text, "shop.toml")).lines()
    assert lines[:3] == [
        '~ environment.MODE: "prod" -> (none)',
        '~ environment.DJANGO_SETTINGS_MODULE: (none) -> "shop.settings"',
        "~ app.workers: 2 -> 3",
    ]
    assert "~ programs.worker.numprocs: 2 -> 2" not in lines
    assert '+ programs.scheduler: added (command = "/srv/app/.venv/bin/python manage.py' in (
        "\n".join(lines)
    )
