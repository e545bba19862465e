"""The schema history (issue 15): ``asyncmig_history`` rows for every step, ``log``,
``status --all``, ``validate`` and ``upgrade --validate``, on SQLite, PostgreSQL and
MariaDB, with asyncmig's async env.py and Alembic's sync ``generic`` one."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Project, make_project, run_script
from typer.testing import Result

from asyncmig.errors import ConfigError, ExitCode
from asyncmig.history.checksum import checksum_bytes, normalised
from asyncmig.history.read import parse_since

SCRIPT = Path(sys.executable).with_name("asyncmig")
BACKENDS = ["sqlite", "postgresql", "mariadb"]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each kind (SQLite: a file in tmp_path)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"
    fixture = "pg_url" if request.param == "postgresql" else "mariadb_url"
    return str(request.getfixturevalue(fixture))


def run_sql(url: str, *statements: str) -> list[tuple[Any, ...]]:
    """Run statements on their own connection (committed); the last one's rows."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def go() -> list[tuple[Any, ...]]:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                rows: list[tuple[Any, ...]] = []
                for statement in statements:
                    result = await conn.execute(text(statement))
                    rows = [tuple(r) for r in result.fetchall()] if result.returns_rows else []
                return rows
        finally:
            await engine.dispose()

    return asyncio.run(go())


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def log_rows(cli: Callable[..., Result], url: str, *args: str) -> list[dict[str, Any]]:
    data = json.loads(ok(cli("-q", "--url", url, "log", "--json", *args)).stdout)
    entries: list[dict[str, Any]] = data["entries"]
    return entries


def file_checksum(path: Path) -> str:
    """The normalised checksum, computed here independently of asyncmig's function."""
    lines = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    text = b"\n".join(line.rstrip(b" \t\f\v") for line in lines).rstrip(b"\n")
    return hashlib.sha256(text).hexdigest()


def revision_file(project: Project, rev: str) -> Path:
    (path,) = project.versions.glob(f"{rev}_*.py")
    return path


# -- rows for upgrade, downgrade, stamp ------------------------------------------------------
def test_rows_for_upgrade_downgrade_and_stamp(
    cli: Callable[..., Result], project: Project, db_url: str
) -> None:
    ids = project.revisions(3)
    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    ok(cli("-q", "--url", db_url, "--deploy-id", "release-42", "upgrade", "head"))
    ok(cli("-q", "--url", db_url, "downgrade", "-1"))
    ok(cli("-q", "--url", db_url, "stamp", ids[0]))
    rows = log_rows(cli, db_url)
    assert [(r["direction"], r["revision"], r["from_revisions"], r["to_revisions"], r["heads"])
            for r in rows] == [
        ("upgrade", ids[0], [], [ids[0]], [ids[0]]),
        ("upgrade", ids[1], [ids[0]], [ids[1]], [ids[1]]),
        ("upgrade", ids[2], [ids[1]], [ids[2]], [ids[2]]),
        ("downgrade", ids[2], [ids[2]], [ids[1]], [ids[1]]),
        ("stamp", ids[0], [ids[1]], [ids[0]], [ids[0]]),
    ]  # fmt: skip
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    for row in rows:
        path = revision_file(project, row["revision"])
        assert row["checksum"] == file_checksum(path)
        assert row["script"] == path.name
        assert row["message"] == f"create table t{int(row['revision'][:4]):04d}"
        started = datetime.datetime.fromisoformat(row["started_at"].rstrip("Z"))
        finished = datetime.datetime.fromisoformat(row["finished_at"].rstrip("Z"))
        assert before - datetime.timedelta(seconds=1) <= started <= finished
        assert 0 <= row["duration"] < 30
        assert abs((finished - started).total_seconds() - row["duration"]) < 0.002
        assert row["os_user"] and row["hostname"]
        assert row["asyncmig_version"] and row["alembic_version"]
    assert [r["deploy_id"] for r in rows] == ["release-42"] * 3 + [None, None]
    assert all(r["duration"] > 0 for r in rows[:3])  # each creates a table
    backend = db_url.split("+", 1)[0]
    expected_app = "asyncmig" if backend == "postgresql" else None
    assert {r["application_name"] for r in rows} == {expected_app}


