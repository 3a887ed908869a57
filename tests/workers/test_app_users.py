"""An app's user is made in the regular id range, not the system one: a host's tenants
outnumber system ids (100-999; the 864th app of a 1,000-tenant bench failed there), and
it gets no subordinate ids."""

from __future__ import annotations

import pwd
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.layout import ensure_user


def login_defs(key: str, default: int) -> int:
    for line in Path("/etc/login.defs").read_text().splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == key:
            return int(fields[1])
    return default


@pytest.fixture
def user_name() -> Iterator[str]:
    name = f"tu{secrets.token_hex(3)}-1"
    yield name
    subprocess.run(["userdel", name], capture_output=True, check=False)


def test_an_apps_user_has_a_regular_id_and_no_subordinate_ids(user_name: str) -> None:
    owner = ensure_user(user_name, "/srv")
    assert login_defs("UID_MIN", 1000) <= owner.uid <= login_defs("UID_MAX", 60000)
    assert login_defs("GID_MIN", 1000) <= owner.gid <= login_defs("GID_MAX", 60000)
    entry = pwd.getpwnam(user_name)
    assert (entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell) == (
        owner.uid, owner.gid, "/srv", "/bin/sh",
    )  # fmt: skip
    for table in ("/etc/subuid", "/etc/subgid"):
        path = Path(table)
        names = (
            [line.split(":")[0] for line in path.read_text().splitlines()] if path.exists() else []
        )
        assert user_name not in names, table
    # Made once: a second call finds it.
    assert ensure_user(user_name, "/srv") == owner
