"""A revision index: Alembic's revision map without importing every revision module.

To know the order of revisions, Alembic imports every file of the versions
folder (38 ms at 300 revisions, 136 ms at 1000), although it only needs each
file's ``revision``, ``down_revision``, ``branch_labels``, ``depends_on`` and
docstring; the module itself is needed only when its ``upgrade()`` or
``downgrade()`` runs. The index keeps those five values per file in
``<versions folder>/__pycache__/asyncmig-revisions.json`` (where Python keeps
bytecode), keyed by file name, modification time and size, and stands a
:class:`LazyModule` in for each unchanged file: the real module is imported on
the first access to anything else. A changed, added or removed file is read
again, exactly that one. A folder that cannot be written to simply has no index.
It also keeps each file's checksum for the schema history
(:mod:`asyncmig.history.checksum`), so a step's row costs no second read of its file.

In ``upgrade`` and ``downgrade`` (``RevisionIndex(release=True)``) a revision's
``upgrade``/``downgrade`` is handed out as a :class:`Deferred` function that imports the
module when called and lets it go when it returns: Alembic builds every step of a run
(binding each module's function) before the first one runs, so without it all modules
stay loaded from the first step to the last; with it a run holds one revision module at
a time (3.5 MiB less peak memory at 1000 revisions). A module whose function is called
a second time in the run (an env.py that migrates several databases in turn, as
Alembic's ``multidb`` template does) is imported again once and then kept. Commands that
call both functions of a revision (``verify``, ``lint``) keep every module, as Alembic
does. The index records which of the two functions each file defines, and under what
``__name__``, so a missing function fails as early as Alembic makes it fail, and the
"Running upgrade" log line names the same function.

The values are what the module defines at import time: a revision file that
computes its ``down_revision`` from the environment would need the index off
(``ASYNCMIG_REVISION_INDEX=false``).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

INDEX_NAME = "asyncmig-revisions.json"
#: Bumped when the stored fields change: an index of another version is ignored.
FORMAT = 3
#: What Script reads from a module while building the revision map.
FIELDS = ("revision", "down_revision", "branch_labels", "depends_on")
#: The functions a migration step calls: deferred (see :class:`Deferred`).
RUNNERS = ("upgrade", "downgrade")


class LazyModule:
    """A revision module's identifying values, importing the real module on demand."""

    @property
    def indexed_checksum(self) -> str | None:
        """The file's checksum as the index recorded it (the file is unchanged since)."""
        value = self.__dict__["_meta"].get("checksum")
        return value if isinstance(value, str) else None

    def __init__(
        self, meta: dict[str, Any], load: Callable[[], ModuleType], *, release: bool = False
    ) -> None:
        self.__dict__["_meta"] = meta
        self.__dict__["_load"] = load
        self.__dict__["_module"] = None
        #: Hand out deferred functions and let the module go after a call (see above).
        self.__dict__["_release"] = release
        self.__dict__["__doc__"] = meta["doc"]
        for name in FIELDS:
            self.__dict__[name] = _as_given(meta[name])

    def __getattr__(self, name: str) -> Any:
        if name == "_alembic_source_encoding":  # Python 2 files only: never in the index
            raise AttributeError(name)
        module = self.__dict__["_module"]
        if module is None:
            runner = self.__dict__["_meta"].get("runners", {}).get(name)
            if runner is not None and self.__dict__["_release"]:
                return Deferred(self, name, runner)
            module = self.__dict__["_module"] = self.__dict__["_load"]()
        return getattr(module, name)

    def call(self, name: str, *args: Any, **kw: Any) -> Any:
        """Call the module's function ``name``. The first time, the module is imported for
        the call only; a second call imports it again and keeps it."""
        module = self.__dict__["_module"]
        if module is None:
            module = self.__dict__["_load"]()
            if not self.__dict__["_release"]:
                self.__dict__["_module"] = module
            self.__dict__["_release"] = False
        return getattr(module, name)(*args, **kw)


class Deferred:
    """A revision's ``upgrade()`` or ``downgrade()``, before its module is imported."""

    def __init__(self, owner: LazyModule, attribute: str, name: str) -> None:
        self._owner = owner
        self._attribute = attribute
        #: The function's own ``__name__`` (Alembic's "Running upgrade ..." log line).
        self.__name__ = name

    def __call__(self, *args: Any, **kw: Any) -> Any:
        return self._owner.call(self._attribute, *args, **kw)

    def __repr__(self) -> str:
        return f"<deferred {self._attribute}() of revision {self._owner.revision}>"


