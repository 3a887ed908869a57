"""What a container runs that is ours: the runtime package and the commands on the PATH.

``install(base, python)`` copies the ``supervisor_runtime`` package (standard library only)
into ``<base>/runtime-<digest>/lib`` and writes ``supervisord``, ``supervisorctl``,
``echo_supervisord_conf`` and ``pidproxy`` into ``.../bin``, and ``etc/supervisord.conf``, a
link to the app's config; containers see the directory read-only at /opt/hosting. A copy
rather than the platform's own install, because:

- bubblewrap binds host paths as the tenant, who must be able to reach them, and the
  platform's virtualenv (or a pyenv under /root) is no tenant's business;
- the directory is named by the digest of its content, never changed once made: a running
  runtime that imports a module late (its control server, status pages) gets the code it
  started with, while a new release goes to a new directory for the next start.

Every module is compiled (``__pycache__``) by that same Python when the directory is made: the
container sees it read-only and the tenant could not write a cache anyway, so without it each
runtime's start compiled every module it imports again (about 0.1 s of CPU per tenant).

The commands run the system Python in isolated mode (``-I``: no PYTHONPATH, no user site;
``-S``: no site-packages, the runtime needs none). ``supervisorctl`` with no ``-c`` finds
/opt/hosting/etc/supervisord.conf, the app's own config, next to itself.

A host whose tenant runtime is stock supervisord (``HostConfig.tenant_runtime``) gets
``<base>/stock-<digest>`` instead: the same layout, with a copy of stock's ``supervisor``
package (pure Python, standard library only on Python 3.8+) beside ours in ``lib`` and
commands in ``bin`` that run stock's. Ours stays there for the config check, which parses
the app's config the way ours does (stock reads the same files).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from workers.container.spec import BASE_CONF, TOOLS_LIB

ENTRY_POINTS = {
    "supervisord": "supervisor_runtime.cli.supervisord",
    "supervisorctl": "supervisor_runtime.cli.supervisorctl",
    "echo_supervisord_conf": "supervisor_runtime.cli.echo_conf",
    "pidproxy": "supervisor_runtime.cli.pidproxy",
}
STOCK_ENTRY_POINTS = {
    "supervisord": "supervisor.supervisord",
    "supervisorctl": "supervisor.supervisorctl",
    "echo_supervisord_conf": "supervisor.confecho",
    "pidproxy": "supervisor.pidproxy",
}
PACKAGE_FILES = ("*.py", "*.conf")
STOCK_FILES = ("*",)  # its web UI, skeleton config and version.txt are data files
MIN_PYTHON = (3, 11)
# Part of the digest: a directory made before the layout changed (bytecode added) is not
# reused.
LAYOUT = b"bytecode-1"


class AssetsError(Exception):
    """The assets cannot be installed (no suitable Python, unwritable base)."""


def script_text(python: str, module: str) -> str:
    return (
        f"#!{python} -IS\n"
        f"# {module}, from {TOOLS_LIB}\n"
        "import sys\n"
        f"sys.path.insert(0, {TOOLS_LIB!r})\n"
        f"from {module} import main\n"
        "sys.exit(main())\n"
    )


def package_dir() -> Path:
    import supervisor_runtime

    return Path(supervisor_runtime.__file__).resolve().parent


def package_files(source: Path, patterns: tuple[str, ...] = PACKAGE_FILES) -> list[Path]:
    """The package's files (relative), without caches, tests or anything but ``patterns``."""
    found = {p.relative_to(source) for pattern in patterns for p in source.rglob(pattern)}
    skip = {"__pycache__", "tests"}
    return sorted(p for p in found if not skip & set(p.parts) and (source / p).is_file())


def check_python(python: str) -> None:
    """``python`` must be a Python 3.11+ from the system (seen the same inside containers)."""
    if not python.startswith(("/usr/", "/bin/")):
        raise AssetsError(f"{python}: tenant runtimes need a system Python under /usr")
    probe = "import sys; print(sys.version_info >= (3, 11))"
    try:
        done = subprocess.run(
            [python, "-IS", "-c", probe], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        raise AssetsError(f"{python}: {exc.strerror} (Debian: apt-get install python3)") from None
    if done.stdout.strip() != "True":
        wanted = ".".join(map(str, MIN_PYTHON))
        raise AssetsError(f"{python} is not Python {wanted} or newer, which the runtime needs")


# (package name, its directory, its files relative to it)
Package = tuple[str, Path, list[Path]]


def digest(packages: list[Package], python: str, entry_points: dict[str, str]) -> str:
    hashing = hashlib.sha256(python.encode() + b"\0" + LAYOUT)
    hashing.update(repr(sorted(entry_points.items())).encode())
    for name, source, files in packages:
        for relative in files:
            path = f"{name}/{relative}".encode()
            hashing.update(path + b"\0" + (source / relative).read_bytes())
    return hashing.hexdigest()[:16]


def compile_lib(python: str, lib: Path) -> None:
    """Compile every module under ``lib`` with ``python`` (the bytecode is version-specific),
    named as the container sees them (``TOOLS_LIB``). Containers see it read-only, so
    without these files every runtime compiled its modules at every start: about 0.1 s of
    CPU, and 2.3 MiB of private memory it kept (bench.memory, issue 18). ``unchecked-hash``:
    the files are never checked against the sources, which never change (the directory is
    named by its content)."""
    command = [python, "-IS", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash"]
    command += ["-d", TOOLS_LIB, str(lib)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise AssetsError(f"{python} could not compile the runtime's modules: {output}")


def install(base: Path, python: str, stock: Path | None = None) -> Path:
    """The assets directory for ``python`` and the runtime installed here, made if missing
    (root's, 0755 directories and 0644/0755 files); returns its path. ``stock``: the
    directory of stock supervisord's ``supervisor`` package, whose commands the container
    then runs (see ``workers.tenant_runtime``)."""
    ours = package_dir()
    packages: list[Package] = [("supervisor_runtime", ours, package_files(ours))]
    prefix, entry_points = "runtime", ENTRY_POINTS
    if stock is not None:
        packages.append(("supervisor", stock, package_files(stock, STOCK_FILES)))
        prefix, entry_points = "stock", STOCK_ENTRY_POINTS
    target = base / f"{prefix}-{digest(packages, python, entry_points)}"
    if target.is_dir():
        return target  # checked when it was made (every create_app job comes here)
    check_python(python)
    base.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chmod(base, 0o755)
    scratch = Path(tempfile.mkdtemp(prefix=f".{prefix}-", dir=base))
    try:
        for package, source, files in packages:
            for relative in files:
                destination = scratch / "lib" / package / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / relative, destination)
        (scratch / "bin").mkdir()
        for name, module in entry_points.items():
            (scratch / "bin" / name).write_text(script_text(python, module), encoding="utf-8")
        compile_lib(python, scratch / "lib")
        # Resolved inside the container only: supervisorctl's "../etc/supervisord.conf".
        (scratch / "etc").mkdir()
        (scratch / "etc" / "supervisord.conf").symlink_to(BASE_CONF)
        for directory, _subdirs, names in os.walk(scratch):
            os.chmod(directory, 0o755)
            for name in names:
                path = Path(directory) / name
                if not path.is_symlink():
                    os.chmod(path, 0o755 if path.parent.name == "bin" else 0o644)
        try:
            os.rename(scratch, target)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            # Another worker installed the same content meanwhile: theirs is as good.
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return target
