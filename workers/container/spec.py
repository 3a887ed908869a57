"""What one tenant container is made of, kept as a root-owned JSON file on the host.

The workers write a spec when they register an app; the launcher (run by the host runtime
as root) reads it and nothing else, so it needs neither the database nor the platform's
settings. The file lives in the host root (``conf/containers/<app>.json``, root, 0600), out
of every tenant's reach, and is refused if anyone but root could have changed it.

The launcher imports this module at every container start, so it imports neither ``json``
nor ``re`` nor ``pathlib`` (with what they import, ``enum``, ``functools``, ``collections``,
``urllib.parse``..., they were half of the launcher's CPU): ``load_spec`` parses with the C
scanner ``json`` itself uses, and names are checked character by character.
"""

from __future__ import annotations

import os
import stat

from workers.container.netns import name_for

KEY_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz_")
KEY_CHARS = KEY_FIRST | frozenset("0123456789-")
KEY_MAX = 32


def is_key(text: object) -> bool:
    """A user-name-like key: ``[a-z_][a-z0-9_-]{0,31}`` (it names a user, a cgroup and a
    network namespace)."""
    return (
        isinstance(text, str)
        and 0 < len(text) <= KEY_MAX
        and text[0] in KEY_FIRST
        and KEY_CHARS.issuperset(text)
    )


# Paths inside the container (the seeds' layout, plus our tools).
APP_ROOT = "/srv"
TOOLS_PREFIX = "/opt/hosting"
TOOLS_BIN = f"{TOOLS_PREFIX}/bin"
TOOLS_LIB = f"{TOOLS_PREFIX}/lib"
BASE_CONF = f"{APP_ROOT}/conf/supervisord.conf"
DEFAULT_PATH = f"{TOOLS_BIN}:/usr/local/bin:/usr/bin:/bin"


class SpecError(Exception):
    """A container spec is missing, unsafe (not root's) or malformed."""


class Record:
    """A read-only record compared by its fields (``__slots__``), as a frozen dataclass
    would be. Not a dataclass: this module is the container launcher's, which runs at every
    container start, and ``dataclasses`` (with the ``inspect`` it imports) was a fifth of
    that start."""

    __slots__: tuple[str, ...] = ()

    def _set(self, **values: object) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only ({name})")

    def values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.values() == other.values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self.values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def as_dict(self) -> dict[str, object]:
        """Its fields, nested records and dicts copied (what ``asdict`` gave)."""
        found: dict[str, object] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, Record):
                value = value.as_dict()
            elif isinstance(value, dict):
                value = dict(value)
            found[name] = value
        return found


class Limits(Record):
    """The plan's limits: memory (MiB, no swap beyond it), tasks, and CPU weight (cgroup v2's
    scale, 1..10000, 100 = an even share)."""

    __slots__ = ("memory_mb", "pids", "cpu_weight")
    memory_mb: int
    pids: int
    cpu_weight: int

    def __init__(self, memory_mb: int = 1024, pids: int = 512, cpu_weight: int = 100) -> None:
        self._set(memory_mb=memory_mb, pids=pids, cpu_weight=cpu_weight)
        for name, low, high in (
            ("memory_mb", 16, 1 << 20),
            ("pids", 16, 1 << 22),
            ("cpu_weight", 1, 10000),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise SpecError(f"limits.{name}: {value!r} is not a number from {low} to {high}")


class ContainerSpec(Record):
    __slots__ = (
        "app",  # the app's name: the container's hostname
        "key",  # never reused (the app's user name): names its cgroup and network namespace
        "user",
        "uid",
        "gid",
        "root",  # the app's root on the host, mounted at /srv
        "assets",  # host directory with bin/ and lib/ (see ``assets``), at /opt/hosting
        "python",  # the system Python (3.11+) the runtime runs on, the same path inside
        "limits",
        "environment",
    )
    app: str
    key: str
    user: str
    uid: int
    gid: int
    root: str
    assets: str
    python: str
    limits: Limits
    environment: dict[str, str]

    def __init__(
        self,
        app: str,
        key: str,
        user: str,
        uid: int,
        gid: int,
        root: str,
        assets: str,
        python: str,
        limits: Limits | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        self._set(app=app, key=key, user=user, uid=uid, gid=gid, root=root, assets=assets)
        self._set(python=python, limits=limits or Limits(), environment=environment or {})
        if not is_key(key):
            raise SpecError(f"key: {key!r} is not a user-name-like key")
        if uid == 0 or gid == 0:
            raise SpecError("a tenant container never runs as root (uid or gid 0)")
        for name in ("root", "assets", "python"):
            if not os.path.isabs(getattr(self, name)):
                raise SpecError(f"{name}: {getattr(self, name)!r} is not an absolute path")

    @property
    def netns(self) -> str:
        return name_for(self.key)

    def base_environment(self) -> dict[str, str]:
        """All the tenant's processes start with: the platform's nothing, only their own."""
        return {
            "PATH": DEFAULT_PATH,
            "HOME": APP_ROOT,
            "USER": self.user,
            "LOGNAME": self.user,
            "LANG": "C.UTF-8",
            **self.environment,
        }

    def to_json(self) -> str:
        import json  # the workers write specs; the launcher only reads them

        return json.dumps(self.as_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ContainerSpec:
        try:
            values = dict(data)
            values["limits"] = Limits(**values.get("limits", {}))  # type: ignore[arg-type]
            return cls(**values)  # type: ignore[arg-type]
        except (TypeError, KeyError) as exc:
            raise SpecError(f"malformed container spec: {exc}") from None


def parse_json(text: str) -> object:
    """``json.loads(text)`` without importing ``json``: the C scanner ``json.decoder``
    builds, on ``json.loads``'s own settings (strict; ``int`` and ``float``, which also
    reads NaN and Infinity as ``json`` does). ValueError when ``text`` is not one JSON
    value."""
    import _json

    class Settings:
        strict = True
        object_hook = object_pairs_hook = None
        parse_float = parse_constant = float
        parse_int = int

    scan = _json.make_scanner(Settings())
    start = len(text) - len(text.lstrip(" \t\n\r"))
    try:
        value, end = scan(text, start)
    except StopIteration as stop:
        raise ValueError(f"expecting a value at character {stop.value}") from None
    if text[end:].strip(" \t\n\r"):
        raise ValueError(f"extra data at character {end}")
    return value


def load_spec(path: str | os.PathLike[str]) -> ContainerSpec:
    """Read a spec written by root; SpecError if the file (or its directory) is a symlink,
    or not root's, or writable by anyone else."""
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise SpecError(f"cannot open the container spec {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(f"{path} is not a regular file")
        if info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise SpecError(f"{path} could have been changed by someone else; refusing it")
        try:
            data = parse_json(handle.read(1 << 20).decode())
        except ValueError as exc:
            raise SpecError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path} does not hold a JSON object")
    return ContainerSpec.from_dict(data)
