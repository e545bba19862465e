"""The async API: migrate from inside a running event loop (app lifespan, pytest-asyncio).

Each function resolves settings exactly as the CLI does and runs the same
:mod:`asyncmig.runner` function:

* without ``connection=``, in a worker thread (``loop.run_in_executor``), so any
  env.py works, including Alembic's ``asyncio.run`` template;
* with ``connection=`` (an ``AsyncConnection`` or ``AsyncEngine``), inside
  ``run_sync`` with ``config.attributes["connection"]`` (Alembic's cookbook
  recipe); env.py must use that attribute, as asyncmig's template does. An open
  transaction on the caller's connection is left for the caller to commit.

Alembic's ``context`` and ``op`` are module-level proxies, so calls in one
process are serialised by :mod:`asyncmig.process_lock`. Errors are
raised as :class:`asyncmig.errors.AsyncmigError` subclasses; nothing is printed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from . import commands, process_lock, runner
from .events import Events, SilentEvents
from .options import Options
from .results import Plan, RunResult, Status
from .settings import Settings, resolve

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
    from typing_extensions import Unpack

    from .results import HistoryLog, Validation
    from .safety.report import LintReport, VerifyReport

T = TypeVar("T")


#: The API's keyword arguments: the global options (one declaration, in asyncmig.options).
ConfigOptions = Options


async def _on_connection(
    fn: Callable[[runner.Runtime], T], make: Callable[[Any], runner.Runtime], conn: AsyncConnection
) -> T:
    """Run ``fn`` inside ``conn.run_sync``, leaving ``conn`` in the transaction state it had.

    If the caller had a transaction open, Alembic treats it as external and never
    commits it: the caller commits or rolls back. Otherwise any transaction the run
    left open (SQLAlchemy autobegins one on the first statement, for example when
    reading the version table) is committed, or rolled back on error, so a later
    call on the same connection does not end up inside it.
    """
    was_in_transaction = conn.in_transaction()
    try:
        result = await conn.run_sync(lambda sync: fn(make(sync)))
    except BaseException:
        if not was_in_transaction and conn.in_transaction():
            with contextlib.suppress(Exception):
                await conn.rollback()
        raise
    if not was_in_transaction and conn.in_transaction():
        await conn.commit()
    return result


def resolve_settings(**options: Unpack[Options]) -> Settings:
    """Settings as the CLI resolves them from the same options (:class:`Options`)."""
    return resolve(options)


async def _run(
    fn: Callable[[runner.Runtime], T],
    settings: Settings,
    connection: AsyncConnection | AsyncEngine | None,
    events: Events | None,
) -> T:
    from sqlalchemy.ext.asyncio import AsyncEngine

    def runtime(sync_connection: Any = None) -> runner.Runtime:
        return runner.Runtime(
            settings, events=events or SilentEvents(), connection=sync_connection, locked=True
        )

    await process_lock.acquire()
    if connection is None:
        rt = runtime()
        return await process_lock.run_in_thread(lambda: fn(rt))
    try:
        if isinstance(connection, AsyncEngine):
            async with connection.connect() as conn:
                return await _on_connection(fn, runtime, conn)
        return await _on_connection(fn, runtime, connection)
    finally:
        process_lock.release()


async def upgrade(
    revision: str = "head",
    *,
    connection: AsyncConnection | AsyncEngine | None = None,
    sql: bool = False,
    tag: str | None = None,
    events: Events | None = None,
    **options: Unpack[ConfigOptions],
) -> RunResult:
    """Upgrade to ``revision``; ``options``: :class:`ConfigOptions`."""
    settings = resolve_settings(**options)
    return await _run(
        lambda rt: commands.upgrade(rt, revision, sql=sql, tag=tag), settings, connection, events
    )


async def downgrade(
    revision: str,
    *,
    connection: AsyncConnection | AsyncEngine | None = None,
    sql: bool = False,
    tag: str | None = None,
    events: Events | None = None,
    **options: Unpack[ConfigOptions],
) -> RunResult:
    """Downgrade to ``revision`` (``base``, ``-1``, an id)."""
    settings = resolve_settings(**options)
    return await _run(
        lambda rt: commands.downgrade(rt, revision, sql=sql, tag=tag), settings, connection, events
    )


async def stamp(
    revision: str | Sequence[str],
    *,
    connection: AsyncConnection | AsyncEngine | None = None,
    purge: bool = False,
    sql: bool = False,
    tag: str | None = None,
    events: Events | None = None,
    **options: Unpack[ConfigOptions],
) -> RunResult:
    """Write ``revision`` to the version table without running migrations."""
    revisions = [revision] if isinstance(revision, str) else list(revision)
    settings = resolve_settings(**options)
    return await _run(
        lambda rt: commands.stamp(rt, revisions, sql=sql, tag=tag, purge=purge),
        settings,
        connection,
        events,
    )


async def current(
    *, connection: AsyncConnection | AsyncEngine | None = None, **options: Unpack[ConfigOptions]
) -> list[str]:
    """The database's current revision ids (empty at base)."""
    settings = resolve_settings(**options)
    return list((await _run(commands.current, settings, connection, None)).current)


