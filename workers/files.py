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
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hosting import daemon_confs
from hosting.rendering import BASE_CONF, MANAGED_HEADER, PROGRAM_DIR, RenderedFiles

from supervisor_runtime.config import SupervisordConfig, load_config
from supervisor_runtime.config.errors import ConfigError
from supervisor_runtime.config.notices import describe
from workers.layout import AppLayout, Owner, running_as_root

MANAGED_HEADERS = (MANAGED_HEADER, daemon_confs.HEADER.rstrip("\n"))
# Where managed files may live, relative to the app root: conf/ and conf/supervisor.d/.
MANAGED_DIRS = ("conf", PROGRAM_DIR)
FILE_MODE = 0o640
MAX_FILE_BYTES = 1024 * 1024  # a tenant's config file larger than this is refused
MAX_FILES = 1000
MAX_TOTAL_BYTES = 8 * 1024 * 1024  # all of a conf/ copied for validation
ConfigCheck = Callable[[Path], "str | None"]  # a scratch conf/ -> the parser's refusal


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


def _read_regular(
    path: Path | str, owners: Container[int] | None = None, dir_fd: int | None = None
) -> str | None:
    """The text of ``path`` (relative to ``dir_fd`` when given) if it is a regular file
    (never through a link, never blocking on a FIFO), else None; ``owners``: the uids it may
    belong to (a hard link to someone else's file is not the tenant's to hand us).
    ConfigRefused when it is too large."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        if owners is not None and info.st_uid not in owners:
            return None
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ConfigRefused(f"{Path(path).name} is larger than {MAX_FILE_BYTES // 1024} KiB")
    return data.decode("utf-8", errors="replace")


def copy_conf_files(
    conf: Path, copy: Path, owners: Container[int] | None, leave_out: Container[str] = ()
) -> None:
    """The ``*.conf`` files of ``conf`` and of its subdirectories one level down (all that
    a runtime we render includes) into ``copy``, but those of the subdirectories named in
    ``leave_out``. Every directory is opened relative to the one above it, never through a
    link: a tenant who swaps a subdirectory for a link to /etc mid-copy gets it skipped,
    not followed."""
    try:
        top = os.open(conf, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    budget = [MAX_TOTAL_BYTES]
    try:
        for name in _names(top, "conf/"):
            try:
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
            except OSError:  # not a directory (or a link): a file, perhaps
                _copy_one(name, top, copy / name, owners, budget)
                continue
            try:
                (copy / name).mkdir(exist_ok=True)
                if name in leave_out:
                    continue
                for inner in _names(sub, f"conf/{name}/"):
                    _copy_one(inner, sub, copy / name / inner, owners, budget)
            finally:
                os.close(sub)
    finally:
        os.close(top)


def _names(dir_fd: int, where: str) -> list[str]:
    """The entries of a directory, refused past MAX_FILES without reading them all."""
    names = []
    with os.scandir(dir_fd) as entries:
        for entry in entries:
            names.append(entry.name)
            if len(names) > MAX_FILES:
                raise ConfigRefused(f"{where} holds more than {MAX_FILES} entries")
    return sorted(names)


def _copy_one(
    name: str, dir_fd: int, target: Path, owners: Container[int] | None, budget: list[int]
) -> None:
    if name.endswith(".conf"):
        text = _read_regular(name, owners, dir_fd)
        if text is not None:
            budget[0] -= len(text)
            if budget[0] < 0:
                raise ConfigRefused(f"the config files add up to more than {MAX_TOTAL_BYTES} bytes")
            target.write_text(text, encoding="utf-8")


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


def text_differs(path: Path, text: str) -> bool:
    """Whether ``path`` (root's own file) is missing or holds other text than ``text``."""
    return not path.exists() or path.read_text(encoding="utf-8") != text


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
            # Ours are root's: a tenant's file with our header is still the tenant's.
            text = _read_regular(entry, owners={os.geteuid()})
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


def parse_here(environ: Mapping[str, str] | None = None) -> ConfigCheck:
    """A check that parses in this process, with ``environ`` for ``%(ENV_X)s`` (ours when
    None): for the host's own config, and for apps on a host without containers."""

    def check(conf: Path) -> str | None:
        try:
            config = load_config(str(conf / "supervisord.conf"), environ)
        except ConfigError as exc:
            return str(exc)
        except OSError as exc:
            return f"cannot read the config: {exc}"
        return managed_set_aside(config)

    return check


def managed_set_aside(config: SupervisordConfig) -> str | None:
    """The notice of a file of ours that [include] skip_broken set aside, if any: a tenant's
    broken file is set aside by its runtime and does not stop an apply, ours must load.
    (The sandbox's check, container/validate.py, does the same with the same header.)"""
    for notice in config.config_notices:
        with open(notice.file, encoding="utf-8", errors="replace") as file:
            if file.read(len(MANAGED_HEADER)) == MANAGED_HEADER:
                return describe(notice.as_struct())
    return None


def validate_conf_dir(
    conf: Path,
    files: Mapping[str, str],
    remove: Iterable[str] = (),
    check: ConfigCheck | None = None,
    owners: Container[int] | None = None,
    leave_out: Container[str] = (),
) -> None:
    """Parse ``conf/supervisord.conf`` as it would be with ``files`` written and ``remove``
    removed (paths relative to ``conf``), in a temporary copy of the directory; ConfigRefused
    with the parser's message otherwise. ``check`` does the parsing (``parse_here()`` by
    default; an app's container's sandbox on a host with containers); ``owners`` are the
    uids whose files are copied and ``leave_out`` the subdirectories whose files are not
    (see ``copy_conf_files``)."""
    check = check or parse_here()
    with tempfile.TemporaryDirectory(prefix="hosting-validate-") as scratch:
        copy = Path(scratch) / "conf"
        copy.mkdir()
        copy_conf_files(conf, copy, owners, leave_out)
        for relative in remove:
            (copy / relative).unlink(missing_ok=True)
        for relative, text in files.items():
            target = copy / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        message = check(copy)
        if message is not None:
            # Name the real directory, not our scratch copy.
            raise ConfigRefused(message.replace(str(copy), str(conf)))


def validate(
    layout: AppLayout,
    files: Mapping[str, str],
    remove: Iterable[str],
    check: ConfigCheck,
    owner: Owner,
) -> None:
    """Validate an app's conf/ with ``files`` written and ``remove`` removed (paths relative
    to the app root)."""

    def in_conf(relative: str) -> str:
        return str(Path(relative).relative_to("conf"))

    validate_conf_dir(
        layout.path("conf"),
        {in_conf(relative): text for relative, text in files.items()},
        [in_conf(relative) for relative in remove],
        check,
        owners={0, owner.uid},
    )


def write_app_config(
    layout: AppLayout,
    owner: Owner,
    base_text: str,
    rendered: Iterable[RenderedFiles],
    check: ConfigCheck,
) -> FileChanges:
    """Make the app's managed files exactly the rendered ones (validated first with
    ``check``; idempotent: a second call with the same input changes nothing)."""
    files = desired_files(base_text, rendered)
    current = managed_files(layout)
    for relative in files:
        path = layout.path(relative)
        if relative not in current and (path.exists() or path.is_symlink()):
            raise ConfigRefused(
                f"{relative} exists and was not written by the platform; rename or remove it"
            )
    stale = sorted(set(current) - set(files))
    validate(layout, files, stale, check, owner)

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
