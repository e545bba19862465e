"""Every command through PgBouncer (issue 17), as users run it: the installed script, one
process per command, a URL that points at the pooler.

Parametrised over pool mode (transaction, session) and driver (asyncpg, psycopg). One
process per command matters: asyncpg names its prepared statements from a per-process
counter (``__asyncpg_stmt_1__`` ...), so in-process runs would never reuse a name and would
hide the clash that a second ``asyncmig`` process meets on a pooled server connection.

State is checked on the server's own port (``PooledDatabase.direct``), never through the
pooler.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import asyncpg
from support.projects import Project, make_project
from support.scripts import run_script

from .pgbouncer import PooledDatabase, advisory_locks, fetch, tables, versions

REVISIONS = 5
HEAD = f"{REVISIONS:04d}aa"


def asyncmig(db: PooledDatabase, project: Project, *args: str) -> Any:
    return run_script("--url", db.url, "--lock-timeout", "20", *args, cwd=project.path)


def ok(result: Any) -> str:
    """stdout of a run that must have exited 0."""
    assert result.returncode == 0, result.stdout + result.stderr
    return str(result.stdout)


def upgraded(tmp_path: Path, db: PooledDatabase) -> Project:
    project = make_project(tmp_path / "proj")
    project.revisions(REVISIONS)
    ok(asyncmig(db, project, "-q", "upgrade", "head"))
    return project


# -- the fixtures really pool the way they say ----------------------------------------------
def test_transaction_mode_shares_server_connections_and_session_mode_does_not(
    pooled_asyncpg: PooledDatabase,
) -> None:
    """Two clients connected at once: in transaction mode the second runs on the server
    connection the first just released; in session mode each keeps its own. Guards the
    suite against a fixture that silently pools per session."""

    async def go() -> tuple[int, int, int]:
        dsn = pooled_asyncpg.bouncer.url(pooled_asyncpg.database).replace("+asyncpg", "", 1)
        a = await asyncpg.connect(dsn, statement_cache_size=0)
        b = await asyncpg.connect(dsn, statement_cache_size=0)
        try:
            x = await a.fetchval("SELECT pg_backend_pid()")
            y = await b.fetchval("SELECT pg_backend_pid()")
            z = await a.fetchval("SELECT pg_backend_pid()")
            return x, y, z
        finally:
            await a.close()
            await b.close()

    x, y, z = asyncio.run(go())
    if pooled_asyncpg.mode == "transaction":
        assert x == y or x != z
    else:
        assert x != y and x == z


# -- one command after another --------------------------------------------------------------
def test_fresh_upgrade(tmp_path: Path, pooled: PooledDatabase) -> None:
    project = make_project(tmp_path / "proj")
    project.revisions(REVISIONS)
    out = ok(asyncmig(pooled, project, "upgrade", "head"))
    assert re.fullmatch(
        rf"Upgraded {REVISIONS} revisions in \d+\.\d\d s; the database is at {HEAD}\.",
        out.splitlines()[-1],
    )
    assert versions(pooled) == [HEAD]
    assert tables(pooled) == REVISIONS


def test_no_op_upgrade(tmp_path: Path, pooled: PooledDatabase) -> None:
    project = upgraded(tmp_path, pooled)
    for _ in range(2):  # a second process, then a third, on the same pooled connections
        out = ok(asyncmig(pooled, project, "upgrade", "head"))
        assert out.splitlines() == [f"Nothing to do: the database is at {HEAD}."]
    assert versions(pooled) == [HEAD]


def test_status(tmp_path: Path, pooled: PooledDatabase) -> None:
    project = upgraded(tmp_path, pooled)
    out = ok(asyncmig(pooled, project, "status"))
    assert out.splitlines() == [f"Current: {HEAD}", f"Heads:   {HEAD}", "Up to date."]


def test_current(tmp_path: Path, pooled: PooledDatabase) -> None:
    project = upgraded(tmp_path, pooled)
    out = ok(asyncmig(pooled, project, "current"))
    assert out.splitlines() == [f"{HEAD} (head)"]


def test_downgrade_and_upgrade_again(tmp_path: Path, pooled: PooledDatabase) -> None:
    project = upgraded(tmp_path, pooled)
    out = ok(asyncmig(pooled, project, "downgrade", "-2"))
    assert out.splitlines()[-1].endswith("the database is at 0003aa.")
    assert versions(pooled) == ["0003aa"]
    ok(asyncmig(pooled, project, "-q", "downgrade", "base"))
    assert versions(pooled) == []
    assert tables(pooled) == 0
    ok(asyncmig(pooled, project, "-q", "upgrade", "head"))
    assert versions(pooled) == [HEAD]


# -- nothing of a run stays behind on the pooler's server connections ----------------------
def test_no_lock_or_setting_outlives_the_run(tmp_path: Path, pooled: PooledDatabase) -> None:
    """A session-level advisory lock or ``SET statement_timeout`` done through a
    transaction pooler stays on a server connection that other clients get next."""
    project = make_project(tmp_path / "proj")
    project.revisions(REVISIONS)
    ok(
        asyncmig(
            pooled,
            project,
            "-q",
            "--statement-timeout",
            "7s",
            "--pg-lock-timeout",
            "3s",
            "upgrade",
            "head",
        )
    )
    left = {"advisory locks": advisory_locks(pooled), "timeouts": server_settings(pooled)}
    assert left == {"advisory locks": [], "timeouts": {("0", "0")}}


def server_settings(db: PooledDatabase) -> set[tuple[str, str]]:
    """(statement_timeout, lock_timeout) as every server connection of the pooler to this
    database has them: one client per server connection, each pinned by an open
    transaction so that the pooler cannot hand them the same one."""
    others = fetch(
        db.direct,
        "SELECT count(*) FROM pg_stat_activity "
        f"WHERE datname = '{db.database}' AND pid <> pg_backend_pid()",
    )[0][0]

    async def go() -> set[tuple[str, str]]:
        dsn = db.bouncer.url(db.database).replace("+asyncpg", "", 1)
        conns = [await asyncpg.connect(dsn, statement_cache_size=0) for _ in range(max(others, 1))]
        seen = set()
        try:
            for conn in conns:
                await conn.execute("BEGIN")
                row = await conn.fetchrow(
                    "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"
                )
                seen.add((row[0], row[1]))
        finally:
            for conn in conns:
                await conn.close()
        return seen

    return asyncio.run(go())


# -- what a transaction pooler cannot do, and what it still does -----------------------------
def autocommit_third(i: int) -> str:
    create = f"op.create_table('t{i:04d}', sa.Column('id', sa.Integer, primary_key=True))"
    if i != 3:
        return create
    return "with op.get_context().autocommit_block(): op.execute('SELECT 1')"


def test_autocommit_block_is_refused_in_transaction_mode(
    tmp_path: Path, pooled_asyncpg: PooledDatabase
) -> None:
    """``autocommit_block()`` commits the migration transaction, and the transaction-scoped
    lock with it: refused before it commits (exit 2), so nothing of the run is kept. In
    session mode the session lock holds across it."""
    project = make_project(tmp_path / "proj")
    project.revisions(3, body=autocommit_third)
    result = asyncmig(pooled_asyncpg, project, "-q", "upgrade", "head")
    if pooled_asyncpg.mode == "session":
        assert result.returncode == 0, result.stderr
        assert versions(pooled_asyncpg) == ["0003aa"]
        return
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "Error: autocommit_block() cannot run through a transaction-mode connection pooler "
        f"(127.0.0.1:{pooled_asyncpg.bouncer.port}): use the database's direct or session-mode "
        "URL for migrations"
    ]
    assert versions(pooled_asyncpg) == []
    assert tables(pooled_asyncpg) == 0
    assert advisory_locks(pooled_asyncpg) == []


def test_statement_timeout_holds_inside_the_migration_transaction(
    tmp_path: Path, pooled: PooledDatabase
) -> None:
    """Through a transaction pooler the timeout is set for the migration transaction
    (``set_config(..., true)``): it still cancels a revision that runs too long."""
    project = make_project(tmp_path / "proj")
    project.revisions(2, body=lambda i: "op.execute('SELECT pg_sleep(3)')" if i == 2 else "pass")
    result = asyncmig(pooled, project, "-q", "--statement-timeout", "1s", "upgrade", "head")
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "Error: revision 0002aa (create table t0002) failed: "
        "canceling statement due to statement timeout"
    )
    assert versions(pooled) == []
    assert server_settings(pooled) == {("0", "0")}


def test_the_notice_says_what_asyncmig_does(tmp_path: Path, transaction_pooled) -> None:
    project = upgraded(tmp_path, transaction_pooled)
    result = asyncmig(transaction_pooled, project, "current")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"asyncmig: 127.0.0.1:{transaction_pooled.bouncer.port} is a transaction-mode "
        "connection pooler: the migration lock and timeouts are taken inside each migration "
        "transaction (the direct URL is preferred)"
    )


async def test_the_api_on_a_pooled_connection_needs_no_statement_cache(
    tmp_path: Path, transaction_pooled: PooledDatabase
) -> None:
    """asyncmig cannot change the connect arguments of the caller's connection: through a
    transaction pooler, asyncpg's statement cache must be off, and the error says how."""
    from sqlalchemy.ext.asyncio import create_async_engine

    import asyncmig
    from asyncmig.errors import ConfigError

    project = make_project(tmp_path / "proj")
    project.revisions(2)
    port = transaction_pooled.bouncer.port
    cached = create_async_engine(transaction_pooled.url)
    try:
        async with cached.connect() as conn:
            try:
                await asyncmig.upgrade(config=project.ini, connection=conn)
            except ConfigError as exc:
                assert str(exc) == (
                    "the connection passed to asyncmig goes through a transaction-mode "
                    f"connection pooler (127.0.0.1:{port}) with asyncpg's statement cache on: "
                    "create its engine with connect_args={'statement_cache_size': 0}"
                )
            else:
                raise AssertionError("the cached connection was accepted")
    finally:
        await cached.dispose()
    assert await asyncio.to_thread(versions, transaction_pooled) == []

    uncached = create_async_engine(transaction_pooled.url, connect_args={"statement_cache_size": 0})
    try:
        async with uncached.connect() as conn:
            result = await asyncmig.upgrade(config=project.ini, connection=conn)
    finally:
        await uncached.dispose()
    assert [step.revision for step in result.steps] == ["0001aa", "0002aa"]
    assert await asyncio.to_thread(versions, transaction_pooled) == ["0002aa"]
    assert await asyncio.to_thread(advisory_locks, transaction_pooled) == []


def test_fleet_schema_targets_through_a_transaction_pooler(
    tmp_path: Path, transaction_pooled: PooledDatabase
) -> None:
    """Schema targets through a transaction-mode pooler: each schema is created inside the
    migration transaction (a session statement would reach another client's server
    connection), and each version table is in its tenant's schema."""
    project = make_project(tmp_path / "proj")
    project.revisions(REVISIONS)
    targets = tmp_path / "tenants.txt"
    targets.write_text("schema=tenant_a\nschema=tenant_b\n")
    for _ in range(2):  # the second run finds both at head
        ok(asyncmig(transaction_pooled, project, "-q", "fleet", "upgrade", "head",
                    "--targets", str(targets), "--jobs", "2"))  # fmt: skip
    for schema in ("tenant_a", "tenant_b"):
        rows = fetch(
            transaction_pooled.direct, f'SELECT version_num FROM "{schema}".alembic_version'
        )
        assert rows == [(HEAD,)]
    assert versions(transaction_pooled) == []  # nothing in public
