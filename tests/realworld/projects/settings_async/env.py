"""An async env.py that takes the platform's DATABASE_URL and swaps in an async driver
itself (postgres:// and postgresql:// to postgresql+asyncpg://), then create_async_engine
and asyncio.run."""

import asyncio
import os
from logging.config import fileConfig

import models
from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)
target_metadata = models.metadata

_ASYNC = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "mysql": "mysql+asyncmy",
    "sqlite": "sqlite+aiosqlite",
}


def database_url() -> str:
    scheme, sep, rest = os.environ["DATABASE_URL"].partition("://")
    return f"{_ASYNC.get(scheme, scheme)}{sep}{rest}"


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


asyncio.run(run_async_migrations())
