"""The state one daemon hands to the next across a live upgrade's exec.

It travels as JSON in an anonymous memory file (memfd) whose descriptor the new daemon
inherits; the environment variable ``HANDOVER_ENV`` names the descriptor. Nothing is
written to disk, so no path a tenant could change is ever read. The document is versioned
(``FORMAT``): a daemon refuses a format it does not know (the pre-flight check asks the
new code first, see preflight.py), and unknown keys are ignored, so a field added later
(fields.py) does not break an older reader.
"""

from __future__ import annotations

import binascii
import os

from supervisor_runtime.static_types import TYPE_CHECKING

from . import HANDOVER_ENV

if TYPE_CHECKING:
    from typing import Any

    Json = Any  # what json.dumps takes

FORMAT = 1
READABLE_FORMATS = (1,)


class HandoverError(Exception):
    """The hand-over document is missing, unreadable or of an unknown format."""


def encode_bytes(data: bytes | bytearray) -> str:
    return binascii.b2a_base64(bytes(data), newline=False).decode("ascii")


def decode_bytes(text: str) -> bytes:
    return binascii.a2b_base64(text.encode("ascii"))


def write_document(document: dict[str, Json]) -> int:
    """A memfd holding ``document``, positioned at its start; inheritable across exec."""
    import json  # at the upgrade only (standard library: not part of the preload)

    fd = os.memfd_create("supervisor-runtime-handover", 0)  # no MFD_CLOEXEC: it must pass
    try:
        data = json.dumps(document, separators=(",", ":")).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def take_from_environment(environ: dict[str, str] | Any = os.environ) -> dict[str, Json] | None:
    """The document handed over to this process, or None when it was started normally.

    The variable is removed at once: the children must not inherit it.
    """
    value = environ.pop(HANDOVER_ENV, None)
    if value is None:
        return None
    try:
        fd = int(value)
    except ValueError:
        raise HandoverError(f"{HANDOVER_ENV}={value!r} is not a descriptor number") from None
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    except OSError as error:
        raise HandoverError(f"cannot read the hand-over (fd {fd}): {error}") from None
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    import json

    try:
        document = json.loads(b"".join(chunks))
    except ValueError as error:
        raise HandoverError(f"the hand-over is not valid JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") not in READABLE_FORMATS:
        found = document.get("format") if isinstance(document, dict) else None
        raise HandoverError(
            f"hand-over format {found!r} is not one this release reads {READABLE_FORMATS}"
        )
    return document
