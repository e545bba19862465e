"""``asyncmig verify``: the stairway, the model match and a single head, on scratch databases."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from support.databases import MARIADB_HOST, PG_HOST, mariadb_admin
from support.lint_revisions import write
from support.projects import Project
from typer.testing import Result

SCRATCH = re.compile(r"^Stairway on (\S+): ")


def test_a_clean_history_round_trips(project: Project, cli: Callable[..., Result]) -> None:
    project.revisions(3)
    result = cli("verify")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    scratch = SCRATCH.match(lines[0])
    assert scratch is not None
    assert scratch.group(1).startswith("sqlite+aiosqlite:///")
    assert not Path(scratch.group(1).split("///", 1)[1]).exists()  # removed after
    assert lines[0].endswith(": 3 of 3 revisions upgrade, downgrade and upgrade again.")
    assert lines[1] == "Heads: 0003aa."
    assert re.fullmatch(r"Verified in \d+\.\d\d s: no problems\.", lines[2])
    assert result.stderr.splitlines()[-1] == (
        "asyncmig: model match not checked: env.py gives no target_metadata"
    )
    assert not Path("app.db").exists()  # the project's own database is never touched


def test_a_downgrade_that_does_not_undo_its_upgrade_is_named(
    project: Project, cli: Callable[..., Result]
) -> None:
    project.revisions(3)
    second = next(project.versions.glob("0002aa_*.py"))
    second.write_text(second.read_text().replace("op.drop_table('t0002')", "pass"))
    result = cli("verify", "--json")
    assert result.exit_code == 4, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["passed"] == ["0001aa"]
    (problem,) = report["problems"]
    assert problem["check"] == "stairway"
    assert problem["revision"] == "0002aa"
    assert problem["step"] == "upgrade again"
    assert problem["path"] == f"migrations/versions/{second.name}"
    assert problem["message"] == ("upgrade again of 0002aa failed: table t0002 already exists")
    assert result.stderr.splitlines()[-1] == f"Error: verify: {problem['message']}"


def test_a_failing_downgrade_is_named_with_its_line(
    project: Project, cli: Callable[..., Result]
) -> None:
    write(project.versions, "r01", None,
          'op.create_table("a", sa.Column("id", sa.Integer, primary_key=True))',
          'op.drop_table("a")')  # fmt: skip
    path = write(project.versions, "r02", "r01",
                 'op.create_table("b", sa.Column("id", sa.Integer, primary_key=True))',
                 'op.drop_table("b")\nop.drop_table("not_there")')  # fmt: skip
    result = cli("verify")
    assert result.exit_code == 4, result.output
    message = "downgrade of r02 failed: no such table: not_there"
    assert f"stairway: {message}" in result.stdout.splitlines()
    line = path.read_text().splitlines().index('    op.drop_table("not_there")') + 1
    github = cli("verify", env={"GITHUB_ACTIONS": "true"})
    assert (
        f"::error file=migrations/versions/r02_r02.py,line={line},title=asyncmig verify%3A "
        f"stairway::{message}"
    ) in github.stderr.splitlines()


MODELS = """
import sqlalchemy as sa