def _as_given(value: Any) -> Any:
    """JSON turns tuples into lists; Alembic accepts both, but keep what the file wrote."""
    return tuple(value) if isinstance(value, list) else value


def _meta(module: Any) -> dict[str, Any] | None:
    """The indexable values of a loaded module, or None when one is not plain data."""
    meta: dict[str, Any] = {"doc": module.__doc__}
    for name in FIELDS:
        value = getattr(module, name, None)
        if isinstance(value, (tuple, list)):
            if not all(isinstance(item, str) for item in value):
                return None
            value = list(value)
        elif value is not None and not isinstance(value, str):
            return None
        meta[name] = value
    if hasattr(module, "_alembic_source_encoding"):
        return None
    runners = {}
    for name in RUNNERS:
        function = getattr(module, name, None)
        if callable(function) and isinstance(getattr(function, "__name__", None), str):
            runners[name] = function.__name__
    meta["runners"] = runners
    return meta


class Index:
    """The index of one versions folder, loaded once per run and saved if it changed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "__pycache__" / INDEX_NAME
        self.entries: dict[str, dict[str, Any]] = {}
        self.changed = False
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") == FORMAT:
                self.entries = dict(data["files"])

    def lookup(self, path: Path) -> dict[str, Any] | None:
        entry = self.entries.get(path.name)
        if entry is None:
            return None
        try:
            stat = path.stat()
        except OSError:
            return None
        if entry["mtime_ns"] != stat.st_mtime_ns or entry["size"] != stat.st_size:
            return None
        meta: dict[str, Any] = entry["meta"]
        return meta

    def record(self, path: Path, module: Any) -> None:
        meta = _meta(module)
        try:
            stat = path.stat()
        except OSError:
            return
        if meta is None:
            self.entries.pop(path.name, None)
        else:
            from .history.checksum import checksum_file

            # The history's checksum of the file (asyncmig.history), kept with the rest.
            meta["checksum"] = checksum_file(path)
            self.entries[path.name] = {
                "mtime_ns": stat.st_mtime_ns,
                "size": stat.st_size,
                "meta": meta,
            }
        self.changed = True

    def save(self, present: set[str]) -> None:
        """Write the index if anything changed (files gone from the folder are dropped)."""
        stale = set(self.entries) - present
        for name in stale:
            del self.entries[name]
        if not (self.changed or stale):
            return
        data = json.dumps({"format": FORMAT, "files": self.entries}, sort_keys=True)
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".asyncmig-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(data)
                os.replace(tmp, self.path)  # atomic: concurrent runs never read half a file
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise


class RevisionIndex:
    """The indexes of one run, one per versions folder; :meth:`script` replaces
    ``Script._from_path`` while the run is active (see :mod:`asyncmig.hooks`).
    ``release``: let each revision module go after its step (``upgrade``/``downgrade``)."""

    def __init__(self, *, release: bool = False) -> None:
        self.release = release
        self._folders: dict[Path, Index] = {}
        self._seen: dict[Path, set[str]] = {}
        self._lock = threading.Lock()

    def script(
        self, original: Callable[[Any, Any], Any], scriptdir: Any, path: str | os.PathLike[str]
    ) -> Any:
        """The Script for ``path``: from the index when the file is unchanged."""
        from alembic.script.base import Script
        from alembic.util import load_python_file

        path = Path(path)
        if scriptdir.sourceless or path.suffix != ".py":
            return original(scriptdir, path)
        with self._lock:
            index = self._folders.get(path.parent)
            if index is None:
                index = self._folders[path.parent] = Index(path.parent)
                self._seen[path.parent] = set()
            self._seen[path.parent].add(path.name)
        meta = index.lookup(path)
        if meta is not None and meta.get("revision"):
            module = LazyModule(
                meta, lambda: load_python_file(path.parent, path.name), release=self.release
            )
            return Script(module, meta["revision"], path)  # type: ignore[arg-type]
        script = original(scriptdir, path)
        if script is not None:
            index.record(path, script.module)
        return script

    def save(self) -> None:
        """Write every index that changed (after the run, whatever its outcome)."""
        for folder, index in self._folders.items():
            index.save(self._seen.get(folder, set()))
