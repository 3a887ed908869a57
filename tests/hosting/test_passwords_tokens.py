"""Password hashing and API tokens: nothing secret is stored in the clear."""

from __future__ import annotations

import hashlib

import pytest
from hosting import services, tokens
from hosting.errors import InvalidInput
from hosting.models import ApiToken
from hosting.passwords import hash_password, verify_password
from sqlalchemy import select
from sqlalchemy.orm import Session


def test_hash_is_salted_and_verifies() -> None:
    first, second = hash_password("s3cret pass"), hash_password("s3cret pass")
    assert first != second  # random salt
    assert "s3cret" not in first and first.startswith("scrypt$")
    assert verify_password("s3cret pass", first) and verify_password("s3cret pass", second)
    assert not verify_password("s3cret pasS", first)
    assert not verify_password("", first)


@pytest.mark.parametrize("stored", ["", "plain", "scrypt$1$2$3$!!$!!", "bcrypt$x$y$z$a$b"])
def test_malformed_hashes_never_verify(stored: str) -> None:
    assert verify_password("anything", stored) is False


def test_empty_password_is_refused() -> None:
    with pytest.raises(ValueError, match="password"):
        hash_password("")


def test_users_and_authentication(sqlite_session: Session) -> None:
    user = services.create_user(sqlite_session, " Alice@Example.COM ", "long enough")
    assert user.email == "alice@example.com" and user.password_hash != "long enough"
    assert services.authenticate(sqlite_session, "ALICE@example.com", "long enough") is user
    assert services.authenticate(sqlite_session, "alice@example.com", "wrong one!") is None
    assert services.authenticate(sqlite_session, "bob@example.com", "long enough") is None
    user.is_active = False
    assert services.authenticate(sqlite_session, "alice@example.com", "long enough") is None
    with pytest.raises(InvalidInput, match="registered already") as info:
        services.create_user(sqlite_session, "alice@example.com", "long enough")
    assert info.value.field == "email"
    with pytest.raises(InvalidInput, match="at least 8") as info:
        services.create_user(sqlite_session, "bob@example.com", "short")
    assert info.value.field == "password"


def test_tokens_are_stored_hashed_and_verify(sqlite_session: Session) -> None:
    user = services.create_user(sqlite_session, "a@example.com", "long enough")
    token, plaintext = tokens.create_token(sqlite_session, user, "deploy")
    stored = sqlite_session.scalars(select(ApiToken)).one()
    assert plaintext.startswith(f"hst_{stored.prefix}_")
    assert stored.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in (stored.token_hash, stored.prefix, stored.name)
    assert tokens.verify_token(sqlite_session, plaintext) is user
    assert stored.last_used_at is not None
    wrong_secret = plaintext[:-4] + ("aaaa" if not plaintext.endswith("aaaa") else "bbbb")
    for bad in (wrong_secret, "hst_x_y", "", "garbage", plaintext.replace("hst_", "xyz_")):
        assert tokens.verify_token(sqlite_session, bad) is None
    tokens.revoke_token(sqlite_session, token)
    assert tokens.verify_token(sqlite_session, plaintext) is None


def test_a_token_used_again_and_again_is_written_once_a_minute(session: Session) -> None:
    """A script polling the API's status must not write the database each time (on
    SQLite each write waits for the one lock, and so do the workers' claims behind it)."""
    from datetime import timedelta

    user = services.create_user(session, "a@example.com", "long enough")
    token, plaintext = tokens.create_token(session, user, "poller")
    assert tokens.verify_token(session, plaintext) is user
    session.commit()
    session.expire_all()
    used = token.last_used_at
    assert used is not None
    assert tokens.verify_token(session, plaintext) is user
    assert not session.dirty, "a second use within the minute changed the row"
    token.last_used_at = used - timedelta(minutes=2)
    session.commit()
    assert tokens.verify_token(session, plaintext) is user
    assert token in session.dirty
    session.commit()
    session.expire_all()
    assert token.last_used_at > used - timedelta(minutes=1)


def test_tokens_of_inactive_users_do_not_verify(sqlite_session: Session) -> None:
    user = services.create_user(sqlite_session, "a@example.com", "long enough")
    _token, plaintext = tokens.create_token(sqlite_session, user, "ci")
    user.is_active = False
    assert tokens.verify_token(sqlite_session, plaintext) is None
    with pytest.raises(InvalidInput, match="name"):
        tokens.create_token(sqlite_session, user, "  ")


def test_login_sessions_live_until_revoked(session: Session) -> None:
    """On both databases (SQLite gives times back naive, PostgreSQL aware)."""
    from datetime import timedelta

    from hosting import login_sessions
    from hosting.models import LoginSession

    alice = services.create_user(session, "alice@example.com", "long enough")
    bob = services.create_user(session, "bob@example.com", "long enough")
    first = login_sessions.start_session(session, alice)
    second = login_sessions.start_session(session, alice)
    session.commit()
    row = session.scalars(select(LoginSession).order_by(LoginSession.id)).first()
    assert row.token_hash == hashlib.sha256(first.encode()).hexdigest()
    assert login_sessions.session_user(session, first, alice.id) is alice
    assert login_sessions.session_user(session, first, bob.id) is None  # not bob's
    assert login_sessions.session_user(session, "forged", alice.id) is None
    assert login_sessions.session_user(session, None, alice.id) is None
    session.commit()
    session.expire_all()
    used = row.last_used_at
    login_sessions.session_user(session, first, alice.id)
    assert row.last_used_at == used  # written at most once a minute
    row.last_used_at = used - timedelta(minutes=2)
    session.commit()
    login_sessions.session_user(session, first, alice.id)
    session.commit()
    session.expire_all()
    assert row.last_used_at > used - timedelta(minutes=1)

    login_sessions.end_session(session, first)
    session.commit()
    assert login_sessions.session_user(session, first, alice.id) is None
    assert login_sessions.session_user(session, second, alice.id) is alice
    login_sessions.end_user_sessions(session, alice)
    session.commit()
    assert login_sessions.session_user(session, second, alice.id) is None
