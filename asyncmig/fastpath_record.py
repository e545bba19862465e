"""Recording what a full run's env.py did, for the fast path (:mod:`asyncmig.fastpath`).

A :class:`Recorder` rides along one full run of ``upgrade head``, ``status`` or
``current`` (:class:`asyncmig.deploy.Run` calls it from the hooks). While env.py runs
it notes, without changing anything env.py sees:

* the connect arguments SQLAlchemy handed the driver (``Run.on_connect``);
* each ``context.configure``: the version table, its schema, and on PostgreSQL
  ``current_schemas(false)`` (what an unqualified table name resolves in);
* every write to stdout/stderr, and whether it came before ``configure`` returned,
  during the migrations, or after them;
* the environment variables read (``os.environ`` is a recording mapping meanwhile);
* every module imported and every file opened (an audit hook), and whether a file
  was opened for writing (a log file: then nothing is recorded).

After a successful run, :meth:`Recorder.save` stores it only if it can be replayed
exactly: one online PostgreSQL connection through asyncpg, no pooler, nothing
secret in the output, no file written.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from . import fastpath, fastpath_store

#: The recorder listening to audit events (one run at a time records).
_LISTENING: Recorder | None = None
_AUDITING = False
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit(event: str, args: tuple[Any, ...]) -> None:
    recorder = _LISTENING
    if recorder is None or event != "open" or not args or not isinstance(args[0], str):
        return
    path, mode = args[0], args[1] if len(args) > 1 else None
    flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
    writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & _WRITE_FLAGS)
    if _ignored(path):
        return
    if writes:
        recorder.wrote = True
    elif not path.endswith(".pyc"):
        recorder.opened.add(os.path.abspath(path))


def _ignored(path: str) -> bool:
    """Bytecode caches (Python compiling a revision module on its first run writes one),
    asyncmig's own indexes, and devices are no input and no output of env.py."""
    prefix = sys.pycache_prefix
    return (
        "__pycache__" in path
        or ".pyc" in os.path.basename(path)
        or (prefix is not None and path.startswith(prefix))
        or path.startswith(("/dev/", "/proc/", "/sys/"))
    )


