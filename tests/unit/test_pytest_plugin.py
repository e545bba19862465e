"""The pytest plugin, used by a test project run inside this suite (pytester).

The inner runs use pytest-asyncio in its default strict mode: the ready-made tests
carry their own mark, and every await runs inside pytest-asyncio's event loop.
"""

from __future__ import annotations

import os
import textwrap

import pytest
from support.projects import make_project, write_revisions

pytest_plugins = ["pytester"]

MODELS = """
import sqlalchemy as sa

target_metadata = sa.MetaData()
for i in (1, 2, 3):
    sa.Table(f"t{i:04d}", target_metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("name", sa.String(50)))
"""

TESTS = """
import asyncio

import pytest
from sqlalchemy import text

from asyncmig.testing import test_model_match, test_single_head, test_stairway

TABLES = {query!r}


@pytest.mark.asyncio
async def test_migrated_db_is_at_head(migrated_db):
    async with migrated_db.connect() as conn:
        names = (await conn.execute(text(TABLES))).scalars().all()
    assert {{"t0001", "t0002", "t0003", "alembic_version"}} <= set(names)


@pytest.mark.asyncio
async def test_the_runner_inside_the_running_loop(asyncmig_runner):
    asyncio.get_running_loop()
    await asyncmig_runner.upgrade("0002aa")
    assert await asyncmig_runner.current() == ("0002aa",)
    await asyncmig_runner.downgrade("base")
    assert await asyncmig_runner.current() == ()
"""

SQLITE_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'"
PG_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"


def _project(pytester: pytest.Pytester, url: str | None = None) -> None:
    project = make_project(pytester.path)
    write_revisions(project.versions, 3)
    env = project.path / "migrations" / "env.py"
    env.write_text(env.read_text().replace("target_metadata = None", MODELS))
    if url is not None:
        text = project.ini.read_text()
        start = text.index("sqlalchemy.url = ")
        end = text.index("\n", start)
        project.ini.write_text(text[:start] + f"sqlalchemy.url = {url}" + text[end:])


def test_the_plugin_on_sqlite(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makepyfile(test_migrations=TESTS.format(query=SQLITE_TABLES))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)
    assert not (pytester.path / "app.db").exists()  # the project's database was never used


@pytest.mark.postgres
def test_the_plugin_on_postgresql(pytester: pytest.Pytester, pg_url: str) -> None:
    _project(pytester, pg_url)
    pytester.makepyfile(test_migrations=TESTS.format(query=PG_TABLES))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_the_ready_made_stairway_names_a_broken_downgrade(pytester: pytest.Pytester) -> None:
    _project(pytester)
    second = next((pytester.path / "migrations" / "versions").glob("0002aa_*.py"))
    second.write_text(second.read_text().replace("op.drop_table('t0002')", "pass"))
    pytester.makepyfile(
        test_migrations=textwrap.dedent("""
            from asyncmig.testing import test_stairway
        """)
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*Failed: upgrade again of 0002aa failed: table t0002 already exists*"]
    )
    assert os.path.exists(second)
