"""The async API: migrate from inside a running event loop (app lifespan, pytest-asyncio).

Each function resolves settings exactly as the CLI does and runs the same
:mod:`asyncmig.runner` function:

* without ``connection=``, in a worker thread (``asyncio.to_thread``), so any
  env.py works, including Alembic's ``asyncio.run`` template;
* with ``connection=`` (an ``AsyncConnection`` or ``AsyncEngine``), inside
  ``run_sync`` with ``config.attributes["connection"]`` (Alembic's cookbook
  recipe); env.py must use that attribute, as asyncmig's template does. An open
  transaction on the caller's connection is left for the caller to commit.

Alembic's ``context`` and ``op`` are module-level proxies, so calls in one
process are serialised by :data:`asyncmig.runner.PROCESS_LOCK`. Errors are
raised as :class:`asyncmig.errors.AsyncmigError` subclasses; nothing is printed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from . import runner
from .instrument import Events, SilentEvents
from .results import Plan, RunResult, Status
from .settings import Options, Settings, resolve

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")

@asynccontextmanager
async def _process_lock() -> AsyncIterator[None]:
    # Poll rather than block: a blocked acquire would stall the event loop, and an
    # acquire in a thread could not be cancelled cleanly.
    while not runner.PROCESS_LOCK.acquire(blocking=False):
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        runner.PROCESS_LOCK.release()


def _settings(
    config: str | os.PathLike[str] | Config | None,
    *,
    section: str | None,
    url: str | None,
    x: Sequence[str],
    set_options: Sequence[str],
    env_files: Sequence[str | os.PathLike[str]] | None,
    wait_timeout: float | None,
    lock_timeout: float | None,
    statement_timeout: float | None,
    pg_lock_timeout: float | None,
    cwd: str | os.PathLike[str] | None,
    environ: Mapping[str, str] | None,
) -> Settings:
    config_file: str | os.PathLike[str] | None
    if config is None or isinstance(config, (str, os.PathLike)):
        config_file = config
    else:
        config_file = config.config_file_name or config.toml_file_name
        section = section or config.config_ini_section
        if url is None and config.config_file_name is None:
            url = config.get_main_option("sqlalchemy.url")
    return resolve(
        Options(
            config_file=config_file,
            section=section,
            x_args=tuple(x),
            url=url,
            set_options=tuple(set_options),
            env_files=tuple(env_files) if env_files is not None else None,
            wait_timeout=wait_timeout,
            lock_timeout=lock_timeout,
            statement_timeout=statement_timeout,
            pg_lock_timeout=pg_lock_timeout,
            cwd=cwd,
            environ=environ,
        )
    )


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

    async with _process_lock():
        if connection is None:
            return await asyncio.to_thread(fn, runtime())
        if isinstance(connection, AsyncEngine):
            async with connection.connect() as conn:
                result = await conn.run_sync(lambda sync: fn(runtime(sync)))
                await conn.commit()
                return result
        return await connection.run_sync(lambda sync: fn(runtime(sync)))


def _common(
    config: str | os.PathLike[str] | Config | None = None,
    *,
    section: str | None = None,
    url: str | None = None,
    x: Sequence[str] = (),
    set_options: Sequence[str] = (),
    env_files: Sequence[str | os.PathLike[str]] | None = None,
    wait_timeout: float | None = None,
    lock_timeout: float | None = None,
    statement_timeout: float | None = None,
    pg_lock_timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    return _settings(
        config,
        section=section,
        url=url,
        x=x,
        set_options=set_options,
        env_files=env_files,
        wait_timeout=wait_timeout,
        lock_timeout=lock_timeout,
        statement_timeout=statement_timeout,
        pg_lock_timeout=pg_lock_timeout,
        cwd=cwd,
        environ=environ,
    )


async def upgrade(
    revision: str = "head",
    *,
    connection: AsyncConnection | AsyncEngine | None = None,
    sql: bool = False,
    tag: str | None = None,
    events: Events | None = None,
    **options: Any,
) -> RunResult:
    """Upgrade to ``revision``; ``options`` are :func:`resolve_settings`'s keyword arguments."""
    settings = _common(**options)
    return await _run(lambda rt: runner.upgrade(rt, revision, sql=sql, tag=tag), settings, connection, events)


async def downgrade(
    revision: str,
    *,
    connection: AsyncConnection | AsyncEngine | None = None,
    sql: bool = False,
    tag: str | None = None,
    events: Events | None = None,
    **options: Any,
) -> RunResult:
    """Downgrade to ``revision`` (``base``, ``-1``, an id)."""
    settings = _common(**options)
    return await _run(
        lambda rt: runner.downgrade(rt, revision, sql=sql, tag=tag), settings, connection, events
    )


async def stamp(
    revision: str | Sequence[str],
    *,
    connection: AsyncConnection | AsyncEngine | None = None,
    purge: bool = False,
    sql: bool = False,
    tag: str | None = None,
    events: Events | None = None,
    **options: Any,
) -> RunResult:
    """Write ``revision`` to the version table without running migrations."""
    revisions = [revision] if isinstance(revision, str) else list(revision)
    settings = _common(**options)
    return await _run(
        lambda rt: runner.stamp(rt, revisions, sql=sql, tag=tag, purge=purge), settings, connection, events
    )


async def current(
    *, connection: AsyncConnection | AsyncEngine | None = None, **options: Any
) -> list[str]:
    """The database's current revision ids (empty at base)."""
    settings = _common(**options)
    return list(await _run(runner.current, settings, connection, None))


async def heads(**options: Any) -> list[str]:
    """The head revision ids of the scripts (no database needed)."""
    settings = _common(**options)
    script = await _run(runner.script_directory, settings, None, None)
    return list(script.get_heads())


async def status(
    *, connection: AsyncConnection | AsyncEngine | None = None, **options: Any
) -> Status:
    """Current revisions, heads and pending revisions; ``status.up_to_date`` says if done."""
    settings = _common(**options)
    return await _run(runner.status, settings, connection, None)


async def plan(target: str = "head", **options: Any) -> Plan:
    """The SQL an upgrade to ``target`` would run from the current revision."""
    settings = _common(**options)
    return await _run(lambda rt: runner.plan(rt, target), settings, None, None)


async def check(
    *, connection: AsyncConnection | AsyncEngine | None = None, **options: Any
) -> None:
    """Raise :class:`PendingMigrations` on pending revisions or model drift."""
    settings = _common(**options)
    await _run(runner.check, settings, connection, None)


async def ensure_version(
    *, connection: AsyncConnection | AsyncEngine | None = None, **options: Any
) -> None:
    """Create the version table if it is missing."""
    settings = _common(**options)
    await _run(runner.ensure_version, settings, connection, None)


resolve_settings = _common
