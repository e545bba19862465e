"""``asyncmig_history``: its columns, and creating it where the version table is.

Times are UTC without a zone (``DATETIME`` on MariaDB, with microseconds), so the three
databases store the same values; revisions lists are comma-separated, as Alembic prints them.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from . import TABLE_NAME


@functools.cache
def history_table(schema: str | None, dialect: str = "") -> sa.Table:
    """The table in ``schema`` (the version table's; None: the connection's default), as
    ``dialect`` (its name) creates it: MariaDB/MySQL keep microseconds only when asked.
    The MySQL dialect is imported for MySQL only (40 ms otherwise spent on every run)."""
    time: Any = sa.DateTime()
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects import mysql

        time = mysql.DATETIME(fsp=6)
    return sa.Table(
        TABLE_NAME,
        sa.MetaData(),
        # The order steps ran in (Flyway's installed_rank): rows are read back by it.
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("revision", sa.String(255), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("from_revisions", sa.String(1000), nullable=False),
        sa.Column("to_revisions", sa.String(1000), nullable=False),
        # The version table's heads once the step is done: what validate compares.
        sa.Column("heads", sa.String(1000), nullable=False),
        sa.Column("message", sa.String(255), nullable=False),
        sa.Column("script", sa.String(255), nullable=True),
        sa.Column("checksum", sa.String(64), nullable=True),
        sa.Column("started_at", time, nullable=False),
        sa.Column("finished_at", time, nullable=False),
        sa.Column("duration", sa.Double(), nullable=False),
        sa.Column("asyncmig_version", sa.String(32), nullable=False),
        sa.Column("alembic_version", sa.String(32), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("os_user", sa.String(255), nullable=False),
        sa.Column("db_user", sa.String(255), nullable=True),
        sa.Column("application_name", sa.String(255), nullable=True),
        sa.Column("deploy_id", sa.String(255), nullable=True),
        schema=schema,
    )


def table_for(connection: Any, schema: str | None) -> sa.Table:
    """The table as ``connection``'s database creates and reads it."""
    return history_table(schema, connection.dialect.name)


def exists(connection: Any, schema: str | None) -> bool:
    """Whether the table is there (one catalogue query)."""
    return bool(sa.inspect(connection).has_table(TABLE_NAME, schema=schema))


def ensure(connection: Any, schema: str | None) -> None:
    """Create the table unless it exists."""
    if not exists(connection, schema):
        table_for(connection, schema).create(connection)
