"""Releases for the rollout tests, made from the session's project wheel: the same files
under a new version, with some of them changed the way a release's code would change.

A wheel is a zip with a ``<name>-<version>.dist-info`` directory whose METADATA says the
version and whose RECORD lists every file's sha256 and size (pip checks that the file name
and METADATA agree). Rewriting those three gives the wheel ``setuptools`` would build from a
tree with that version and those edits, without a build per release.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

WHEEL_NAME_RE = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-(?P<tags>.+\.whl)$")
# path in the wheel -> its new text from its old text
Edits = Mapping[str, Callable[[str], str]]


def record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def release(wheel: Path, version: str, dest_dir: Path, edits: Edits | None = None) -> Path:
    """A copy of ``wheel`` as version ``version`` in ``dest_dir``, with ``edits`` applied."""
    match = WHEEL_NAME_RE.match(wheel.name)
    if match is None:
        raise ValueError(f"not a wheel file name: {wheel.name}")
    old_info = f"{match['name']}-{match['version']}.dist-info/"
    new_info = f"{match['name']}-{version}.dist-info/"
    edits = dict(edits or {})
    files: dict[str, tuple[zipfile.ZipInfo, bytes]] = {}
    with zipfile.ZipFile(wheel) as source:
        for item in source.infolist():
            if item.is_dir() or item.filename == old_info + "RECORD":
                continue
            data = source.read(item)
            if item.filename in edits:
                text = data.decode("utf-8")
                changed = edits.pop(item.filename)(text)
                if changed == text:
                    raise ValueError(f"the edit of {item.filename} changes nothing")
                data = changed.encode("utf-8")
            if item.filename == old_info + "METADATA":
                data, count = re.subn(rb"(?m)^Version: .*$", f"Version: {version}".encode(), data)
                if count != 1:
                    raise ValueError(f"{item.filename} has {count} Version lines")
            files[item.filename.replace(old_info, new_info, 1)] = (item, data)
    if edits:
        raise ValueError(f"not in {wheel.name}: {sorted(edits)}")

    target = dest_dir / f"{match['name']}-{version}-{match['tags']}"
    record = [record_line(path, data) for path, (_, data) in files.items()]
    record.append(f"{new_info}RECORD,,")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for path, (item, data) in files.items():
            info = zipfile.ZipInfo(path, item.date_time)  # same time and mode as before
            info.external_attr = item.external_attr
            out.writestr(info, data, zipfile.ZIP_DEFLATED)
        out.writestr(new_info + "RECORD", "\n".join(record) + "\n")
    return target


def replace_once(old: str, new: str) -> Callable[[str], str]:
    """An edit that replaces the one occurrence of ``old`` (and fails if there is not one)."""

    def edit(text: str) -> str:
        if text.count(old) != 1:
            raise ValueError(f"{old!r} occurs {text.count(old)} times, not once")
        return text.replace(old, new)

    return edit