class _Tee:
    """A stream that notes what is written through it, and in which phase."""

    def __init__(self, stream: Any, name: str, recorder: Recorder) -> None:
        self._stream = stream
        self._name = name
        self._recorder = recorder

    def write(self, text: str) -> int:
        # A logging handler env.py made keeps this stream after the run: only what is
        # written while env.py runs belongs to the recording.
        if self._recorder.capturing_now:
            self._recorder.chunks.append((self._recorder.phase, self._name, text))
        return int(self._stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _RecordingEnviron(os._Environ[str]):
    """``os.environ`` that notes each variable read, and whether all were listed."""

    _asyncmig_recorder: Recorder

    def __getitem__(self, key: str) -> str:
        self._asyncmig_recorder.env_keys.add(key)
        return super().__getitem__(key)

    def __iter__(self) -> Iterator[str]:
        self._asyncmig_recorder.env_all = True
        return super().__iter__()


class Recorder:
    """What one full run's env.py did (see the module docstring)."""

    def __init__(self, request: fastpath.Request, found: fastpath.Inputs) -> None:
        self.request = request
        self.inputs = found
        self.connects: list[tuple[str, str, list[Any], dict[str, Any]]] = []
        self.configured: list[dict[str, Any]] = []
        self.phase = 0
        self.chunks: list[tuple[int, str, str]] = []
        self.env_keys: set[str] = set()
        self.env_all = False
        self.opened: set[str] = set()
        self.modules: set[str] = set()
        self.wrote = False
        self.script: Any = None
        self.capturing_now = False

    # -- called by the run (asyncmig.deploy.Run) ---------------------------------------------
    def on_connect(self, dialect: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        self.connects.append((dialect.name, dialect.driver, list(cargs), dict(cparams)))

    def on_configure(self, env: Any, connection: Any, kw: dict[str, Any]) -> None:
        from .sessions import own_transaction

        #: The command's own ScriptDirectory: its revision map is built already.
        self.script = env.script
        schemas = None
        schema = kw.get("version_table_schema")
        if connection is not None and connection.dialect.name == "postgresql" and schema is None:
            with own_transaction(connection):
                sql = "SELECT current_schemas(false)::text"
                schemas = connection.exec_driver_sql(sql).scalar()
        self.configured.append(
            {
                "version_table": kw.get("version_table", "alembic_version"),
                "version_table_schema": schema,
                "schemas": schemas,
            }
        )

    def after_configure(self) -> None:
        self.phase = max(self.phase, 1)

    def after_run_migrations(self) -> None:
        self.phase = 2

    @contextlib.contextmanager
    def capturing(self) -> Iterator[None]:
        """Streams, environment, imports and opened files noted while env.py runs."""
        global _LISTENING, _AUDITING
        if not _AUDITING:
            sys.addaudithook(_audit)
            _AUDITING = True
        before = set(sys.modules)
        environ = _RecordingEnviron.__new__(_RecordingEnviron)
        environ.__dict__.update(os.environ.__dict__)
        environ._asyncmig_recorder = self
        saved = (sys.stdout, sys.stderr, os.environ)
        sys.stdout = _Tee(sys.stdout, "stdout", self)
        sys.stderr = _Tee(sys.stderr, "stderr", self)
        os.environ = environ  # noqa: B003 (a recording view of the same variables)
        _LISTENING = self
        self.capturing_now = True
        try:
            yield
        finally:
            self.capturing_now = False
            _LISTENING = None
            sys.stdout, sys.stderr, os.environ = saved
            self.modules = set(sys.modules) - before

    # -- after the run ------------------------------------------------------------------------
    def save(self, run: Any, config: Any, secrets: set[str]) -> None:
        """Store the recording if the fast path could replay it exactly."""
        entry = self._entry(run, config, secrets)
        if entry is not None:
            fastpath_store.store(self.inputs.cache, self.inputs.key, entry)

    def _entry(self, run: Any, config: Any, secrets: set[str]) -> dict[str, Any] | None:
        import json

        from .masking import SECRET_KEYS, mask_text

        tracks = run.tracks
        if self.wrote or len(tracks) != 1 or len(self.connects) != 1 or len(self.configured) != 1:
            return None
        track = tracks[0]
        if track.offline or track.connection is None or track.pooled is not None:
            return None
        if run.external is not None or len(track.kept()) != len(track.steps):
            return None
        name, driver, cargs, cparams = self.connects[0]
        if (name, driver) != fastpath.SUPPORTED:
            return None
        password = cparams.pop("password", None)
        if any(key.lower() in SECRET_KEYS for key in cparams):
            return None  # another secret among the connect arguments: never stored
        prefix = [[n, t] for phase, n, t in self.chunks if phase == 0]
        suffix = [[n, t] for phase, n, t in self.chunks if phase == 2]
        if any(mask_text(t, secrets) != t for _, t in (*prefix, *suffix)):
            return None  # never store a secret (env.py printed one)
        script = self.script
        heads = list(script.get_heads())
        salt = os.urandom(16).hex()
        keys = None if self.env_all else self.env_keys
        environment = fastpath_store.environment_values(keys)
        folders = [str(p) for p in script._version_locations]
        files = set(self.opened) | {script.env_py_location}
        for module_name in self.modules:
            path = getattr(sys.modules.get(module_name), "__file__", None)
            if isinstance(path, str):
                files.add(path)
        files = {p for p in files if not any(p.startswith(f + os.sep) for f in folders)}
        entry: dict[str, Any] = {
            "cargs": cargs,
            "cparams": cparams,
            "has_password": password is not None,
            "salt": salt,
            "secret_check": fastpath_store.secret_check(
                [None if password is None else str(password), environment], salt
            ),
            **self.configured[0],
            "label": track.label,
            "script_heads": heads,
            "files": {path: fastpath_store.file_state(path) for path in sorted(files)},
            "folders": {folder: fastpath_store.folder_signature(folder) for folder in folders},
            "env_keys": "*" if self.env_all else sorted(self.env_keys),
            "prefix": prefix,
            "suffix": suffix,
            "current_lines": self._current_lines(script, track, heads),
            "url": _masked_url(track.connection),
        }
        if any(state is None for state in entry["files"].values()):
            return None
        shown = [entry["url"], *(line for pair in entry["current_lines"] or () for line in pair)]
        if any(mask_text(text, secrets) != text for text in shown):
            return None
        try:
            json.dumps(entry)
        except (TypeError, ValueError):
            return None  # an SSL context or a callable among the connect arguments
        return entry

    def _current_lines(self, script: Any, track: Any, heads: list[str]) -> list[list[str]] | None:
        """What ``current`` prints for a database at the heads (recorded only then)."""
        at = tuple(track.heads)
        if not heads or set(at) != set(heads):
            return None
        # At a single head, what ``current`` shows is that head: Alembic's get_all_current
        # walks every ancestor to learn it (20 ms at 300 revisions, quadratic in them).
        shown = [script.get_revision(at[0])] if len(at) == 1 else script.get_all_current(at)
        return [[s.cmd_format(False), s.cmd_format(True)] for s in shown]


def _masked_url(connection: Any) -> str:
    from alembic import util

    return str(util.obfuscate_url_pw(connection.engine.url))