async def heads(**options: Unpack[ConfigOptions]) -> list[str]:
    """The head revision ids of the scripts (no database needed)."""
    settings = resolve_settings(**options)
    scripts = await _run(commands.heads, settings, None, None)
    return [script.revision for script in scripts]


async def status(
    *, connection: AsyncConnection | AsyncEngine | None = None, **options: Unpack[ConfigOptions]
) -> Status:
    """Current revisions, heads and pending revisions; ``status.up_to_date`` says if done."""
    settings = resolve_settings(**options)
    return await _run(commands.status, settings, connection, None)


async def plan(target: str = "head", **options: Unpack[ConfigOptions]) -> Plan:
    """The SQL an upgrade to ``target`` would run from the current revision."""
    settings = resolve_settings(**options)
    return await _run(lambda rt: commands.plan(rt, target), settings, None, None)


async def check(
    *, connection: AsyncConnection | AsyncEngine | None = None, **options: Unpack[ConfigOptions]
) -> None:
    """Raise :class:`PendingMigrations` on pending revisions or model drift."""
    settings = resolve_settings(**options)
    await _run(commands.check, settings, connection, None)


async def ensure_version(
    *, connection: AsyncConnection | AsyncEngine | None = None, **options: Unpack[ConfigOptions]
) -> None:
    """Create the version table if it is missing."""
    settings = resolve_settings(**options)
    await _run(commands.ensure_version, settings, connection, None)


# -- safety gates (asyncmig.safety) ----------------------------------------------------------
async def lint(target: str = "head", **options: Unpack[ConfigOptions]) -> LintReport:
    """Lint the revisions an upgrade to ``target`` would run (a range ``A:B``: no database);
    ``report.errors`` holds the error-level findings."""
    settings = resolve_settings(**options)
    return await _run(lambda rt: commands.lint(rt, target), settings, None, None)


async def verify(
    *, scratch_url: str | None = None, **options: Unpack[ConfigOptions]
) -> VerifyReport:
    """The stairway, the model match and the single head on a scratch database;
    ``report.ok`` says whether all passed."""
    settings = resolve_settings(**options)
    return await _run(lambda rt: commands.verify(rt, scratch_url), settings, None, None)


# -- the schema history (asyncmig.history) -----------------------------------------------------
async def log(
    *, since: str | None = None, revision: str | None = None, **options: Unpack[ConfigOptions]
) -> HistoryLog:
    """The history table's rows, oldest first (``since``: a date or an age such as ``7d``;
    ``revision``: an id or its beginning)."""
    settings = resolve_settings(**options)
    return await _run(
        lambda rt: commands.log(rt, since=since, revision=revision), settings, None, None
    )


async def validate(**options: Unpack[ConfigOptions]) -> Validation:
    """Applied revisions against their files and the version table; ``result.ok`` says
    whether all is well (the API returns the problems instead of raising)."""
    settings = resolve_settings(**options)
    return await _run(commands.validate, settings, None, None)
