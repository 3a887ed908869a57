"""``glob.glob`` for ``[include] files``, without importing ``glob`` (and its
``contextlib``: 0.15 MiB of every tenant runtime) for the usual pattern.

The usual pattern has its wildcards in the file name only (``conf.d/*.conf``): the
directory's names matched with ``fnmatch``, names starting with a dot only when the
pattern does, as ``glob`` does. Any other pattern (wildcards in a directory) is given to
``glob`` itself. tests/unit/test_boot_imports.py checks the two agree.
"""

from __future__ import annotations

import fnmatch
import os

MAGIC = frozenset("*?[")


def include_glob(pattern: str) -> list[str]:
    """What ``glob.glob(pattern)`` returns, in the same order."""
    directory, name = os.path.split(pattern)
    if not MAGIC.isdisjoint(directory) or not name:
        import glob  # rare: wildcards in a directory, or a trailing slash

        return glob.glob(pattern)
    if MAGIC.isdisjoint(name):
        return [pattern] if os.path.lexists(pattern) else []
    try:
        with os.scandir(directory or os.curdir) as entries:
            names = [entry.name for entry in entries]
    except OSError:
        return []
    if name[0] != ".":
        names = [each for each in names if each[0] != "."]
    return [os.path.join(directory, each) for each in fnmatch.filter(names, name)]
