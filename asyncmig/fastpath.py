"""The no-op fast path: ``upgrade head``, ``status`` and ``current`` answered with a
connect and one query when the database is already at the heads.

Most deploys have nothing to apply, yet a full run imports SQLAlchemy and Alembic,
runs env.py and builds the revision map only to learn that. asyncmig cannot know
what an arbitrary env.py does without running it, so the fast path never guesses:
a full run of the same command *records* what env.py did
(:mod:`asyncmig.fastpath_record`): the driver's connect arguments (the password
only as a hash), the version table and its schema, the PostgreSQL schemas the
table name resolved in, what it wrote on stdout/stderr before and after the
migrations, the heads of the revision files, and every input it depended on:

* the command, its arguments, the global options, the asyncmig variables, the
  config files' bytes, the working directory, Python and asyncmig (the cache key);
* env.py, every module it imported and every file it opened (path, mtime, size);
* every environment variable env.py read (or all of them, if it listed them);
* the versions folders (every file's name, mtime and size).

The fast path answers only when all of these are unchanged, the run was one online
database on PostgreSQL/asyncpg with no pooler in between and nothing written to
files, and the database is at exactly the recorded heads. In every other case it
returns None and the full path runs (which takes the migration lock and reads the
version table again under it before applying anything). The recording lives in
``<script_location>/__pycache__/asyncmig-fastpath.json``; ``ASYNCMIG_FAST_PATH=false``
(ini ``asyncmig.fast_path``) turns it off. Only the command line uses it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .fastpath_store import (
    CACHE_NAME,
    FORMAT,
    environment_values,
    file_state,
    load,
    password_from,
    secret_check,
    sha,
    unchanged,
)
from .identifiers import quote_ident

#: What the recorded connection must have been, for the fast path to connect the same way.
SUPPORTED = ("postgresql", "asyncpg")
#: Keys SQLAlchemy's asyncpg adapter takes out before calling ``asyncpg.connect``.
_ADAPTER_KEYS = (
    "prepared_statement_cache_size",
    "prepared_statement_name_func",
    "async_creator_fn",
)


@dataclass(frozen=True)
class Request:
    """One command line invocation, as the fast path sees it."""

    command: str
    #: The command's own arguments (``revision``, ``sql``, ``tag``, ``lint``, ``verbose``...).
    arguments: Mapping[str, Any]
    #: The global options as parsed (``CliState.options``).
    options: Mapping[str, Any]
    quiet: bool = False
    raiseerr: bool = False


def eligible(request: Request) -> bool:
    """Whether ``request`` may be answered from a recording at all: the one place that
    decides (a new command, flag or feature that needs the full path says so here)."""
    args = request.arguments
    if request.command == "upgrade":
        return (
            args.get("revision") in ("head", "heads")
            and not args.get("sql")
            and args.get("tag") is None
            and not args.get("lint")
            # validate reads every applied revision's file against the history table
            and not args.get("validate")
        )
    return request.command in ("status", "current")


def _filesha(path: Path | None) -> str | None:
    return sha(path.read_bytes()) if path is not None else None


@dataclass(frozen=True)
class Inputs:
    """Where a request's recording is and the key it is stored under."""

    key: str
    cache: Path
    #: Raw URLs the settings could take the password from (checked against the hash).
    urls: tuple[str, ...]
    connect_timeout: float


def _masked(text: str) -> str:
    from .masking import mask_text
    from .urls import _raw_secrets

    return mask_text(text, _raw_secrets(text))


