"""A failing revision exits 1 with one line, and the database keeps only what was committed.

PostgreSQL has transactional DDL and Alembic runs the whole upgrade in one
transaction by default, so a failure rolls the database back to the revision
the run *started* from; with ``transaction_per_migration=True`` each step
commits, so the steps before the failing one stay applied. SQLite (Alembic
assumes non-transactional DDL there) and MariaDB (DDL commits implicitly)
keep every step before the failing one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.checks import assert_one_error
from support.databases import (
    mariadb_versions,
    pg_tables,
    pg_versions,
    sqlite_tables,
    sqlite_versions,
)

PG_MISSING = 'relation "no_such_table_anywhere" does not exist'
SQLITE_MISSING = "no such table: no_such_table_anywhere"


def per_migration(project) -> None:
    """Switch the project's env.py to one transaction per revision."""
    env = project.path / "migrations" / "env.py"
    text = env.read_text()
    old = "run_migrations(target_metadata=target_metadata)"
    assert old in text
    env.write_text(
        text.replace(old, "run_migrations(target_metadata=None, transaction_per_migration=True)")
    )


def break_downgrade(project, revision: str) -> None:
    """Make the downgrade of ``revision`` fail with an SQL error."""
    path = next(project.versions.glob(f"{revision}_*.py"))
    table = f"t{revision[:4]}"
    path.write_text(
        path.read_text().replace(
            f"op.drop_table('{table}')", "op.execute('DROP TABLE no_such_table_anywhere')"
        )
    )


def one_over_zero(i: int) -> str:
    return (
        "1 / 0"
        if i == 3
        else (f"op.create_table('t{i:04d}', sa.Column('id', sa.Integer, primary_key=True))")
    )


# -- upgrade -------------------------------------------------------------------------------
def test_pg_sql_error_rolls_back_to_start_revision(cli, project, pg_url):
    project.revisions(4, fail_at=3)
    assert cli("--url", pg_url, "upgrade", "0001aa").exit_code == 0
    result = cli("--url", pg_url, "upgrade", "head")
    assert result.exit_code == 1, result.output
    assert_one_error(
        result.stderr, f"Error: revision 0003aa (create table t0003) failed: {PG_MISSING}"
    )
    # One transaction for the run: 0002aa, applied in it, is rolled back with 0003aa.
    assert pg_versions(pg_url) == ["0001aa"]
    assert pg_tables(pg_url) == ["t0001"]


def test_pg_python_exception_names_revision_and_exception(cli, project, pg_url):
    project.revisions(4, body=one_over_zero)
    result = cli("--url", pg_url, "upgrade", "head")
    assert result.exit_code == 1, result.output
    assert_one_error(
        result.stderr,
        "Error: revision 0003aa (create table t0003) failed: ZeroDivisionError: division by zero",
    )
    assert pg_versions(pg_url) == []
    assert pg_tables(pg_url) == []


def test_pg_transaction_per_migration_keeps_earlier_steps(cli, project, pg_url):
    per_migration(project)
    project.revisions(4, fail_at=3)
    result = cli("--url", pg_url, "upgrade", "head")
    assert result.exit_code == 1, result.output
    assert_one_error(
        result.stderr, f"Error: revision 0003aa (create table t0003) failed: {PG_MISSING}"
    )
    assert pg_versions(pg_url) == ["0002aa"]
    assert pg_tables(pg_url) == ["t0001", "t0002"]
    # Fix the revision: the next run continues from 0002aa.
    project.revisions(4)
    result = cli("--url", pg_url, "upgrade", "head")
    assert result.exit_code == 0, result.output
    assert "Upgraded 2 revisions" in result.stdout
    assert pg_versions(pg_url) == ["0004aa"]


def test_sqlite_failure_keeps_earlier_steps(cli, project):
    project.revisions(4, fail_at=3)
    result = cli("upgrade", "head")
    assert result.exit_code == 1, result.output
    assert_one_error(
        result.stderr, f"Error: revision 0003aa (create table t0003) failed: {SQLITE_MISSING}"
    )
    db = project.path / "app.db"
    assert sqlite_versions(db) == ["0002aa"]
    assert sqlite_tables(db) == ["t0001", "t0002"]


def test_sqlite_python_exception(cli, project):
    project.revisions(4, body=one_over_zero)
    result = cli("upgrade", "head")
    assert result.exit_code == 1, result.output
    assert_one_error(
        result.stderr,
        "Error: revision 0003aa (create table t0003) failed: ZeroDivisionError: division by zero",
    )
    assert sqlite_versions(project.path / "app.db") == ["0002aa"]


def test_mariadb_failure_keeps_earlier_steps(cli, project, mariadb_url):
    project.revisions(4, fail_at=3)
    result = cli("--url", mariadb_url, "upgrade", "head")
    assert result.exit_code == 1, result.output
    database = mariadb_url.rsplit("/", 1)[1]
    assert_one_error(
        result.stderr,
        "Error: revision 0003aa (create table t0003) failed: "
        f"(1146, \"Table '{database}.no_such_table_anywhere' doesn't exist\")",
    )
    assert mariadb_versions(mariadb_url) == ["0002aa"]


# -- downgrade -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("per_step", "left_at", "tables"),
    [(False, ["0003aa"], ["t0001", "t0002", "t0003"]), (True, ["0002aa"], ["t0001", "t0002"])],
    ids=["one-transaction", "transaction-per-migration"],
)
def test_pg_failing_downgrade(cli, project, pg_url, per_step, left_at, tables):
    if per_step:
        per_migration(project)
    project.revisions(3)
    assert cli("--url", pg_url, "upgrade", "head").exit_code == 0
    break_downgrade(project, "0002aa")
    result = cli("--url", pg_url, "downgrade", "base")
    assert result.exit_code == 1, result.output
    assert_one_error(
        result.stderr,
        'Error: revision 0002aa (create table t0002) failed: table "no_such_table_anywhere" does not exist',  # noqa: E501
    )
    assert pg_versions(pg_url) == left_at
    assert pg_tables(pg_url) == tables


def test_sqlite_failing_downgrade(cli, project):
    project.revisions(3)
    assert cli("upgrade", "head").exit_code == 0
    break_downgrade(project, "0002aa")
    result = cli("downgrade", "base")
    assert result.exit_code == 1, result.output
    assert_one_error(
        result.stderr,
        "Error: revision 0002aa (create table t0002) failed: no such table: no_such_table_anywhere",
    )
    db: Path = project.path / "app.db"
    assert sqlite_versions(db) == ["0002aa"]
    assert sqlite_tables(db) == ["t0001", "t0002"]
