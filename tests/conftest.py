"""Shared fixtures: isolated projects in tmp_path, throwaway PostgreSQL and MariaDB databases.

With ``CI`` set, a missing database server fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from asyncmig.cli import app
from asyncmig.options import CI_COMMIT_VARIABLES

PG_HOST = os.environ.get("ASYNCMIG_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
MARIADB_HOST = os.environ.get("ASYNCMIG_TEST_MARIADB", "mysql://root@127.0.0.1:3306")

_ENV_PREFIXES = (
    "ASYNCMIG_",
    "DATABASE_URL",
    "ALEMBIC_CONFIG",
    "GITHUB_ACTIONS",
    "NO_COLOR",
    # --deploy-id's default: a CI job's commit would show up in every history row
    *CI_COMMIT_VARIABLES,
)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test starts in its own directory with no asyncmig variables set."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Invoke the CLI in-process: ``cli("upgrade", "head")``; stdout and stderr kept apart."""
    runner = CliRunner()

    def invoke(
        *args: str, env: dict[str, str | None] | None = None, input: str | None = None
    ) -> Result:
        return runner.invoke(app, list(args), env=env, input=input, catch_exceptions=False)

    return invoke


def run_script(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``asyncmig`` console script (the one beside this Python)."""
    exe = Path(sys.executable).with_name("asyncmig")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(_ENV_PREFIXES)}
    full_env.update(env or {})
    return subprocess.run(
        [str(exe), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


# -- projects -------------------------------------------------------------------------------
def write_revisions(
    versions: Path,
    count: int,
    *,
    start: int = 0,
    fail_at: int | None = None,
    body: Callable[[int], str] | None = None,
) -> list[str]:
    """Write a linear chain of ``count`` revisions creating tables t0001...; return their ids."""
    versions.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(start + 1, start + count + 1):
        rev = f"{i:04d}aa"
        down = f"'{i - 1:04d}aa'" if i > 1 else "None"
        upgrade = (
            body(i)
            if body
            else (
                f"op.create_table('t{i:04d}', sa.Column('id', sa.Integer, primary_key=True), "
                f"sa.Column('name', sa.String(50)))"
            )
        )
        if fail_at == i:
            upgrade = "op.execute('SELECT * FROM no_such_table_anywhere')"
        (versions / f"{rev}_create_t{i:04d}.py").write_text(
            textwrap.dedent(f'''\
            """create table t{i:04d}

            Revision ID: {rev}
            """
            import sqlalchemy as sa
            from alembic import op

            revision = "{rev}"
            down_revision = {down}
            branch_labels = None
            depends_on = None


            def upgrade():
                {upgrade}


            def downgrade():
                op.drop_table('t{i:04d}')
            ''')
        )
        ids.append(rev)
    return ids


@dataclass
class Project:
    """A migration project made by ``asyncmig init`` in its own directory."""

    path: Path

    @property
    def versions(self) -> Path:
        return self.path / "migrations" / "versions"

    @property
    def ini(self) -> Path:
        return self.path / "alembic.ini"

    def revisions(self, count: int, **kwargs: object) -> list[str]:
        return write_revisions(self.versions, count, **kwargs)  # type: ignore[arg-type]


def make_project(path: Path, template: str = "asyncmig") -> Project:
    from asyncmig.scaffold import init

    path.mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    os.chdir(path)
    try:
        import io

        init("migrations", template=template, stdout=io.StringIO(), quiet=True)
    finally:
        os.chdir(cwd)
    return Project(path)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """An asyncmig project in tmp_path (the working directory) on its default SQLite file."""
    return make_project(tmp_path)


# -- databases ------------------------------------------------------------------------------
def _server_missing(name: str, exc: BaseException) -> None:
    message = f"{name} is not reachable: {exc}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _pg_admin(sql: str) -> None:
    import asyncio

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


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database name; dropped afterwards."""
    name = f"asyncmig_{uuid.uuid4().hex[:12]}"
    try:
        _pg_admin(f'CREATE DATABASE "{name}"')
    except OSError as exc:
        _server_missing("PostgreSQL", exc)
    yield name
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """An asyncpg URL to a fresh PostgreSQL database."""
    return f"{PG_HOST.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{pg_database}"


def _mariadb_admin(sql: str) -> None:
    import asyncio

    import asyncmy

    async def go() -> None:
        conn = await asyncmy.connect(host="127.0.0.1", port=3306, user="root", password="")
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql)
        finally:
            conn.close()

    asyncio.run(go())


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """An asyncmy URL to a fresh MariaDB database; dropped afterwards."""
    name = f"asyncmig_{uuid.uuid4().hex[:12]}"
    try:
        _mariadb_admin(f"CREATE DATABASE `{name}`")
    except Exception as exc:
        _server_missing("MariaDB", exc)
    yield f"{MARIADB_HOST.replace('mysql://', 'mysql+asyncmy://', 1)}/{name}"
    _mariadb_admin(f"DROP DATABASE IF EXISTS `{name}`")
