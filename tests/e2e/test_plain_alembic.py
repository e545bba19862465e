"""Projects made by plain ``alembic init -t async`` run under asyncmig unchanged, and
asyncmig's ``--sql`` output is byte for byte what plain ``alembic`` prints."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support.projects import make_project, write_revisions
from typer.testing import Result

Cli = Callable[..., Result]
Maker = Callable[..., Path]
ALEMBIC = Path(sys.executable).with_name("alembic")


def clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ASYNCMIG_", "DATABASE_URL", "ALEMBIC_CONFIG"))
    }


def alembic(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed plain ``alembic`` script, with no asyncmig or DATABASE_URL variables."""
    done = subprocess.run(
        [str(ALEMBIC), *args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``alembic init -t async migrations`` per module (the script is slow to start)."""
    path = tmp_path_factory.mktemp("alembic_init")
    alembic("init", "-t", "async", "migrations", cwd=path)
    return path


@pytest.fixture
def plain_project(generated: Path) -> Maker:
    return lambda path, url, revisions=3: make_plain_project(generated, path, url, revisions)


def make_plain_project(generated: Path, path: Path, url: str, revisions: int) -> Path:
    """A copy of alembic's generated project, ``url`` in alembic.ini, a chain of revisions."""
    shutil.copytree(generated, path, dirs_exist_ok=True)
    ini = path / "alembic.ini"
    text, count = re.subn(r"(?m)^sqlalchemy\.url = .*$", f"sqlalchemy.url = {url}", ini.read_text())
    assert count == 1
    ini.write_text(text)
    write_revisions(path / "migrations" / "versions", revisions)
    return path


def test_env_py_is_alembic_s_own(tmp_path: Path, plain_project: Maker) -> None:
    plain_project(tmp_path, "sqlite+aiosqlite:///%(here)s/app.db", revisions=0)
    env_py = (tmp_path / "migrations" / "env.py").read_text()
    assert "async_engine_from_config" in env_py
    assert "asyncmig" not in env_py


def run_lifecycle(cli: Cli, *url: str) -> None:
    result = cli(*url, "upgrade", "head")
    assert result.exit_code == 0, result.output
    assert "Applying 3/3 0002aa → 0003aa create table t0003 …" in result.stdout
    assert result.stdout.splitlines()[-1].endswith("; the database is at 0003aa.")
    assert cli(*url, "current").stdout == "0003aa (head)\n"
    result = cli(*url, "downgrade", "-2")
    assert result.exit_code == 0, result.output
    assert cli(*url, "current").stdout == "0001aa\n"
    result = cli(*url, "downgrade", "base")
    assert result.exit_code == 0, result.output
    assert cli(*url, "current").stdout == ""


def test_plain_async_project_on_sqlite(cli: Cli, tmp_path: Path, plain_project: Maker) -> None:
    plain_project(tmp_path, "sqlite+aiosqlite:///%(here)s/app.db")
    run_lifecycle(cli)
    assert (tmp_path / "app.db").is_file()


def test_plain_async_project_url_from_environment(
    cli: Cli, tmp_path: Path, plain_project: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ini keeps alembic's placeholder URL; DATABASE_URL (sync spelling) wins, made async."""
    plain_project(tmp_path, "driver://user:pass@localhost/dbname")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    run_lifecycle(cli)
    assert (tmp_path / "env.db").is_file()


def test_plain_async_project_on_postgres(
    cli: Cli, tmp_path: Path, plain_project: Maker, pg_url: str
) -> None:
    plain_project(tmp_path, "driver://user:pass@localhost/dbname")
    run_lifecycle(cli, "--url", pg_url)


# -- --sql output equals plain alembic's -----------------------------------------------------
SQL_COMMANDS = (
    ("upgrade", "head", "--sql"),
    ("upgrade", "0001aa:0003aa", "--sql"),
    ("downgrade", "0003aa:base", "--sql"),
    ("downgrade", "0003aa:0001aa", "--sql"),
    ("stamp", "head", "--sql"),
    ("stamp", "0002aa", "--sql"),
)

URLS = {
    "sqlite": "sqlite+aiosqlite:///%(here)s/app.db",
    "postgresql": "postgresql+asyncpg://postgres@127.0.0.1:5432/never_connected",
}


#: Runs plain alembic's own command line once per argument list, in one process (start-up is slow).
ALEMBIC_BATCH = """
import json, sys
from alembic.config import main
for args in json.loads(sys.argv[1]):
    main(argv=args, prog="alembic")
    sys.stdout.write("\\n=== end of command ===\\n")
    sys.stdout.flush()
"""


#: The same for asyncmig's command line (each command ends in SystemExit, as a script would).
ASYNCMIG_BATCH = """
import json, sys
from asyncmig.cli import app
for args in json.loads(sys.argv[1]):
    try:
        app(args, prog_name="asyncmig")
    except SystemExit as exc:
        assert not exc.code, (args, exc.code)
    sys.stdout.write("\\n=== end of command ===\\n")
    sys.stdout.flush()
"""


def plain_alembic_outputs(
    path: Path, commands: tuple[tuple[str, ...], ...] = SQL_COMMANDS, *, batch: str = ALEMBIC_BATCH
) -> list[str]:
    """The stdout of ``alembic <args>`` for each of ``commands``, as plain alembic prints it.

    Alembic lists branches from sets, so both tools run with one hash seed.
    """
    done = subprocess.run(
        [sys.executable, "-c", batch, json.dumps(commands)],
        cwd=path,
        env={**clean_env(), "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n=== end of command ===\n")[:-1]


def assert_same_sql(cli: Cli, path: Path) -> None:
    theirs = plain_alembic_outputs(path)
    assert len(theirs) == len(SQL_COMMANDS)
    for args, expected in zip(SQL_COMMANDS, theirs, strict=True):
        ours = cli(*args)
        assert ours.exit_code == 0, ours.output
        assert "alembic_version" in ours.stdout
        assert ours.stdout == expected, args


@pytest.mark.parametrize("dialect", sorted(URLS))
def test_sql_output_equals_alembic_on_plain_project(
    cli: Cli, tmp_path: Path, plain_project: Maker, dialect: str
) -> None:
    plain_project(tmp_path, URLS[dialect])
    assert_same_sql(cli, tmp_path)
    assert not (tmp_path / "app.db").exists()  # offline: nothing touched the database


@pytest.mark.parametrize("dialect", sorted(URLS))
def test_sql_output_equals_alembic_on_asyncmig_project(
    cli: Cli, tmp_path: Path, dialect: str
) -> None:
    """Plain alembic can run asyncmig's env.py too; both print the same SQL."""
    project = make_project(tmp_path)
    text = re.sub(
        r"(?m)^sqlalchemy\.url = .*$", f"sqlalchemy.url = {URLS[dialect]}", project.ini.read_text()
    )
    project.ini.write_text(text)
    project.revisions(3)
    assert_same_sql(cli, tmp_path)


def test_plain_alembic_on_asyncmig_env_takes_the_lock(tmp_path: Path, pg_url: str) -> None:
    """``alembic upgrade`` on asyncmig's env.py waits for a deploy's asyncmig, not races it."""
    import asyncio

    import asyncpg

    from asyncmig import locks

    project = make_project(tmp_path)
    project.revisions(2)
    ini = project.ini.read_text().replace(
        "sqlalchemy.url = sqlite+aiosqlite:///%(here)s/app.db", f"sqlalchemy.url = {pg_url}"
    )
    project.ini.write_text(ini)
    key = locks.advisory_key(locks.lock_name("alembic_version", None))
    dsn = pg_url.replace("+asyncpg", "", 1)

    async def fetch(sql: str) -> object:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    async def while_locked() -> subprocess.Popen[str]:
        """Start plain alembic while another session holds the lock; release once it waits."""
        conn = await asyncpg.connect(dsn)
        try:
            await conn.fetchval("SELECT pg_advisory_lock($1)", key)
            proc = subprocess.Popen(
                [str(ALEMBIC), "upgrade", "head"],
                cwd=tmp_path,
                env=clean_env(),
                stderr=subprocess.PIPE,
                text=True,
            )
            assert proc.stderr is not None
            for _ in range(20):  # Alembic's INFO lines come first
                line = await asyncio.to_thread(proc.stderr.readline)
                if line.startswith("asyncmig: ") or not line:
                    break
            assert line.startswith("asyncmig: waiting for the migration lock"), line
            assert await conn.fetchval("SELECT to_regclass('alembic_version')") is None
            return proc
        finally:
            await conn.close()  # the lock goes with the session

    proc = asyncio.run(while_locked())
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert asyncio.run(fetch("SELECT version_num FROM alembic_version")) == "0002aa"


# -- read-only commands print what plain alembic prints ---------------------------------------
READ_COMMANDS = (
    ("history",),
    ("history", "-v"),
    ("history", "-i"),
    ("history", "-r", "a1:b2"),
    ("history", "-r", "current:"),
    ("history", "-r", ":current"),
    ("heads",),
    ("heads", "-v"),
    ("heads", "--resolve-dependencies"),
    ("branches",),
    ("branches", "-v"),
    ("current",),
    ("show", "m3"),
    ("show", "current"),
    ("show", "feature@head"),
)

BRANCHED = {
    "a1": ("None", "base", "None", "None"),
    "a2": ("'a1'", "second on main", "None", "None"),
    "b2": ("'a1'", "start feature", "('feature',)", "None"),
    "b3": ("'b2'", "more feature", "None", "'a2'"),
    "m3": ("('a2', 'b3')", "merge main and feature", "None", "None"),
    "c1": ("None", "other tree", "('other',)", "None"),
}


def write_branched(versions: Path) -> None:
    """A history with a branch point, a branch label, a dependency, a merge and a second base."""
    versions.mkdir(parents=True, exist_ok=True)
    for rev, (down, doc, labels, depends) in BRANCHED.items():
        (versions / f"{rev}_x.py").write_text(
            f'"""{doc}\n\nRevision ID: {rev}\nRevises: {down}\nCreate Date: 2026-11-27\n\n"""\n'
            f"revision = {rev!r}\ndown_revision = {down}\nbranch_labels = {labels}\n"
            f"depends_on = {depends}\n\n\ndef upgrade():\n    pass\n\n\n"
            "def downgrade():\n    pass\n"
        )


def test_read_only_commands_print_what_alembic_prints(tmp_path: Path) -> None:
    """history, heads, branches, current and show: byte for byte plain alembic's text."""
    project = make_project(tmp_path)
    project.ini.write_text(
        project.ini.read_text().replace("sqlite+aiosqlite:///", "sqlite:///")
    )  # plain alembic needs a sync driver; asyncmig moves it to aiosqlite
    write_branched(project.versions)
    alembic("upgrade", "a2", cwd=tmp_path)
    theirs = plain_alembic_outputs(tmp_path, READ_COMMANDS)
    ours = plain_alembic_outputs(tmp_path, READ_COMMANDS, batch=ASYNCMIG_BATCH)
    for args, expected, got in zip(READ_COMMANDS, theirs, ours, strict=True):
        assert got == expected, args
