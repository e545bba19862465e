"""An env.py for any config layout (alembic.ini, pyproject.toml only, -c twice,
ALEMBIC_CONFIG): logging only when the ini exists, the URL from the config or else from
DATABASE_URL, and an ini option of the project's own (version_table) that shows whether
the ini was read at all."""

import asyncio
import os
from logging.config import fileConfig

import models
from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

config = context.config
if config.config_file_name is not None and os.path.exists(config.config_file_name):
    fileConfig(config.config_file_name)
target_metadata = models.metadata
# get_section() with a default: get_main_option() raises when there is no ini at all.
section = config.get_section(config.config_ini_section, {})
version_table = section.get("version_table", "alembic_version")


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, version_table=version_table
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    url = section.get("sqlalchemy.url") or os.environ["DATABASE_URL"]
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


asyncio.run(run_async_migrations())
