"""Schema-per-tenant on PostgreSQL, chosen with `-x tenant=NAME`: the tenant's schema
is created if needed and made the search_path, and its version table lives in it."""

import asyncio
from logging.config import fileConfig

import models
from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)
target_metadata = models.metadata
tenant = context.get_x_argument(as_dictionary=True).get("tenant", "public")


def do_run_migrations(connection: Connection) -> None:
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{tenant}"'))
    connection.execute(text(f'SET search_path TO "{tenant}"'))
    connection.commit()
    connection.dialect.default_schema_name = tenant
    context.configure(
        connection=connection, target_metadata=target_metadata, version_table_schema=tenant
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    connectable = async_engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    async with connectable.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await connectable.dispose()


asyncio.run(run_async_migrations())
