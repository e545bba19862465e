"""The test databases: the servers' addresses, creating and dropping databases on them, and
reading what a run left there on a connection of the test's own.

With ``CI`` set, a missing database server fails the tests instead of skipping them
(:func:`server_missing`).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

PG_HOST = os.environ.get("ASYNCMIG_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
MARIADB_HOST = os.environ.get("ASYNCMIG_TEST_MARIADB", "mysql://root@127.0.0.1:3306")


def server_missing(name: str, exc: BaseException) -> None:
    """Skip the test (fail it under ``CI``): the server ``name`` is not reachable."""
    message = f"{name} is not reachable: {exc}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def pg_admin(sql: str) -> None:
    """Run ``sql`` on the PostgreSQL server's ``postgres`` database (CREATE/DROP DATABASE)."""
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(
            PG_HOST.replace("postgresql://", "postgresql://", 1) + "/postgres"
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


def mariadb_admin(sql: str) -> None:
    """Run ``sql`` on the MariaDB server, no database selected (CREATE/DROP DATABASE)."""
    import asyncmy

    async def go() -> None:
        conn = await asyncmy.connect(host="127.0.0.1", port=3306, user="root", password="")
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql)
        finally:
            conn.close()

    asyncio.run(go())


# -- reading what a run left --------------------------------------------------------------
def pg_fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the database of an asyncpg URL (a connection of the test's own)."""
    import asyncpg

    async def go() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(go())


def pg_execute(url: str, sql: str) -> None:
    """Run the script ``sql`` (several statements, as ``psql -f``) on an asyncpg URL's database."""
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


def pg_versions(url: str) -> list[str]:
    """The revisions in alembic_version; [] when the table does not exist."""
    rows = pg_fetch(url, "SELECT to_regclass('alembic_version') IS NOT NULL")
    if not rows[0][0]:
        return []
    return sorted(row[0] for row in pg_fetch(url, "SELECT version_num FROM alembic_version"))


#: Bookkeeping tables, not what revisions created: Alembic's and asyncmig's history.
BOOKKEEPING = ("alembic_version", "asyncmig_history")


def pg_tables(url: str) -> list[str]:
    rows = pg_fetch(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return sorted(row[0] for row in rows if row[0] not in BOOKKEEPING)


def pg_database_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def pg_others(url: str) -> list[tuple[Any, ...]]:
    """Backends (other than this query's) still connected to the test database."""
    name = pg_database_of(url)
    return pg_fetch(
        url,
        f"SELECT pid, state, query FROM pg_stat_activity WHERE datname = '{name}' "
        "AND pid <> pg_backend_pid()",
    )


def pg_advisory_locks(url: str) -> list[tuple[Any, ...]]:
    name = pg_database_of(url)
    return pg_fetch(
        url,
        "SELECT l.pid, l.objid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        f"WHERE l.locktype = 'advisory' AND d.datname = '{name}'",
    )


def sqlite_versions(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        try:
            return sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))
        except sqlite3.OperationalError:
            return []


def sqlite_tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return sorted(r[0] for r in rows if r[0] not in BOOKKEEPING)


def mariadb_fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    import asyncmy

    database = url.rsplit("/", 1)[1]

    async def go() -> list[tuple[Any, ...]]:
        conn = await asyncmy.connect(
            host="127.0.0.1", port=3306, user="root", password="", database=database
        )
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql)
                return [tuple(row) for row in await cur.fetchall()]
        finally:
            conn.close()

    return asyncio.run(go())


def mariadb_versions(url: str) -> list[str]:
    try:
        return sorted(r[0] for r in mariadb_fetch(url, "SELECT version_num FROM alembic_version"))
    except Exception as exc:  # the table does not exist yet
        if "1146" in str(exc):
            return []
        raise
