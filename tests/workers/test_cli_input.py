"""hostingctl refuses bad input with a clear line and exit status 2, before it enqueues
anything: names the runtime reserves, and numbers past their bounds (no traceback)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hosting import db, services
from redis import Redis

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def database_url(sqlite_template: Path, base_dir: Path) -> str:
    path = base_dir / "hosting.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as session:
        services.create_host(session, "h1", str(base_dir / "apps"))
        services.create_tenant(session, "Acme", "acme")
        session.commit()
    engine.dispose()
    return url


def hostingctl(database_url: str, redis_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return done.returncode, done.stdout, done.stderr


def test_a_reserved_app_name_is_refused(database_url: str, redis_url: str) -> None:
    code, out, err = hostingctl(
        database_url, redis_url, "create-app", "acme", "h1", "all", "--tech", "python"
    )
    assert code == 2, (out, err)
    reason = "'all' is reserved: it means every program (supervisorctl's too)"
    assert err == f"hostingctl: name: {reason}\n"
    assert Redis.from_url(redis_url).keys("rq:*") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["jobs", "--limit", "99999999999999999999"], "argument --limit: must be from 1 to 10000"),
        (["jobs", "--limit", "0"], "argument --limit: must be from 1 to 10000, not 0"),
        (["jobs", "--limit", "ten"], "argument --limit: 'ten' is not a whole number"),
        (["--timeout", "1e400", "jobs"], "argument --timeout: must be from 0 to 604800, not 1e400"),
        (["--timeout", "nan", "jobs"], "argument --timeout: must be from 0 to 604800, not nan"),
        (["logs", "shop", "--bytes", "99999999999999999999"], "argument --bytes: must be from 1"),
        (
            ["host-config", "--host-root", "/nowhere", "--queue", "q", "--job-timeout", "-5"],
            "argument --job-timeout: must be from 1 to 86400, not -5",
        ),
    ],
)
def test_numbers_are_bounded(
    database_url: str, redis_url: str, args: list[str], message: str
) -> None:
    code, out, err = hostingctl(database_url, redis_url, *args)
    assert code == 2, (out, err)
    assert message in err
    assert "Traceback" not in err and out == ""


def test_numbers_within_bounds_work(database_url: str, redis_url: str) -> None:
    code, out, err = hostingctl(database_url, redis_url, "jobs", "--limit", "10000")
    assert (code, out, err) == (0, "", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["apply"], "hostingctl: apply: give an app, or -f FILE (--dry-run, --yes need -f)\n"),
        (["apply", "shop", "--dry-run"], "hostingctl: apply: give an app, or -f FILE"),
        (["apply", "-f", "/nowhere/app.toml"], "hostingctl: file: /nowhere/app.toml: cannot read"),
        (["apply", "-f", "-"], "hostingctl: yes: the file is standard input, so no answer"),
    ],
)
def test_apply_without_what_to_apply_is_refused(
    database_url: str, redis_url: str, args: list[str], message: str
) -> None:
    code, out, err = hostingctl(database_url, redis_url, *args)
    assert code == 2 and out == "", (out, err)
    assert err.startswith(message)


def test_an_app_file_without_a_name_needs_the_app(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "app.toml"
    path.write_text('[programs.worker]\ncommand = "rq worker"\n')
    code, out, err = hostingctl(database_url, redis_url, "apply", "-f", str(path), "--dry-run")
    assert code == 2 and out == "", (out, err)
    assert err == f"hostingctl: app: {path} has no name; name the app: apply -f FILE APP\n"


def test_apply_refuses_when_the_app_changed_while_it_asked(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """What is applied is what was shown: a change made meanwhile (here, by the panel while
    the operator read the diff) makes apply stop, not apply something else."""
    from hosting.models import Host, Tenant

    from workers import cli

    engine = db.make_engine(database_url)
    sessions = db.make_session_factory(engine)
    with sessions() as session:
        host = session.query(Host).one()
        app = services.create_app(session, session.query(Tenant).one(), host, "shop", "python")
        session.commit()
    path = tmp_path / "app.toml"
    path.write_text('name = "shop"\n[programs.worker]\ncommand = "rq worker"\n')

    def answer_while_someone_adds_a_program(question: str) -> bool:
        with sessions() as session:
            shop = session.get(type(app), app.id)
            services.add_service(session, shop, "custom", "cron", {"command": "cron.py"})
            session.commit()
        return True

    monkeypatch.setattr(cli, "confirm", answer_while_someone_adds_a_program)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert cli.main(["apply", "-f", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "+ programs.worker: added" in out
    assert err == "hostingctl: apply: h1/shop changed meanwhile; run apply again\n"
    assert Redis.from_url(redis_url).keys("rq:*") == []
    engine.dispose()
