"""Every tenant in one run: a loop over the tenant schemas (from `-x tenants=a,b`), one
context.configure and one transaction per schema, each with its own version table."""

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
tenants = context.get_x_argument(as_dictionary=True).get("tenants", "public").split(",")


def do_run_migrations(connection: Connection) -> None:
    for schema in tenants:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.execute(text(f'SET search_path TO "{schema}"'))
        connection.commit()
        connection.dialect.default_schema_name = schema
        context.configure(
            connection=connection, target_metadata=target_metadata, version_table_schema=schema
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
