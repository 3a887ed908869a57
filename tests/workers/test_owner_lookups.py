"""What the host's helpers look up once instead of once per app: the apps' users
(``layout.find_owners``) and the cgroup hierarchy (``tenants.host_hierarchy``)."""

from __future__ import annotations

import os
import pwd

import pytest

from workers.container import cgroups, probe
from workers.layout import find_owner, find_owners
from workers.tenants import host_hierarchy


def test_find_owners_answers_as_find_owner_for_each_user() -> None:
    users = [entry.pw_name for entry in pwd.getpwall()] + ["no-such-user-here"]
    found = find_owners(users)
    assert found == {user: owner for user in users if (owner := find_owner(user)) is not None}
    assert "no-such-user-here" not in found


def test_find_owners_of_no_users_is_empty() -> None:
    assert find_owners([]) == {}


@pytest.mark.skipif(os.geteuid() != 0 or probe.why_not() is not None, reason="no containers")
def test_the_hierarchy_is_detected_once_per_process() -> None:
    assert host_hierarchy() is host_hierarchy()
    assert host_hierarchy() == cgroups.detect()
