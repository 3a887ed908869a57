"""Fixtures of tests/containers (see fixtures.py)."""

from tests.containers.fixtures import tenants  # noqa: F401
