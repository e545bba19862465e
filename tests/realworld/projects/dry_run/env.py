"""A dry run: with a bare `-x dry-run`, run every migration, then roll the transaction
back (PostgreSQL's transactional DDL undoes the schema changes too)."""

from logging.config import fileConfig

import models
from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)
target_metadata = models.metadata
dry_run = "dry-run" in context.get_x_argument()

engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction() as transaction:
        context.run_migrations()
        if dry_run:
            print("Dry run succeeded; rolling back.")
            transaction.rollback()
engine.dispose()
