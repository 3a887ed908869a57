"""The tenant-attack suite (see conftest.py)."""
