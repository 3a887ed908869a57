"""API tokens: ``hst_<prefix>_<secret>``, shown once, stored as a SHA-256.

The prefix is public and indexed (it finds the row); the whole token is hashed, and the hash
compared in constant time. A random 32-byte secret needs no slow hash: it cannot be guessed
from its SHA-256 the way a password can.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from hosting.errors import InvalidInput, NotFound
from hosting.models import ApiToken, User, utcnow

# A token's or login session's last use is written at most this often: a page or script
# polling a status should not write to the database each time (on SQLite every write waits
# for the one lock, and the workers' claims wait behind it: issue 17's click latency).
LAST_USED_GRANULARITY = timedelta(minutes=1)


class Used(Protocol):
    last_used_at: datetime | None


def mark_used(row: Used) -> None:
    """Record a use of ``row`` (a token, a login session), unless one was recorded less than
    LAST_USED_GRANULARITY ago."""
    now, last = utcnow(), row.last_used_at
    if last is None or now - _aware(last) >= LAST_USED_GRANULARITY:
        row.last_used_at = now


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


TOKEN_MARK = "hst"
PREFIX_CHARS = 10
_PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def secret_hash(token: str) -> str:
    """The SHA-256 kept of a random secret (a token, a login session id)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_prefix() -> str:
    return "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_CHARS))


def create_token(session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row (flushed, not committed) and the plaintext, which is
    not stored anywhere and cannot be shown again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("name", "a token needs a name of 1 to 100 characters")
    prefix = _new_prefix()
    # The secret is URL-safe base64, which may contain '_' : split on the first two only.
    plaintext = f"{TOKEN_MARK}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(user=user, name=name, prefix=prefix, token_hash=secret_hash(plaintext))
    session.add(token)
    session.flush()
    return token, plaintext


def _prefix_of(plaintext: str) -> str | None:
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_MARK or len(parts[1]) != PREFIX_CHARS:
        return None
    return parts[1]


def verify_token(session: Session, plaintext: str) -> User | None:
    """The active user a valid, unrevoked token belongs to, or None. Records the use time
    (``mark_used``; the caller commits)."""
    prefix = _prefix_of(plaintext.strip())
    if prefix is None:
        return None
    token = session.scalars(select(ApiToken).where(ApiToken.prefix == prefix)).one_or_none()
    if token is None or token.revoked_at is not None:
        return None
    if not hmac.compare_digest(token.token_hash, secret_hash(plaintext.strip())):
        return None
    if not token.user.is_active:
        return None
    mark_used(token)
    return token.user


def revoke_token(session: Session, token: ApiToken) -> None:
    token.revoked_at = utcnow()
    session.flush()


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """``user``'s own tokens, newest first (the panel's tokens page and GET /api/v1/tokens)."""
    statement = select(ApiToken).where(ApiToken.user_id == user.id)
    return list(session.scalars(statement.order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_own_token(session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke ``user``'s token ``token_id`` (again: nothing changes); NotFound for a token
    that is not theirs, without telling whose it is."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(f"no token {token_id}")
    if token.revoked_at is None:
        revoke_token(session, token)
    return token
