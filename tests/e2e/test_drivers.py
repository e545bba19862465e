"""The same migration test set on every supported async driver, through the async API.

Each test runs inside the event loop pytest-asyncio provides, which is the case
the API exists for (app lifespans, async test suites).
"""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

import asyncmig

DRIVERS = [
    pytest.param("asyncpg", marks=pytest.mark.postgres, id="asyncpg"),
    pytest.param("psycopg", marks=pytest.mark.postgres, id="psycopg"),
    pytest.param("aiosqlite", id="aiosqlite"),
    pytest.param("asyncmy", marks=pytest.mark.mariadb, id="asyncmy"),
]


@pytest.fixture(params=DRIVERS)
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh, empty database reached through the parametrized driver."""
    driver = request.param
    if driver == "aiosqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    if driver == "asyncmy":
        return request.getfixturevalue("mariadb_url")
    url: str = request.getfixturevalue("pg_url")
    return url.replace("+asyncpg://", f"+{driver}://", 1)


def _backend(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0]


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


async def test_upgrade_downgrade_current_stamp_status_heads(project, db_url):
    ids = project.revisions(3)
    options = {"config": project.ini, "url": db_url}

    assert await asyncmig.heads(**options) == ["0003aa"]
    assert await asyncmig.current(**options) == []
    status = await asyncmig.status(**options)
    assert status.current == ()
    assert status.heads == ("0003aa",)
    assert [step.revision for step in status.pending] == ids
    assert not status.up_to_date

    result = await asyncmig.upgrade(**options)
    assert result.command == "upgrade"
    assert result.target == "head"
    assert result.from_revisions == ()
    assert result.to_revisions == ("0003aa",)
    assert [(s.revision, s.direction, s.message) for s in result.steps] == [
        ("0001aa", "upgrade", "create table t0001"),
        ("0002aa", "upgrade", "create table t0002"),
        ("0003aa", "upgrade", "create table t0003"),
    ]
    assert all(s.duration is not None and s.duration >= 0 for s in result.steps)
    assert await asyncmig.current(**options) == ["0003aa"]
    assert (await asyncmig.status(**options)).up_to_date
    assert {"t0001", "t0002", "t0003", "alembic_version"} <= await _tables(db_url)

    result = await asyncmig.downgrade("-1", **options)
    assert (result.from_revisions, result.to_revisions) == (("0003aa",), ("0002aa",))
    assert [(s.revision, s.direction) for s in result.steps] == [("0003aa", "downgrade")]
    assert await asyncmig.current(**options) == ["0002aa"]

    result = await asyncmig.downgrade("base", **options)
    assert result.to_revisions == ()
    assert [s.revision for s in result.steps] == ["0002aa", "0001aa"]
    assert await asyncmig.current(**options) == []
    assert not {"t0001", "t0002", "t0003"} & await _tables(db_url)

    # stamp writes the version table only: no table is created
    result = await asyncmig.stamp("head", **options)
    assert result.command == "stamp"
    assert [(s.revision, s.direction) for s in result.steps] == [("0003aa", "stamp")]
    assert await asyncmig.current(**options) == ["0003aa"]
    assert not {"t0001", "t0002", "t0003"} & await _tables(db_url)


async def test_caller_held_connection_and_engine(project, db_url):
    """On the caller's AsyncConnection (no transaction open) the migrations commit;
    on an AsyncEngine asyncmig opens one connection from it and commits."""
    project.revisions(2)
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            assert isinstance(conn, AsyncConnection)
            result = await asyncmig.upgrade(config=project.ini, connection=conn)
            assert result.to_revisions == ("0002aa",)
            assert await asyncmig.current(config=project.ini, connection=conn) == ["0002aa"]
            assert (await asyncmig.status(config=project.ini, connection=conn)).up_to_date
            assert not conn.in_transaction()  # the version-table reads left nothing open
            result = await asyncmig.downgrade("-1", config=project.ini, connection=conn)
            assert result.to_revisions == ("0001aa",)
        # committed: a new connection (and the URL path) sees it
        assert await asyncmig.current(config=project.ini, url=db_url) == ["0001aa"]

        result = await asyncmig.upgrade(config=project.ini, connection=engine)
        assert result.to_revisions == ("0002aa",)
        assert await asyncmig.current(config=project.ini, connection=engine) == ["0002aa"]
    finally:
        await engine.dispose()
    assert {"t0001", "t0002"} <= await _tables(db_url)


async def test_failing_revision_raises_in_the_awaiting_coroutine(project, db_url):
    project.revisions(3, fail_at=2)
    with pytest.raises(asyncmig.MigrationError) as excinfo:
        await asyncmig.upgrade(config=project.ini, url=db_url)
    message = str(excinfo.value)
    assert message.startswith("revision 0002aa (create table t0002) failed: "), message
    assert "no_such_table_anywhere" in message
    assert excinfo.value.exit_code == 1
    # PostgreSQL runs the whole upgrade in one transaction (transactional DDL) and rolls
    # it all back; SQLite and MariaDB keep the revisions that completed.
    expected = [] if _backend(db_url) == "postgresql" else ["0001aa"]
    assert await asyncmig.current(config=project.ini, url=db_url) == expected

    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            with pytest.raises(asyncmig.MigrationError) as excinfo:
                await asyncmig.upgrade(config=project.ini, connection=conn)
            assert not conn.in_transaction()  # asyncmig rolled back what it began
    finally:
        await engine.dispose()
    assert str(excinfo.value).startswith("revision 0002aa (create table t0002) failed: ")
