"""The env.py helper: one call that runs Alembic's migrations on an async engine.

asyncmig's template calls :func:`run_migrations`; any env.py may. It handles
three modes:

* offline (``--sql``): ``context.configure(url=...)``, SQL rendered as text;
* a connection passed by the caller in ``config.attributes["connection"]``
  (asyncmig's async API does this): migrations run on it, and the caller's
  transaction, if one is open, is left to the caller;
* online: an async engine from the config section
  (``async_engine_from_config(..., prefix="sqlalchemy.", poolclass=NullPool)``)
  and ``connection.run_sync``.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_engine_from_config

from . import bridge


def _configure_logging(config: Any) -> None:
    name = config.config_file_name
    if name is None or not config.file_config.has_section("formatters"):
        return
    # Keep the host application's loggers alive (Alembic's template disables them).
    fileConfig(name, disable_existing_loggers=False)


def _options(dialect_name: str, target_metadata: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {
        "target_metadata": target_metadata,
        # SQLite cannot ALTER most things: batch mode recreates tables instead.
        "render_as_batch": dialect_name == "sqlite",
    }
    options.update(kwargs)
    return options


def _run_on(connection: Connection, target_metadata: Any, kwargs: dict[str, Any]) -> None:
    context.configure(
        connection=connection, **_options(connection.dialect.name, target_metadata, kwargs)
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(config: Any, target_metadata: Any, kwargs: dict[str, Any]) -> None:
    engine = async_engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_on, target_metadata, kwargs)
    finally:
        await engine.dispose()


def run_migrations(
    target_metadata: Any = None, *, configure_logging: bool = True, **configure_kwargs: Any
) -> None:
    """Run the current Alembic command's migrations; call it from env.py.

    ``configure_kwargs`` go to ``context.configure`` (for example
    ``compare_type=True``, ``include_object=...``, ``version_table_schema=...``,
    ``transaction_per_migration=True``). ``render_as_batch`` defaults to True on
    SQLite.
    """
    config = context.config
    if configure_logging:
        _configure_logging(config)

    if context.is_offline_mode():
        url = config.get_main_option("sqlalchemy.url")
        dialect_name = (url or "").split(":", 1)[0].split("+", 1)[0]
        options: dict[str, Any] = {"literal_binds": True, "dialect_opts": {"paramstyle": "named"}}
        options.update(_options(dialect_name, target_metadata, configure_kwargs))
        context.configure(url=url, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run_on(connection, target_metadata, configure_kwargs)
        return
    if isinstance(connection, Engine):
        with connection.begin() as conn:
            _run_on(conn, target_metadata, configure_kwargs)
        return
    if isinstance(connection, (AsyncConnection, AsyncEngine)):
        raise TypeError(
            "config.attributes['connection'] holds an async object: pass its sync side "
            "from inside run_sync, or use asyncmig.upgrade(connection=...)"
        )
    online = _run_online(config, target_metadata, configure_kwargs)
    if bridge.in_greenlet():
        # Under asyncmig (or any greenlet_spawn) a loop already runs beneath: await on it.
        bridge.await_(online)
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(online)  # plain ``alembic`` on this env.py
        return
    online.close()
    raise RuntimeError(
        "asyncio.run() cannot be called from a running event loop: use "
        "'await asyncmig.upgrade(...)', which runs env.py in a worker thread"
    )