target_metadata = sa.MetaData()
sa.Table("t0001", target_metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("name", sa.String(50)), sa.Column("extra", sa.Integer))
"""


def test_model_drift_and_several_heads(project: Project, cli: Callable[..., Result]) -> None:
    project.revisions(1)
    env = project.path / "migrations" / "env.py"
    env.write_text(env.read_text().replace("target_metadata = None", MODELS))
    write(project.versions, "b1", "0001aa", "pass", "pass", message="branch one")
    write(project.versions, "b2", "0001aa", "pass", "pass", message="branch two")
    result = cli("verify", "--json")
    assert result.exit_code == 4, result.output
    report = json.loads(result.stdout)
    assert report["passed"] == ["0001aa", "b1", "b2"] or report["passed"] == [
        "0001aa", "b2", "b1"
    ]  # fmt: skip
    assert report["model_checked"] is True
    assert [(p["check"], p["message"]) for p in report["problems"]] == [
        ("model-match", "the models differ from the migrated schema: autogenerate would write "
         "1 operation"),
        ("single-head", f"the history has 2 heads ({', '.join(report['heads'])}): merge them "
         "(asyncmig merge heads)"),
    ]  # fmt: skip
    assert report["problems"][0]["details"] == [
        "op.add_column('t0001', sa.Column('extra', sa.Integer(), nullable=True))"
    ]


def test_an_env_py_that_connects_elsewhere_is_refused(
    project: Project, cli: Callable[..., Result]
) -> None:
    project.revisions(1)
    (project.path / "migrations" / "env.py").write_text(
        "from alembic import context\n"
        "from sqlalchemy import create_engine\n"
        "from sqlalchemy.pool import NullPool\n"
        "engine = create_engine('sqlite+aiosqlite:///other.db', poolclass=NullPool)\n"
        "with engine.connect() as connection:\n"
        "    context.configure(connection=connection)\n"
        "    with context.begin_transaction():\n"
        "        context.run_migrations()\n"
    )
    result = cli("verify")
    assert result.exit_code == 2, result.output
    assert re.fullmatch(
        r"Error: env\.py connected to sqlite\+aiosqlite:///other\.db, not the scratch database "
        r"sqlite\+aiosqlite:///\S+\.db: verify runs nothing there \(does env\.py read its URL "
        r"from somewhere else\?\)",
        result.stderr.splitlines()[-1],
    ), result.stderr
    tables = sqlite3.connect("other.db").execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == []


def _pg_databases(prefix: str) -> list[str]:
    import asyncio

    import asyncpg

    async def go() -> list[str]:
        conn = await asyncpg.connect(f"{PG_HOST}/postgres")
        try:
            rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname = $1", prefix)
            return [row[0] for row in rows]
        finally:
            await conn.close()

    return asyncio.run(go())


@pytest.mark.postgres
def test_postgresql_gets_a_temporary_database_beside_the_target(
    project: Project, cli: Callable[..., Result], pg_url: str
) -> None:
    project.revisions(2)
    write(project.versions, "r03", "0002aa",
          'op.create_table("c", sa.Column("id", sa.Integer, primary_key=True))',
          'op.drop_table("not_there")')  # fmt: skip
    result = cli("--url", pg_url, "verify")
    assert result.exit_code == 4, result.output
    scratch = SCRATCH.match(result.stdout)
    assert scratch is not None
    name = scratch.group(1).rsplit("/", 1)[1]
    assert name.startswith("asyncmig_verify_")
    assert _pg_databases(name) == []  # dropped after
    assert result.stdout.splitlines()[1] == (
        'stairway: downgrade of r03 failed: table "not_there" does not exist'
    )
    assert cli("--url", pg_url, "current").stdout == ""  # the target was not touched


@pytest.mark.postgres
def test_a_scratch_url_is_used_and_left_empty(
    project: Project, cli: Callable[..., Result], pg_url: str
) -> None:
    project.revisions(3)
    result = cli("verify", "--scratch-url", pg_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Stairway on {pg_url}: 3 of 3 revisions")
    assert cli("--url", pg_url, "current").stdout == ""
    assert cli("-q", "--url", pg_url, "upgrade", "0001aa").exit_code == 0
    result = cli("verify", "--scratch-url", pg_url)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == (
        f"Error: the scratch database {pg_url} is at 0001aa: verify needs an empty database"
    )


@pytest.mark.mariadb
def test_mariadb_gets_a_temporary_database_beside_the_target(
    project: Project, cli: Callable[..., Result], mariadb_url: str
) -> None:
    project.revisions(2)
    result = cli("--url", mariadb_url, "verify", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    name = report["scratch"].rsplit("/", 1)[1]
    assert name.startswith("asyncmig_verify_")
    assert report["passed"] == ["0001aa", "0002aa"]
    assert MARIADB_HOST.split("//", 1)[1].split("@")[1] in report["scratch"]
    mariadb_admin(f"CREATE DATABASE `{name}`")  # fails if verify had left it behind
    mariadb_admin(f"DROP DATABASE `{name}`")
