"""Panel login sessions kept on the server, so that logging out ends one for good.

Flask's session is a signed cookie: on its own, a copy taken before logout would still log
in after it. So a login makes a row here and the cookie carries only its random id (32
bytes, like an API token's secret: its SHA-256 is what is stored); every request looks the
row up, and logout or deactivating the user revokes it. Functions flush, never commit.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hosting.models import LoginSession, User, utcnow
from hosting.tokens import mark_used, secret_hash


def start_session(session: Session, user: User) -> str:
    """A new login session of ``user``; returns the id for the cookie (kept nowhere else)."""
    plaintext = secrets.token_urlsafe(32)
    session.add(LoginSession(user=user, token_hash=secret_hash(plaintext)))
    session.flush()
    return plaintext


def session_user(session: Session, plaintext: str | None, user_id: int) -> User | None:
    """The active user ``user_id`` if ``plaintext`` is a live login session of theirs."""
    if not plaintext:
        return None
    row = session.scalars(
        select(LoginSession).where(LoginSession.token_hash == secret_hash(plaintext))
    ).one_or_none()
    if row is None or row.revoked_at is not None or row.user_id != user_id:
        return None
    if not row.user.is_active:
        return None
    mark_used(row)
    return row.user


def end_session(session: Session, plaintext: str | None) -> None:
    """Revoke one login session (logout); an unknown or empty id is no error."""
    if plaintext:
        session.execute(
            update(LoginSession)
            .where(LoginSession.token_hash == secret_hash(plaintext))
            .where(LoginSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


def end_user_sessions(session: Session, user: User) -> None:
    """Revoke every login session of ``user`` (deactivated, or a new password)."""
    session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user.id)
        .where(LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