def test_sync_generic_env_records_rows(
    cli: Callable[..., Result], tmp_path: Path, pg_url: str
) -> None:
    """Alembic's own sync template (engine_from_config, a plain transaction)."""
    project = make_project(tmp_path / "generic", template="generic")
    ids = project.revisions(2)
    # A subprocess: the template's fileConfig() would point logging at this test's streams.
    done = run_script("-q", "--url", pg_url, "upgrade", "head", cwd=project.path)
    assert done.returncode == 0, done.stderr
    os.chdir(project.path)
    rows = log_rows(cli, pg_url)
    assert [(r["direction"], r["revision"]) for r in rows] == [("upgrade", i) for i in ids]
    ok(cli("-q", "--url", pg_url, "validate"))


def test_no_history_writes_nothing(
    cli: Callable[..., Result], project: Project, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    project.revisions(2)
    ok(cli("-q", "--url", url, "--no-history", "upgrade", "+1"))
    ok(cli("-q", "--url", url, "upgrade", "head", env={"ASYNCMIG_HISTORY": "false"}))
    assert run_sql(url, "SELECT count(*) FROM sqlite_master WHERE name = 'asyncmig_history'") == [
        (0,)
    ]
    result = ok(cli("--url", url, "log"))
    assert result.stdout == (
        "No history: the table asyncmig_history does not exist yet (it is created by the "
        "next upgrade, downgrade or stamp).\n"
    )
    assert json.loads(ok(cli("-q", "--url", url, "log", "--json")).stdout) == {
        "recorded": False,
        "entries": [],
    }


def test_deploy_id_from_ci_variables(
    cli: Callable[..., Result], project: Project, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    project.revisions(3)
    ok(cli("-q", "--url", url, "upgrade", "+1", env={"GITHUB_SHA": "", "CI_COMMIT_SHA": "c0ffee"}))
    ok(cli("-q", "--url", url, "upgrade", "+1", env={"GITHUB_SHA": "abc123"}))
    ok(cli("-q", "--url", url, "--deploy-id", "manual", "upgrade", "+1",
           env={"GITHUB_SHA": "abc123", "ASYNCMIG_DEPLOY_ID": "from-env"}))  # fmt: skip
    assert [r["deploy_id"] for r in log_rows(cli, url)] == ["c0ffee", "abc123", "manual"]


def test_existing_database_starts_recording_from_the_next_run(
    cli: Callable[..., Result], project: Project, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    ids = project.revisions(2)
    ok(cli("-q", "--url", url, "--no-history", "upgrade", "head"))
    ids += project.revisions(1, start=2)
    ok(cli("-q", "--url", url, "upgrade", "head"))
    assert [r["revision"] for r in log_rows(cli, url)] == [ids[2]]
    result = ok(cli("--url", url, "validate"))
    assert result.stdout == (
        "Valid: 1 applied revision matches the history; 2 applied before the history began "
        "(not checked).\n"
    )
    status = json.loads(ok(cli("-q", "--url", url, "status", "--all", "--json")).stdout)
    assert [(r["revision"], r["state"], r["applied_at"] is None) for r in status["revisions"]] == [
        (ids[0], "applied", True),
        (ids[1], "applied", True),
        (ids[2], "upgrade", False),
    ]


# -- status --all and log ------------------------------------------------------------------------
def test_status_all_lists_every_revision(
    cli: Callable[..., Result], project: Project, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    ids = project.revisions(3)
    ok(cli("-q", "--url", url, "--deploy-id", "d1", "upgrade", "+2"))
    result = cli("--url", url, "status", "--all")
    assert result.exit_code == ExitCode.PENDING, result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        f"Current: {ids[1]}",
        f"Heads:   {ids[2]}",
        "revision  state    applied at (UTC)     deploy  message",
    ]
    assert lines[3].startswith(f"{ids[0]}    upgrade  20") and lines[3].endswith(
        "  d1      create table t0001"
    )
    assert lines[5] == f"{ids[2]}    pending                               create table t0003"
    assert lines[6] == "Pending: 1 revision."
    data = json.loads(cli("-q", "--url", url, "status", "-a", "--json").stdout)
    assert [r["state"] for r in data["revisions"]] == ["upgrade", "upgrade", "pending"]
    assert data["revisions"][0]["deploy_id"] == "d1"
    assert data["pending"][0]["revision"] == ids[2] and data["up_to_date"] is False
    ok(cli("-q", "--url", url, "upgrade", "head"))
    assert ok(cli("--url", url, "status", "--all")).stdout.splitlines()[-1] == "Up to date."


def test_log_filters(cli: Callable[..., Result], project: Project, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    ids = project.revisions(2)
    ok(cli("-q", "--url", url, "upgrade", "head"))
    ok(cli("-q", "--url", url, "downgrade", "base"))
    assert [(r["direction"], r["revision"]) for r in log_rows(cli, url, "-r", ids[1][:4])] == [
        ("upgrade", ids[1]),
        ("downgrade", ids[1]),
    ]
    assert len(log_rows(cli, url, "--since", "1h")) == 4
    assert log_rows(cli, url, "--since", "2999-01-01") == []
    text = ok(cli("--url", url, "log", "--revision", ids[0])).stdout.splitlines()
    assert text[0].split() == [
        "id", "finished", "(UTC)", "direction", "revision", "from", "→", "to", "seconds",
        "deploy", "by",
    ]  # fmt: skip
    assert [line.split()[3:7] for line in text[1:]] == [
        ["upgrade", ids[0], "base", "→"],
        ["downgrade", ids[0], ids[0], "→"],
    ]
    bad = cli("--url", url, "log", "--since", "yesterday")
    assert bad.exit_code == ExitCode.USAGE
    assert bad.stderr == (
        "Error: --since: 'yesterday' is neither a date (2026-12-01, 2026-12-01T10:00) nor an "
        "age (30min, 12h, 7d, 2w)\n"
    )


# -- validate -----------------------------------------------------------------------------------
def changed_message(project: Project, rev: str, old: str, direction: str, when: str) -> str:
    path = revision_file(project, rev)
    return (
        f"revision {rev} has changed since it was applied ({path.name}, {direction} of {when} "
        f"UTC: checksum {old[:12]}, now {file_checksum(path)[:12]})"
    )


def test_validate_catches_an_edited_applied_revision(
    cli: Callable[..., Result], project: Project, db_url: str
) -> None:
    ids = project.revisions(2)
    ok(cli("-q", "--url", db_url, "upgrade", "head"))
    first = revision_file(project, ids[0])
    original = first.read_bytes()
    # Line endings and trailing whitespace do not count.
    first.write_bytes(original.replace(b"\n", b"   \r\n") + b"\n\n")
    assert ok(cli("--url", db_url, "validate")).stdout == (
        "Valid: 2 applied revisions match the history.\n"
    )
    first.write_bytes(original.replace(b"String(50)", b"String(80)"))
    row = log_rows(cli, db_url)[0]
    when = row["finished_at"][:19].replace("T", " ")
    message = changed_message(project, ids[0], row["checksum"], "upgrade", when)
    result = cli("--url", db_url, "validate")
    assert result.exit_code == ExitCode.PENDING, result.output
    assert result.stdout == (f"✗ {message}\n1 problem; 1 applied revision matches the history.\n")
    assert result.stderr.splitlines()[-1] == f"Error: validate: {message}"
    data = json.loads(cli("-q", "--url", db_url, "validate", "--json").stdout)
    assert data["ok"] is False and data["checked"] == ids
    assert data["problems"] == [{"kind": "changed", "message": message, "revision": ids[0]}]


def test_upgrade_validate_refuses_before_applying(
    cli: Callable[..., Result], project: Project, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    ids = project.revisions(1)
    ok(cli("-q", "--url", url, "upgrade", "head"))
    ids += project.revisions(1, start=1)
    ok(cli("-q", "--url", url, "upgrade", "--validate", "head"))  # valid: applies
    ids += project.revisions(1, start=2)
    path = revision_file(project, ids[1])
    path.write_text(path.read_text() + "\n# edited after it ran\n")
    result = cli("-q", "--url", url, "upgrade", "--validate", "head")
    assert result.exit_code == ExitCode.PENDING, result.output
    assert result.stderr.splitlines()[-1].startswith(f"Error: validate: revision {ids[1]} has ")
    assert result.stderr.splitlines()[-1].endswith(": not upgrading")
    assert run_sql(url, "SELECT version_num FROM alembic_version") == [(ids[1],)]


def test_validate_missing_file_and_disagreement(
    cli: Callable[..., Result], project: Project, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    ids = project.revisions(3)
    ok(cli("-q", "--url", url, "upgrade", "+2"))
    ok(cli("-q", "--url", url, "--no-history", "upgrade", "head"))
    result = cli("-q", "--url", url, "validate")
    assert result.exit_code == ExitCode.PENDING
    assert result.stderr == (
        f"Error: validate: the history says the database is at {ids[1]} (row 2), the version "
        f"table says {ids[2]}\n"
    )
    revision_file(project, ids[2]).unlink()
    result = cli("-q", "--url", url, "validate")
    assert result.exit_code == ExitCode.PENDING
    assert result.stderr == (
        f"Error: validate: revision {ids[2]} is recorded as applied but has no revision file "
        "(and 1 more)\n"
    )


# -- never in the way ---------------------------------------------------------------------------
def dry_run_env(project: Project) -> None:
    """env.py rolls its own migration transaction back (the dry-run recipe of the tests'
    real-world projects)."""
    (project.path / "migrations" / "env.py").write_text(
        """\
import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import async_engine_from_config

config = context.config


def do_run_migrations(connection):
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction() as transaction:
        context.run_migrations()
        if transaction is not None:
            transaction.rollback()
    # SQLite: Alembic assumes non-transactional DDL and begins nothing itself.
    if connection.in_transaction():
        connection.rollback()


async def main():
    engine = async_engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


asyncio.run(main())
"""
    )


def test_rolled_back_run_leaves_no_row(
    cli: Callable[..., Result], project: Project, db_url: str
) -> None:
    ids = project.revisions(1, body=lambda i: "op.execute('SELECT 1')")
    dry_run_env(project)
    result = cli("-q", "--url", db_url, "upgrade", "head")
    if not db_url.startswith("postgresql"):
        # Non-transactional DDL: Alembic commits each step in a transaction of its own,
        # which env.py cannot roll back; the history row commits with the version row.
        ok(result)
        assert [r["revision"] for r in log_rows(cli, db_url)] == ids
        ok(cli("-q", "--url", db_url, "validate"))
        return
    assert result.exit_code == ExitCode.PENDING, result.output
    assert "ran but the transaction was rolled back" in result.stderr
    assert log_rows(cli, db_url) == []
    assert ok(cli("--url", db_url, "validate")).stdout.startswith("Valid: 0 applied revisions")


def break_inserts(url: str) -> None:
    """Make every INSERT into asyncmig_history fail, as a read-only table would."""
    backend = url.split("+", 1)[0]
    if backend == "sqlite":
        run_sql(url, "CREATE TRIGGER no_history BEFORE INSERT ON asyncmig_history "
                     "BEGIN SELECT RAISE(ABORT, 'read-only history'); END")  # fmt: skip
    elif backend == "postgresql":
        run_sql(
            url,
            "CREATE FUNCTION no_history() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'read-only history'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER no_history BEFORE INSERT ON asyncmig_history "
            "FOR EACH ROW EXECUTE FUNCTION no_history()",
        )
    else:
        run_sql(url, "CREATE TRIGGER no_history BEFORE INSERT ON asyncmig_history FOR EACH ROW "
                     "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'read-only history'")  # fmt: skip


def test_an_unwritable_history_does_not_fail_the_migration(
    cli: Callable[..., Result], project: Project, db_url: str
) -> None:
    ids = project.revisions(3)
    ok(cli("-q", "--url", db_url, "upgrade", "+1"))
    break_inserts(db_url)
    result = ok(cli("--url", db_url, "upgrade", "head"))
    assert result.stdout.splitlines()[-1].endswith(f"the database is at {ids[2]}.")
    notices = [line for line in result.stderr.splitlines() if "history table" in line]
    assert len(notices) == 1
    assert notices[0].startswith("asyncmig: the history table asyncmig_history cannot be written (")
    assert notices[0].endswith("); this run is not recorded in it")
    assert "read-only history" in notices[0]
    assert run_sql(db_url, "SELECT version_num FROM alembic_version") == [(ids[2],)]
    assert [r["revision"] for r in log_rows(cli, db_url)] == [ids[0]]


def test_concurrent_upgrades_record_each_step_once(project: Project, db_url: str) -> None:
    ids = project.revisions(12)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNCMIG_", "DATABASE_URL"))}
    procs = [
        subprocess.Popen(
            [str(SCRIPT), "-q", "--url", db_url, "--lock-timeout", "120", "upgrade", "head"],
            cwd=project.path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    rows = run_sql(db_url, "SELECT revision, direction FROM asyncmig_history ORDER BY id")
    assert rows == [(rev, "upgrade") for rev in ids]


# -- units ------------------------------------------------------------------------------------
def test_checksum_normalisation() -> None:
    assert normalised(b"a  \r\nb\t\rc \n\n  \n") == b"a\nb\nc"
    assert checksum_bytes(b"x = 1\r\n") == checksum_bytes(b"x = 1   \n\n")
    assert checksum_bytes(b"x = 1\n") != checksum_bytes(b"x =  1\n")
    assert checksum_bytes(b"  x\n") != checksum_bytes(b"x\n")  # leading whitespace counts


def test_parse_since() -> None:
    now = datetime.datetime(2026, 12, 6, 12, 0)
    assert parse_since("90min", now) == datetime.datetime(2026, 12, 6, 10, 30)
    assert parse_since("2d", now) == datetime.datetime(2026, 12, 4, 12, 0)
    assert parse_since("2026-12-01") == datetime.datetime(2026, 12, 1)
    assert parse_since("2026-12-01T10:00+01:00") == datetime.datetime(2026, 12, 1, 9, 0)
    with pytest.raises(ConfigError):
        parse_since("soon")


# -- PostgreSQL: rows held until the transaction commits ------------------------------------
def test_pg_failed_run_leaves_the_rows_of_what_committed(
    cli: Callable[..., Result], project: Project, pg_url: str
) -> None:
    """One transaction for the run: a failing revision leaves no row. One transaction per
    revision: the rows of the revisions before it, each committed with its step."""
    ids = project.revisions(4, fail_at=3)
    result = cli("-q", "--url", pg_url, "upgrade", "head")
    assert result.exit_code == ExitCode.FAILED, result.output
    assert log_rows(cli, pg_url) == []
    env_py = project.path / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text().replace(
            "run_migrations(target_metadata=target_metadata)",
            "run_migrations(target_metadata=target_metadata, transaction_per_migration=True)",
        )
    )
    result = cli("-q", "--url", pg_url, "upgrade", "head")
    assert result.exit_code == ExitCode.FAILED, result.output
    assert [r["revision"] for r in log_rows(cli, pg_url)] == ids[:2]
    ok(cli("-q", "--url", pg_url, "validate"))