def inputs(request: Request) -> Inputs | None:
    """The cache key of ``request`` (no SQLAlchemy, no Alembic), or None when the fast
    path is off or the script location is not a folder."""
    from .configfiles import DEFAULT_SECTION, find_config, load_environment, read_file_keys
    from .options import resolve_value

    options = request.options
    cwd = Path.cwd()
    files = options.get("env_files")
    env = load_environment(os.environ, tuple(files) if files is not None else None, cwd)
    ini_path, toml_path, config_args = find_config(options.get("config"), env, cwd)
    section = str(options.get("section") or DEFAULT_SECTION)
    keys = read_file_keys(ini_path, toml_path, section, named=options.get("section") is not None)
    ini = {key: setting.value for key, setting in keys.asyncmig.items()}
    if not resolve_value("fast_path", options.get("fast_path"), env, ini)[0]:
        return None
    location = Path(keys.alembic["script_location"].value)
    location = location if location.is_absolute() else cwd / location
    if not location.is_dir():
        return None  # a package resource ("pkg:migrations"): the full path resolves it
    ours = {k: v for k, (v, _) in env.items() if k.startswith("ASYNCMIG_")}
    for name in ("DATABASE_URL", "ALEMBIC_CONFIG"):
        if name in env:
            ours[name] = env[name][0]
    # The key holds no secret: a changed password shows in the secret check instead.
    shown = {k: _masked(v) for k, v in ours.items()}
    given = {k: _masked(v) if isinstance(v, str) else v for k, v in options.items()}
    material = {
        "format": FORMAT,
        "asyncmig": __version__,
        "python": sys.version,
        "executable": sys.executable,
        "cwd": str(cwd),
        "command": request.command,
        "arguments": sorted(request.arguments.items()),
        "options": sorted(given.items()),
        "quiet": request.quiet,
        "raiseerr": request.raiseerr,
        "env": sorted(shown.items()),
        "ini": [str(ini_path), _filesha(ini_path)],
        "toml": [str(toml_path), _filesha(toml_path)],
        "section": section,
        "config_args": list(config_args),
        "packages": _installed(("alembic", "sqlalchemy", "asyncpg")),
    }
    urls = [ours.get("ASYNCMIG_URL"), ours.get("DATABASE_URL"), options.get("url")]
    if "sqlalchemy.url" in keys.sqlalchemy:
        urls.append(keys.sqlalchemy["sqlalchemy.url"].value)
    wait = float(resolve_value("wait_timeout", options.get("wait_timeout"), env, ini)[0] or 0)
    return Inputs(
        key=sha(json.dumps(material, sort_keys=True, default=repr)),
        cache=location / "__pycache__" / CACHE_NAME,
        urls=tuple(u for u in urls if isinstance(u, str)),
        connect_timeout=min(max(wait, 1.0), 5.0),
    )


def _installed(names: Iterable[str]) -> list[Any]:
    """Where each package is installed and its ``__init__`` file's mtime and size (an
    upgrade of Alembic may change what it prints), found without importing it."""
    from importlib.util import find_spec

    found: list[Any] = []
    for name in names:
        spec = find_spec(name)
        origin = spec.origin if spec is not None else None
        found.append([name, origin, file_state(origin) if origin else None])
    return found


# -- the answer -------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """The database is at the recorded heads: what the full path would have reported."""

    entry: dict[str, Any]
    current: tuple[str, ...]
    duration: float

    @property
    def heads(self) -> tuple[str, ...]:
        return tuple(self.entry["script_heads"])

    def replay(self, stdout: TextIO, stderr: TextIO) -> None:
        """What env.py and Alembic wrote around the (empty) migrations, in order."""
        streams = {"stdout": stdout, "stderr": stderr}
        for name, text in (*self.entry["prefix"], *self.entry["suffix"]):
            streams[name].write(text)
        stdout.flush()
        stderr.flush()

    def run_result(self, target: str) -> Any:
        from .results import DatabaseResult, RunResult

        database = DatabaseResult(
            name=self.entry["label"],
            from_revisions=self.current,
            to_revisions=self.current,
            steps=(),
        )
        return RunResult(
            command="upgrade",
            target=target,
            from_revisions=self.current,
            to_revisions=self.current,
            steps=(),
            duration=self.duration,
            databases=(database,),
        )

    def status(self) -> Any:
        from .results import Status

        return Status(current=self.current, heads=self.heads)

    def current_result(self) -> Any:
        from .results import Current, Reading

        scripts = tuple(RecordedScript(*pair) for pair in self.entry["current_lines"])
        reading = Reading(current=self.current, scripts=scripts, url=self.entry["url"])
        return Current(heads=self.heads, readings=(reading,))


