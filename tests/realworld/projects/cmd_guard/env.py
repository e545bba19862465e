"""A guard on the command being run, read from config.cmd_opts.cmd (the function Alembic's
argparse chose): a downgrade needs -x confirm=yes, as env.py files guarding production do."""

import asyncio
from logging.config import fileConfig

import models
from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)
target_metadata = models.metadata

command_name = config.cmd_opts.cmd[0].__name__ if config.cmd_opts is not None else None
if (
    command_name == "downgrade"
    and context.get_x_argument(as_dictionary=True).get("confirm") != "yes"
):
    raise SystemExit("refusing to downgrade without -x confirm=yes")


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
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
