"""Per-app resources: the database session factory, the Redis connection, Flask-Login and
CSRF protection. Each has an ``init_app`` step; views reach them through the getters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask, current_app, g, has_request_context, jsonify, redirect, request, url_for
from flask import session as flask_session
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from hosting import db, login_sessions
from hosting.models import User
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

login_manager = LoginManager()
csrf = CSRFProtect()


# Requests that only read: their session is the read-only one (see ``get_session``).
READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Databases:
    """The panel's two ways into the database: ``writes`` (IMMEDIATE on SQLite) and
    ``reads`` (``db.make_read_engine``: on SQLite a DEFERRED transaction that takes no
    write lock and refuses every write)."""

    write_engine: Engine
    read_engine: Engine
    writes: sessionmaker[Session]
    reads: sessionmaker[Session]

    @classmethod
    def open(cls, url: str) -> Databases:
        write_engine, read_engine = db.make_engine(url), db.make_read_engine(url)
        return cls(
            write_engine,
            read_engine,
            db.make_session_factory(write_engine),
            db.make_session_factory(read_engine),
        )

    def dispose(self) -> None:
        """Close every pooled connection (both engines)."""
        self.write_engine.dispose()
        self.read_engine.dispose()

    def commit_credential_check(self, session: Session) -> None:
        """End the transaction that checked a login session or an API token, keeping the
        credential's last use if ``tokens.mark_used`` found one due. A read-only session
        cannot write it: the new time goes through a short write transaction of its own
        (once a minute at most per credential) and the read-only one ends without writing."""
        reads = session.bind is self.read_engine
        uses = [(type(row), row.id, row.last_used_at) for row in session.dirty] if reads else []
        if not uses:
            session.commit()  # on the read-only session: nothing to write, it just ends
            return
        session.rollback()
        with db.session_scope(self.writes) as writes:
            for model, row_id, used_at in uses:
                writes.execute(update(model).where(model.id == row_id).values(last_used_at=used_at))


def init_db(app: Flask) -> None:
    app.extensions["hosting_databases"] = Databases.open(app.config["DATABASE_URL"])
    app.teardown_appcontext(_close_session)


def databases(app: Flask | None = None) -> Databases:
    return (app or current_app).extensions["hosting_databases"]


def get_session() -> Session:
    """The request's database session (one per app context, closed at teardown). A GET or
    HEAD request's is read-only (``Databases.reads``): on SQLite its transaction takes no
    write lock, so a client polling the status many times a second never holds up a worker
    claiming a job. The only write such a request makes, a credential's last use, goes
    through ``Databases.commit_credential_check``. Other requests, and code outside a
    request, write."""
    if "db_session" not in g:
        reads = has_request_context() and request.method in READ_METHODS
        factory = databases().reads if reads else databases().writes
        g.db_session = factory()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def init_redis(app: Flask) -> None:
    if "redis" not in app.extensions:  # tests may hand in their own connection
        app.extensions["redis"] = redis.Redis.from_url(app.config["REDIS_URL"])


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]


def get_quick_redis() -> redis.Redis:
    """The same Redis through a client that gives up at once: no retries (redis-py's
    default backoff spends 3 to 5 s on a call to a Redis that is down or refuses us) and
    half a second to connect or answer. For what must never hold a request up, such as
    counting it for /metrics."""
    app = current_app
    if "redis_quick" not in app.extensions:  # made once per process; a race makes two
        pool = get_redis().connection_pool
        settings = {
            **pool.connection_kwargs,
            "retry": Retry(NoBackoff(), 0),
            "socket_timeout": 0.5,
            "socket_connect_timeout": 0.5,
        }
        quick = redis.ConnectionPool(connection_class=pool.connection_class, **settings)
        app.extensions["redis_quick"] = redis.Redis(connection_pool=quick)
    return app.extensions["redis_quick"]


def wants_json() -> bool:
    """Requests from our own scripts (and the job/status endpoints) get JSON errors."""
    if request.path.startswith("/api/") or request.path.endswith(".json"):
        return True
    accept = request.accept_mimetypes
    return accept["application/json"] > accept["text/html"]


class LoginUser:
    """What Flask-Login keeps as ``current_user``: the ORM row plus the attributes Flask-Login
    asks for (hosting's User stays free of Flask)."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, row: User) -> None:
        self.row = row

    @property
    def is_active(self) -> bool:
        return bool(self.row.is_active)

    @property
    def is_admin(self) -> bool:
        return bool(self.row.is_admin)

    @property
    def email(self) -> str:
        return self.row.email

    def get_id(self) -> str:
        return str(self.row.id)


# The session cookie's key for the login session's id (hosting.login_sessions).
LOGIN_SESSION_KEY = "login_session"


@login_manager.user_loader
def _load_user(user_id: str) -> LoginUser | None:
    """The cookie's user, only while its login session lives on the server: a cookie copied
    before logout names a revoked session and logs no one in."""
    try:
        wanted = int(user_id)
    except ValueError:
        return None
    session = get_session()
    user = login_sessions.session_user(session, flask_session.get(LOGIN_SESSION_KEY), wanted)
    if user is None:
        session.rollback()
        return None
    databases().commit_credential_check(session)  # the session's last use, when it is due
    return LoginUser(user)


def me() -> User:
    """The logged-in user's row (views behind login_required only)."""
    from flask_login import current_user

    return current_user.row


@login_manager.unauthorized_handler
def _unauthorized() -> Any:
    if wants_json():
        response = jsonify(error={"message": "log in first", "field": None})
        response.status_code = 401
        return response
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    # "strong": a session cookie replayed from another address/agent is dropped.
    login_manager.session_protection = "strong"


def init_csrf(app: Flask) -> None:
    csrf.init_app(app)