@dataclass(frozen=True)
class RecordedScript:
    """A revision as ``current`` prints it (Alembic's ``Script.cmd_format``), recorded."""

    plain: str
    verbose: str

    def cmd_format(self, verbose: bool) -> str:
        return self.verbose if verbose else self.plain


@dataclass(frozen=True)
class Consulted:
    """What the fast path made of a request."""

    answer: Answer | None
    inputs: Inputs | None = None
    #: No valid recording for these inputs: the full run should make one.
    record: bool = False


#: What :mod:`asyncmig.entry` learned before handing a request to the full command line.
_REMEMBERED: list[tuple[Request, Consulted]] = []


def remember(request: Request, consulted: Consulted) -> None:
    _REMEMBERED[:] = [(request, consulted)]


def recall(request: Request) -> Consulted:
    """What was learned about ``request`` already in this process, else :func:`consult`."""
    if _REMEMBERED and _REMEMBERED[0][0] == request:
        return _REMEMBERED.pop()[1]
    _REMEMBERED.clear()
    return consult(request)


def consult(request: Request) -> Consulted:
    """The fast answer to ``request`` if there is one, and whether to record the full run."""
    started = time.perf_counter()
    if not eligible(request):
        return Consulted(None)
    try:
        found = inputs(request)
        if found is None:
            return Consulted(None)
        entry = load(found.cache).get("recordings", {}).get(found.key)
        if not isinstance(entry, dict) or not unchanged(entry):
            return Consulted(None, found, record=True)
        if request.command == "current" and entry.get("current_lines") is None:
            return Consulted(None, found, record=True)
    except Exception:  # an unreadable config: the full path reports it
        return Consulted(None)
    try:
        heads = entry["script_heads"]
        if request.arguments.get("revision") == "head" and len(heads) != 1:
            return Consulted(None, found)  # Alembic's error for several heads: the full path
        password = _password(entry, found.urls)
        if password is False or password is True:
            return Consulted(None, found, record=True)
        import asyncio

        current = asyncio.run(_read(entry, password, found.connect_timeout))
    except Exception:  # unreachable, no table: the full path waits, retries and reports
        return Consulted(None, found)
    if current is None:
        return Consulted(None, found, record=True)  # the session differs from the recorded
    if not current or set(current) != set(heads):
        return Consulted(None, found)  # something to apply: under the lock, in full
    return Consulted(Answer(entry, current, time.perf_counter() - started), found)


def _password(entry: dict[str, Any], urls: Iterable[str]) -> str | bool | None:
    """The password env.py connected with, from the settings' URLs, checked together with
    the variables env.py read (False: a password or a variable differs)."""
    keys = entry["env_keys"]
    environment = environment_values(None if keys == "*" else keys)
    candidates: list[str | None] = [None]
    if entry["has_password"]:
        candidates = [p for p in dict.fromkeys(password_from(url) for url in urls) if p]
    for candidate in candidates:
        if secret_check([candidate, environment], entry["salt"]) == entry["secret_check"]:
            return candidate
    return False


async def _read(
    entry: dict[str, Any], password: str | None, timeout: float
) -> tuple[str, ...] | None:
    """The version table's rows, on a connection made as env.py's was (None: differs)."""
    import asyncio

    import asyncpg  # type: ignore[import-untyped]

    params = {k: v for k, v in entry["cparams"].items() if k not in _ADAPTER_KEYS}
    if password is not None:
        params["password"] = password
    connection = await asyncio.wait_for(asyncpg.connect(*entry["cargs"], **params), timeout)
    try:
        if entry["schemas"] is not None:
            schemas = await connection.fetchval("SELECT current_schemas(false)::text")
            if schemas != entry["schemas"]:
                return None
        table = quote_ident(entry["version_table"])
        if entry["version_table_schema"] is not None:
            table = f"{quote_ident(entry['version_table_schema'])}.{table}"
        rows = await connection.fetch(f"SELECT version_num FROM {table}")
        return tuple(str(row[0]) for row in rows)
    finally:
        await connection.close(timeout=timeout)
