"""Runs stopped mid-revision (signals, SIGKILL, a dropped connection) lose nothing.

Each test starts the installed ``asyncmig`` script in the background, waits
until revision 0002aa is busy (a ``pg_sleep`` the test can see in
``pg_stat_activity``, or a marker file on SQLite), then interrupts it. The
projects use ``transaction_per_migration=True`` so 0001aa is committed before
0002aa starts: the database must end up exactly at 0001aa.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from support.checks import assert_one_error, wait_for
from support.databases import (
    pg_advisory_locks,
    pg_fetch,
    pg_others,
    pg_tables,
    pg_versions,
    sqlite_tables,
    sqlite_versions,
)

from .test_failing_revisions import per_migration


def slow_second(sleep_sql: str):
    """Revision 2 creates its table, then blocks in ``sleep_sql``."""

    def body(i: int) -> str:
        create = f"op.create_table('t{i:04d}', sa.Column('id', sa.Integer, primary_key=True))"
        return f"{create}; op.execute({sleep_sql!r})" if i == 2 else create

    return body


def sleeping_backend(url: str) -> int:
    """The pid of the backend running revision 0002aa's pg_sleep, once it is running."""

    def find() -> int | None:
        for pid, state, query in pg_others(url):
            if state == "active" and "pg_sleep" in (query or ""):
                return int(pid)
        return None

    return wait_for(find, 15, "revision 0002aa to start sleeping")


def finish_run(cli, project, url: str) -> None:
    """With the slow revision made fast, the next run resumes at 0001aa and gets the lock."""
    project.revisions(3)
    result = cli("--url", url, "--lock-timeout", "1", "upgrade", "head")
    assert result.exit_code == 0, result.output
    assert "Upgraded 2 revisions" in result.stdout, result.output


@pytest.mark.parametrize(
    ("sig", "code", "name"),
    [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")],
    ids=["sigint", "sigterm"],
)
def test_pg_signal_during_revision(cli, project, pg_url, spawn, sig, code, name):
    per_migration(project)
    project.revisions(3, body=slow_second("SELECT pg_sleep(30)"))
    proc = spawn("--url", pg_url, "upgrade", "head")
    sleeping_backend(pg_url)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == code, stderr
    assert_one_error(
        stderr,
        f"Error: {name}: stopped during revision 0002aa (create table t0002); "
        "its transaction was rolled back",
    )
    # The session ended with the process: no backend left, no advisory lock held.
    wait_for(lambda: not pg_others(pg_url), 10, "the backend to exit")
    assert pg_advisory_locks(pg_url) == []
    assert pg_versions(pg_url) == ["0001aa"]
    assert pg_tables(pg_url) == ["t0001"]
    finish_run(cli, project, pg_url)


def test_pg_sigkill_next_run_finishes(cli, project, pg_url, spawn):
    """SIGKILL: the server rolls back and drops the advisory lock when its backend ends.

    A backend notices its client is gone only after the running statement (so
    the sleep here is short); the next run waits for that lock and then finishes.
    """
    per_migration(project)
    project.revisions(3, body=slow_second("SELECT pg_sleep(2)"))
    proc = spawn("--url", pg_url, "upgrade", "head")
    sleeping_backend(pg_url)
    proc.kill()
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    project.revisions(3)
    result = cli("--url", pg_url, "--lock-timeout", "20", "upgrade", "head")
    assert result.exit_code == 0, result.output
    assert "Applying 1/2 0001aa → 0002aa" in result.stdout, result.output
    assert pg_versions(pg_url) == ["0003aa"]
    assert pg_advisory_locks(pg_url) == []


def test_sqlite_sigkill_next_run_finishes(cli, project, spawn):
    """SIGKILL on SQLite: the kernel drops the flock, SQLite rolls back the journal."""
    marker = project.path / "sleeping"

    def body(i: int) -> str:
        create = f"op.create_table('t{i:04d}', sa.Column('id', sa.Integer, primary_key=True))"
        if i != 2:
            return create
        return f"__import__('pathlib').Path({str(marker)!r}).touch(); __import__('time').sleep(30); {create}"  # noqa: E501

    project.revisions(3, body=body)
    proc = spawn("upgrade", "head")
    wait_for(marker.exists, 15, "revision 0002aa to start sleeping")
    proc.kill()
    proc.communicate(timeout=10)
    db: Path = project.path / "app.db"
    assert sqlite_versions(db) == ["0001aa"]
    assert sqlite_tables(db) == ["t0001"]
    project.revisions(3)
    result = cli("--lock-timeout", "1", "upgrade", "head")
    assert result.exit_code == 0, result.output
    assert sqlite_versions(db) == ["0003aa"]


def test_pg_connection_lost_during_revision(cli, project, pg_url, spawn):
    per_migration(project)
    project.revisions(3, body=slow_second("SELECT pg_sleep(30)"))
    proc = spawn("--url", pg_url, "upgrade", "head")
    pid = sleeping_backend(pg_url)
    assert pg_fetch(pg_url, f"SELECT pg_terminate_backend({pid})") == [(True,)]
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 3, stderr
    line = assert_one_error(stderr)
    assert line.startswith(
        "Error: lost the database connection during revision 0002aa (create table t0002): "
    ), line
    assert "terminating connection due to administrator command" in line, line
    wait_for(lambda: not pg_others(pg_url), 10, "the backend to exit")
    assert pg_advisory_locks(pg_url) == []
    assert pg_versions(pg_url) == ["0001aa"]
    assert pg_tables(pg_url) == ["t0001"]
    finish_run(cli, project, pg_url)


def test_mariadb_signal_during_revision_says_what_was_kept(cli, project, mariadb_url, spawn):
    """MariaDB commits DDL at once: the line says so, the lock is free when the run ends."""
    from support.databases import mariadb_fetch, mariadb_versions

    from asyncmig import locks

    project.revisions(3, body=slow_second("SELECT SLEEP(30)"))
    proc = spawn("--url", mariadb_url, "upgrade", "head")
    database = mariadb_url.rsplit("/", 1)[1]
    sleeping = (
        "SELECT COUNT(*) FROM information_schema.processlist "
        f"WHERE info LIKE 'SELECT SLEEP%' AND db = '{database}'"
    )
    wait_for(
        lambda: mariadb_fetch(mariadb_url, sleeping)[0][0],
        15,
        "revision 0002aa to start sleeping",
    )
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr
    assert_one_error(
        stderr,
        "Error: SIGINT: stopped during revision 0002aa (create table t0002); MariaDB/MySQL "
        "commit each DDL statement at once, so what it had done so far is kept while the "
        "version table still says the revision before it: undo that by hand (or make the "
        "revision idempotent) before running again",
    )
    name = locks.mysql_lock_name(locks.lock_name("alembic_version", None), database)
    assert mariadb_fetch(mariadb_url, f"SELECT IS_FREE_LOCK('{name}')") == [(1,)]
    assert mariadb_versions(mariadb_url) == ["0001aa"]
    tables = mariadb_fetch(mariadb_url, "SHOW TABLES")
    # asyncmig_history is made before the migration transaction (MariaDB DDL commits).
    assert sorted(row[0] for row in tables) == [
        "alembic_version",
        "asyncmig_history",
        "t0001",
        "t0002",
    ]
