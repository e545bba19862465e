"""The fast path's recordings file and the checks of a recording's inputs.

See :mod:`asyncmig.fastpath`. One JSON file per script location,
``<script_location>/__pycache__/asyncmig-fastpath.json``, holding up to :data:`KEEP`
recordings by key, written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FORMAT = 2
CACHE_NAME = "asyncmig-fastpath.json"
#: Recordings kept per script location (one per command and set of inputs).
KEEP = 16


def sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


# -- what a recording checks --------------------------------------------------------------
def file_state(path: str) -> list[int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_mtime_ns, stat.st_size]


def folder_signature(folder: str) -> str:
    """Every file under ``folder`` (bytecode caches aside) by name, mtime and size."""
    entries: list[tuple[str, int, int]] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in names:
            with contextlib.suppress(OSError):
                stat = os.stat(os.path.join(root, name))
                entries.append((os.path.join(root, name), stat.st_mtime_ns, stat.st_size))
    return sha(json.dumps(sorted(entries)))


#: PBKDF2 rounds of the secret check: a recording must not make a weak password cheap to
#: guess (the file sits in the project), and the fast path pays one check (~2.5 ms).
ROUNDS = 10000


def environment_values(keys: Iterable[str] | None) -> list[Any]:
    """The values of the variables env.py read (None: it listed them, so all of them)."""
    if keys is None:
        return sorted(os.environ.items())
    return [(key, os.environ.get(key)) for key in sorted(keys)]


def secret_check(values: Any, salt: str) -> str:
    """A slow salted hash of ``values`` (the password and the variables env.py read,
    which may hold secrets): what the recording keeps instead of them."""
    data = json.dumps(values, sort_keys=True).encode()
    return hashlib.pbkdf2_hmac("sha256", data, bytes.fromhex(salt), ROUNDS).hex()


def password_from(url: str) -> str | None:
    """The password of a URL as written (``scheme://user:password@host/...``), split where
    the settings split it (:mod:`asyncmig.urls`: an ``@`` in the query is not the host's)."""
    from urllib.parse import unquote

    from .urls import split_userinfo

    userinfo, _ = split_userinfo(url.partition("://")[2])
    if userinfo is None or ":" not in userinfo:
        return None
    return unquote(userinfo.partition(":")[2])


def load(cache: Path) -> dict[str, Any]:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("format") == FORMAT else {}


def store(cache: Path, key: str, entry: dict[str, Any]) -> None:
    """Add ``entry`` under ``key`` (atomically: concurrent runs never read half a file)."""
    import tempfile

    data = load(cache)
    recordings = dict(data.get("recordings") or {})
    recordings.pop(key, None)
    recordings[key] = entry
    while len(recordings) > KEEP:
        recordings.pop(next(iter(recordings)))
    text = json.dumps({"format": FORMAT, "recordings": recordings}, sort_keys=True)
    with contextlib.suppress(OSError):
        cache.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=".asyncmig-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, cache)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def unchanged(entry: dict[str, Any]) -> bool:
    """Every file env.py depended on, and the versions folders, as recorded."""
    if any(file_state(path) != state for path, state in entry["files"].items()):
        return False
    return all(folder_signature(folder) == sig for folder, sig in entry["folders"].items())
