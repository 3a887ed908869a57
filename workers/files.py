"""Writing an app's managed config files: validated as a whole first, then atomically.

The set of files an app should have (its base ``conf/supervisord.conf``, one program file per
enabled service, and the daemons' own configs) is first laid out in a temporary copy of the
app's ``conf/`` and parsed there by the runtime's own parser, exactly as the app's runtime
would read it, tenant-written files included. Only if that passes are the real files
replaced, each through a temp file in the same directory (fsync, rename, fsync of the
directory), so a reader sees the old file or the new one and a crash leaves no torn file.
Files without our managed header are never written over nor removed; managed files no
service needs any more are removed.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hosting import daemon_confs
from hosting.rendering import BASE_CONF, MANAGED_HEADER, PROGRAM_DIR, RenderedFiles

from supervisor_runtime.config import load_config
from supervisor_runtime.config.errors import ConfigError
from workers.layout import AppLayout, Owner, running_as_root

MANAGED_HEADERS = (MANAGED_HEADER, daemon_confs.HEADER.rstrip("\n"))
# Where managed files may live, relative to the app root: conf/ and conf/supervisor.d/.
MANAGED_DIRS = ("conf", PROGRAM_DIR)
FILE_MODE = 0o640


class ConfigRefused(Exception):
    """The files would not make a valid config (or would overwrite a tenant's file); nothing
    was changed. The message says which file and what is wrong."""


@dataclass
class FileChanges:
    written: list[str] = field(default_factory=list)  # relative paths
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)


def is_managed_text(text: str) -> bool:
    return text.startswith(MANAGED_HEADERS)


def _read_regular(path: Path) -> str | None:
    """The text of ``path`` if it is a regular file (symlinks are not followed), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except (FileNotFoundError, OSError):
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        return handle.read().decode("utf-8", errors="replace")


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: Path, text: str, mode: int = FILE_MODE, owner: tuple[int, int] | None = None
) -> None:
    """Replace ``path`` with ``text``: temp file in the same directory, fsync, rename, fsync
    of the directory. ``owner`` (uid, gid) is applied before the rename."""
    directory = path.parent
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            if owner is not None:
                os.fchown(handle.fileno(), *owner)
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


def remove_file(path: Path) -> None:
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)


def managed_files(layout: AppLayout) -> dict[str, str]:
    """Managed files present now: relative path -> text."""
    found: dict[str, str] = {}
    for relative_dir in MANAGED_DIRS:
        directory = layout.path(relative_dir)
        if not directory.is_dir():
            continue
        for entry in sorted(directory.iterdir()):
            if entry.suffix != ".conf":
                continue
            text = _read_regular(entry)
            if text is not None and is_managed_text(text):
                found[f"{relative_dir}/{entry.name}"] = text
    return found


def desired_files(base_text: str, rendered: Iterable[RenderedFiles]) -> dict[str, str]:
    files = {BASE_CONF: base_text}
    for service in rendered:
        for relative, text in service.files.items():
            if relative in files and files[relative] != text:
                raise ConfigRefused(f"{relative}: two services want to write this file")
            files[relative] = text
    return files


def validate_conf_dir(
    conf: Path, files: Mapping[str, str], remove: Iterable[str] = ()
) -> None:
    """Parse ``conf/supervisord.conf`` as it would be with ``files`` written and ``remove``
    removed (paths relative to ``conf``), in a temporary copy of the directory; ConfigRefused
    with the parser's message otherwise. Symlinks (a tenant's) are not followed."""
    with tempfile.TemporaryDirectory(prefix="hosting-validate-") as scratch:
        copy = Path(scratch) / "conf"
        copy.mkdir()
        if conf.is_dir():
            for directory, _subdirs, names in os.walk(conf, followlinks=False):
                relative_dir = Path(directory).relative_to(conf)
                (copy / relative_dir).mkdir(exist_ok=True)
                for name in names:
                    text = _read_regular(Path(directory) / name)
                    if text is not None:
                        (copy / relative_dir / name).write_text(text, encoding="utf-8")
        for relative in remove:
            (copy / relative).unlink(missing_ok=True)
        for relative, text in files.items():
            target = copy / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        try:
            load_config(str(copy / "supervisord.conf"))
        except ConfigError as exc:
            # Name the real file, not our scratch copy.
            raise ConfigRefused(str(exc).replace(str(copy), str(conf))) from None
        except OSError as exc:
            raise ConfigRefused(f"cannot read the config: {exc}") from None


def validate(layout: AppLayout, files: Mapping[str, str], remove: Iterable[str]) -> None:
    """Validate an app's conf/ with ``files`` written and ``remove`` removed (paths relative
    to the app root)."""

    def in_conf(relative: str) -> str:
        return str(Path(relative).relative_to("conf"))

    validate_conf_dir(
        layout.path("conf"),
        {in_conf(relative): text for relative, text in files.items()},
        [in_conf(relative) for relative in remove],
    )


def write_app_config(
    layout: AppLayout, owner: Owner, base_text: str, rendered: Iterable[RenderedFiles]
) -> FileChanges:
    """Make the app's managed files exactly the rendered ones (validated first; idempotent:
    a second call with the same input changes nothing)."""
    files = desired_files(base_text, rendered)
    current = managed_files(layout)
    for relative in files:
        path = layout.path(relative)
        if relative not in current and (path.exists() or path.is_symlink()):
            raise ConfigRefused(
                f"{path} exists and was not written by the platform; rename or remove it"
            )
    stale = sorted(set(current) - set(files))
    validate(layout, files, stale)

    changes = FileChanges()
    file_owner = (0, owner.gid) if running_as_root() else None
    for relative, text in files.items():
        if current.get(relative) == text:
            changes.unchanged.append(relative)
            continue
        atomic_write(layout.path(relative), text, owner=file_owner)
        changes.written.append(relative)
    for relative in stale:
        remove_file(layout.path(relative))
        changes.removed.append(relative)
    return changes


def remove_app_config(layout: AppLayout) -> list[str]:
    """Remove every managed program file (the app's runtime then has nothing to run); the
    base config, logs and data stay."""
    removed = []
    for relative in managed_files(layout):
        if relative.startswith(PROGRAM_DIR + "/"):
            remove_file(layout.path(relative))
            removed.append(relative)
    return removed
