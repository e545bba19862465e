"""Helpers for the reliability suite: query the real databases, spawn the installed script."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_ENV_PREFIXES = ("ASYNCMIG_", "DATABASE_URL", "ALEMBIC_CONFIG", "GITHUB_ACTIONS", "NO_COLOR")
SCRIPT = str(Path(sys.executable).with_name("asyncmig"))

#: Used as the password in URLs: PostgreSQL here trusts local connections, so any password works.
SECRET = "Pw-8d3f_hunter2"


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


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start the installed script in the background (killed at teardown if still running)."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_ENV_PREFIXES)}
        proc = subprocess.Popen(
            [SCRIPT, *args],
            cwd=cwd or tmp_path,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def assert_one_error(stderr: str, expected: str | None = None) -> str:
    """Exactly one ``Error:`` line and no traceback; returns the line."""
    assert "Traceback" not in stderr, stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    if expected is not None:
        assert lines[0] == expected, stderr
    return lines[0]
