"""The checksum of a revision file, from its bytes (the revision index never imports a
revision module to know it: :mod:`asyncmig.revindex`).

Line endings and trailing whitespace do not count: a checkout with ``core.autocrlf`` or an
editor that trims lines produces the same checksum; any other edit does not.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

_LINE_ENDS = re.compile(rb"\r\n?")
_TRAILING = re.compile(rb"[ \t\f\v]+$", re.MULTILINE)


def normalised(data: bytes) -> bytes:
    """``data`` with ``\\n`` line endings, no trailing whitespace on a line or at the end."""
    text = _LINE_ENDS.sub(b"\n", data)
    return _TRAILING.sub(b"", text).rstrip(b"\n")


def checksum_bytes(data: bytes) -> str:
    """The SHA-256 (hex) of ``data`` as :func:`normalised`."""
    return hashlib.sha256(normalised(data)).hexdigest()


def checksum_file(path: str | os.PathLike[str] | None) -> str | None:
    """The checksum of the file at ``path``; None when there is no readable file."""
    if not path:
        return None
    try:
        with open(path, "rb") as fh:
            return checksum_bytes(fh.read())
    except OSError:
        return None


def checksum_of(script: Any) -> str | None:
    """The checksum of an Alembic ``Script``'s file: the revision index's when the script
    came from it (:class:`asyncmig.revindex.LazyModule`, checked against the file's
    modification time and size in this run), else read from the file."""
    if script is None:
        return None
    indexed = getattr(type(script.module), "indexed_checksum", None)
    if indexed is not None:
        found = script.module.indexed_checksum
        if found is not None:
            return str(found)
    return checksum_file(getattr(script, "path", None))
