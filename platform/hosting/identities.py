"""This platform's instance id: one random value made by the migrations, never changed.

Names made on a host (the apps' system users) carry a prefix made from it, so two platforms
on one machine never share a name, and app ids are never handed out again (see models.App).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hosting.models import PlatformInstance


def instance_id(session: Session) -> str:
    found = session.scalars(select(PlatformInstance.instance_id).limit(1)).first()
    if found is None:
        raise LookupError("the database has no platform instance id; run `hostingctl db upgrade`")
    return found


def user_prefix(instance: str) -> str:
    """The default prefix of this platform's app users: ``t<6 hex digits>-``."""
    return f"t{instance[:6]}-"
