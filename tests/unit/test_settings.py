"""Configuration resolution: precedence, source labels, env files, URLs, `%`, NullPool keys.

Most checks read ``show-config --json`` (no database needed); the `%` password
and the NullPool checks run real upgrades (SQLite, and PostgreSQL for `%`).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url
from support.databases import PG_HOST, pg_admin
from support.projects import Project, make_project
from typer.testing import Result

from asyncmig.alembic_config import build_config
from asyncmig.errors import ConfigError
from asyncmig.settings import Options, resolve
from asyncmig.urls import normalize_url, render_url

Cli = Callable[..., Result]


def add_ini(project: Project, *lines: str, section: str = "alembic") -> None:
    """Put ``lines`` at the top of ``[section]`` of the project's alembic.ini."""
    text = project.ini.read_text()
    header = f"[{section}]\n"
    assert header in text
    project.ini.write_text(text.replace(header, header + "".join(f"{x}\n" for x in lines), 1))


def show(cli: Cli, *args: str, env: dict[str, str | None] | None = None) -> dict[str, Any]:
    """``show-config --json`` after the global ``args``; fails the test on a non-zero exit."""
    result = cli(*args, "show-config", "--json", env=env)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def key(report: dict[str, Any], name: str) -> dict[str, Any]:
    """The ``keys`` entry for ``name``."""
    found = [item for item in report["keys"] if item["key"] == name]
    assert len(found) == 1, report["keys"]
    return found[0]


def url_source(report: dict[str, Any]) -> tuple[str, str]:
    item = key(report, "sqlalchemy.url")
    return item["value"], item["source"]


def fails(result: Result, message: str, code: int = 2) -> None:
    """Exit ``code`` with exactly one ``Error:`` line on stderr and nothing on stdout."""
    assert result.exit_code == code, result.output
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == ""


# -- URL precedence: file < DATABASE_URL < ASYNCMIG_URL < --url ----------------------------
def test_url_from_config_file_with_here_interpolated(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    expected = (f"sqlite+aiosqlite:///{tmp_path}/app.db", "alembic.ini:[alembic]")
    assert url_source(show(cli)) == expected


def test_database_url_beats_config_file(cli: Cli, project: Project) -> None:
    env = {"DATABASE_URL": "sqlite:///from_database_url.db"}
    assert url_source(show(cli, env=env)) == (
        "sqlite+aiosqlite:///from_database_url.db",
        "env DATABASE_URL",
    )


def test_asyncmig_url_beats_database_url(cli: Cli, project: Project) -> None:
    env = {"DATABASE_URL": "sqlite:///a.db", "ASYNCMIG_URL": "sqlite:///b.db"}
    assert url_source(show(cli, env=env)) == ("sqlite+aiosqlite:///b.db", "env ASYNCMIG_URL")


def test_url_flag_beats_every_variable(cli: Cli, project: Project) -> None:
    env = {"DATABASE_URL": "sqlite:///a.db", "ASYNCMIG_URL": "sqlite:///b.db"}
    report = show(cli, "--url", "sqlite:///c.db", env=env)
    assert url_source(report) == ("sqlite+aiosqlite:///c.db", "--url")
    assert report["engine"]["url"] == "sqlite+aiosqlite:///c.db"


def test_empty_variables_are_ignored(cli: Cli, project: Project) -> None:
    env = {"DATABASE_URL": "", "ASYNCMIG_URL": "  "}
    assert url_source(show(cli, env=env))[1] == "alembic.ini:[alembic]"


def test_url_from_the_environment_is_used_by_upgrade(
    cli: Cli, project: Project, tmp_path: Path
) -> None:
    project.revisions(1)
    result = cli("upgrade", "head", env={"DATABASE_URL": f"sqlite:///{tmp_path}/env.db"})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env.db").is_file()
    assert not (tmp_path / "app.db").exists()


# -- other sqlalchemy.* keys: file < ASYNCMIG_SQLALCHEMY_<KEY> < --set ----------------------
def test_engine_key_from_file(cli: Cli, project: Project) -> None:
    add_ini(project, "sqlalchemy.echo = false")
    item = key(show(cli), "sqlalchemy.echo")
    assert item == {
        "key": "sqlalchemy.echo",
        "engine_arg": "echo",
        "value": False,
        "source": "alembic.ini:[alembic]",
        "status": "used",
        "reason": None,
        "suggestion": None,
    }


def test_engine_key_env_beats_file(cli: Cli, project: Project) -> None:
    add_ini(project, "sqlalchemy.echo = false")
    item = key(show(cli, env={"ASYNCMIG_SQLALCHEMY_ECHO": "debug"}), "sqlalchemy.echo")
    assert (item["value"], item["source"]) == ("debug", "env ASYNCMIG_SQLALCHEMY_ECHO")


def test_engine_key_set_beats_env(cli: Cli, project: Project) -> None:
    add_ini(project, "sqlalchemy.echo = false")
    report = show(cli, "--set", "sqlalchemy.echo=true", env={"ASYNCMIG_SQLALCHEMY_ECHO": "debug"})
    item = key(report, "sqlalchemy.echo")
    assert (item["value"], item["source"]) == (True, "--set")
    assert report["engine"]["echo"] is True


def test_env_key_name_is_lowercased_after_the_prefix(cli: Cli, project: Project) -> None:
    report = show(cli, env={"ASYNCMIG_SQLALCHEMY_POOL_PRE_PING": "yes"})
    item = key(report, "sqlalchemy.pool_pre_ping")
    assert item == {
        "key": "sqlalchemy.pool_pre_ping",
        "engine_arg": "pool_pre_ping",
        "value": True,
        "source": "env ASYNCMIG_SQLALCHEMY_POOL_PRE_PING",
        "status": "used",
        "reason": None,
        "suggestion": None,
    }


def test_set_is_repeatable_and_last_wins(cli: Cli, project: Project) -> None:
    report = show(
        cli,
        "--set",
        "sqlalchemy.pool_recycle=10",
        "--set",
        "sqlalchemy.echo=true",
        "--set",
        "sqlalchemy.pool_recycle=20",
    )
    assert report["engine"]["pool_recycle"] == 20
    assert report["engine"]["echo"] is True


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("foo=1", "--set only takes sqlalchemy.* keys, got 'foo'"),
        ("sqlalchemy.=1", "--set only takes sqlalchemy.* keys, got 'sqlalchemy.'"),
        ("sqlalchemy.echo", "--set expects KEY=VALUE, got 'sqlalchemy.echo'"),
        ("sqlalchemy.url=sqlite://", "--set cannot set sqlalchemy.url: use --url"),
    ],
)
def test_bad_set(cli: Cli, project: Project, value: str, message: str) -> None:
    fails(cli("--set", value, "show-config"), message)


def test_set_reaches_the_engine(cli: Cli, project: Project, tmp_path: Path) -> None:
    """--set sqlalchemy.echo=true turns on SQLAlchemy's statement log during an upgrade."""
    logger = logging.getLogger("sqlalchemy.engine.Engine")
    handlers = list(logger.handlers)  # echo binds a handler to this invocation's stdout
    try:
        _upgrade_with_echo(cli, project, tmp_path)
    finally:
        logger.handlers[:] = handlers


def _upgrade_with_echo(cli: Cli, project: Project, tmp_path: Path) -> None:
    project.revisions(1)
    write_recording_env(project, tmp_path / "seen.json")
    result = cli("--set", "sqlalchemy.echo=true", "upgrade", "head")
    assert result.exit_code == 0, result.output
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["section"]["sqlalchemy.echo"] == "true"
    assert seen["echo"] is True


# -- config file and section -------------------------------------------------------------------
def test_section_label_follows_name(cli: Cli, project: Project) -> None:
    text = project.ini.read_text()
    project.ini.write_text(
        text + "\n[other]\nscript_location = %(here)s/migrations\n"
        "sqlalchemy.url = sqlite:///other.db\n"
    )
    assert url_source(show(cli, "-n", "other")) == (
        "sqlite+aiosqlite:///other.db",
        "alembic.ini:[other]",
    )


def test_alembic_config_variable_and_c_flag(cli: Cli, project: Project, tmp_path: Path) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    (sub / "one.ini").write_text(
        "[alembic]\nscript_location = %(here)s/m\nsqlalchemy.url = sqlite:///one.db\n"
    )
    (sub / "two.ini").write_text(
        "[alembic]\nscript_location = %(here)s/m\nsqlalchemy.url = sqlite:///two.db\n"
    )
    report = show(cli, env={"ALEMBIC_CONFIG": "conf/one.ini"})
    assert url_source(report) == ("sqlite+aiosqlite:///one.db", "one.ini:[alembic]")
    assert report["config_file"] == str(sub / "one.ini")
    assert report["alembic"]["script_location"]["value"] == f"{sub}/m"
    report = show(cli, "-c", "conf/two.ini", env={"ALEMBIC_CONFIG": "conf/one.ini"})
    assert url_source(report) == ("sqlite+aiosqlite:///two.db", "two.ini:[alembic]")


def test_pyproject_alembic_keys(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.alembic]\nscript_location = "%(here)s/migrations"\n'
        'version_locations = ["%(here)s/a", "%(here)s/b"]\n'
    )
    report = show(cli, "--url", "sqlite:///t.db")
    assert report["toml_file"] == str(tmp_path / "pyproject.toml")
    assert report["config_file"] is None
    assert report["alembic"]["script_location"] == {
        "value": f"{tmp_path}/migrations",
        "source": "pyproject.toml:[tool.alembic]",
    }
    assert report["alembic"]["version_locations"]["value"] == f"{tmp_path}/a {tmp_path}/b"


# -- env files ----------------------------------------------------------------------------------
def test_dotenv_is_read_by_default(cli: Cli, project: Project) -> None:
    Path(".env").write_text("DATABASE_URL=sqlite:///dotenv.db\nASYNCMIG_SQLALCHEMY_ECHO=true\n")
    report = show(cli)
    assert url_source(report) == ("sqlite+aiosqlite:///dotenv.db", ".env DATABASE_URL")
    assert key(report, "sqlalchemy.echo")["source"] == ".env ASYNCMIG_SQLALCHEMY_ECHO"


def test_dotenv_never_overrides_the_process_environment(cli: Cli, project: Project) -> None:
    Path(".env").write_text("DATABASE_URL=sqlite:///dotenv.db\n")
    report = show(cli, env={"DATABASE_URL": "sqlite:///process.db"})
    assert url_source(report) == ("sqlite+aiosqlite:///process.db", "env DATABASE_URL")


def test_dotenv_asyncmig_url_still_beats_process_database_url(cli: Cli, project: Project) -> None:
    """Precedence is by variable; an env file only fills in variables the process lacks."""
    Path(".env").write_text("ASYNCMIG_URL=sqlite:///dotenv.db\n")
    report = show(cli, env={"DATABASE_URL": "sqlite:///process.db"})
    assert url_source(report) == ("sqlite+aiosqlite:///dotenv.db", ".env ASYNCMIG_URL")


def test_env_file_flag_is_repeatable_and_replaces_the_default(cli: Cli, project: Project) -> None:
    Path(".env").write_text("ASYNCMIG_URL=sqlite:///dotenv.db\n")
    Path("conf").mkdir()
    Path("conf/base.env").write_text(
        "DATABASE_URL=sqlite:///base.db\nASYNCMIG_SQLALCHEMY_POOL_RECYCLE=5\n"
    )
    Path("conf/prod.env").write_text("# production\nexport DATABASE_URL='sqlite:///prod.db'\n")
    report = show(cli, "--env-file", "conf/base.env", "--env-file", "conf/prod.env")
    assert url_source(report) == ("sqlite+aiosqlite:///prod.db", "conf/prod.env DATABASE_URL")
    item = key(report, "sqlalchemy.pool_recycle")
    assert (item["value"], item["source"]) == (5, "conf/base.env ASYNCMIG_SQLALCHEMY_POOL_RECYCLE")


def test_env_file_sets_timeouts_and_config_file(cli: Cli, project: Project, tmp_path: Path) -> None:
    Path("other.ini").write_text(
        "[alembic]\nscript_location = %(here)s/m\nsqlalchemy.url = sqlite:///o.db\n"
    )
    Path(".env").write_text("ALEMBIC_CONFIG=other.ini\nASYNCMIG_WAIT_TIMEOUT=500ms\n")
    report = show(cli)
    assert report["config_file"] == str(tmp_path / "other.ini")
    assert report["asyncmig"]["wait_timeout"] == 0.5


def test_missing_env_file(cli: Cli, project: Project) -> None:
    fails(cli("--env-file", "nope.env", "show-config"), "env file nope.env not found")


def test_dotenv_is_used_by_upgrade(cli: Cli, project: Project, tmp_path: Path) -> None:
    project.revisions(1)
    Path(".env").write_text(f"DATABASE_URL=sqlite:///{tmp_path}/fromenv.db\n")
    result = cli("upgrade", "head")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fromenv.db").is_file()


# -- URL normalisation ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:pw@db.example/app", "postgresql+asyncpg://u:pw@db.example/app"),
        ("postgresql://u:pw@db.example:5433/app", "postgresql+asyncpg://u:pw@db.example:5433/app"),
        ("postgresql+asyncpg://u@h/app", "postgresql+asyncpg://u@h/app"),
        ("postgresql+psycopg://u@h/app", "postgresql+psycopg://u@h/app"),
        ("sqlite:///rel.db", "sqlite+aiosqlite:///rel.db"),
        ("sqlite:////abs/path.db", "sqlite+aiosqlite:////abs/path.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("mysql://u:pw@h/app", "mysql+asyncmy://u:pw@h/app"),
        (
            "mariadb://u:pw@h:3307/app?charset=utf8mb4",
            "mariadb+asyncmy://u:pw@h:3307/app?charset=utf8mb4",
        ),
        ("mysql+aiomysql://u@h/app", "mysql+aiomysql://u@h/app"),
        # sync drivers are moved to their async counterpart (with a notice)
        ("postgresql+psycopg2://u:pw@h/app", "postgresql+asyncpg://u:pw@h/app"),
        ("postgres+pg8000://u:pw@h/app", "postgresql+asyncpg://u:pw@h/app"),
        ("mysql+pymysql://u:pw@h/app", "mysql+asyncmy://u:pw@h/app"),
        ("mariadb+mysqldb://u:pw@h/app", "mariadb+asyncmy://u:pw@h/app"),
        ("sqlite+pysqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("oracle+cx_oracle://u:pw@h/app", "oracle+oracledb_async://u:pw@h/app"),
        ("mssql+pyodbc://u:pw@h/app", "mssql+aioodbc://u:pw@h/app"),
    ],
)
def test_normalisation(cli: Cli, project: Project, given: str, expected: str) -> None:
    assert render_url(normalize_url(given)) == expected
    assert render_url(normalize_url(normalize_url(given))) == expected  # idempotent
    report = show(cli, "--url", given)
    assert report["engine"]["url"] == expected.replace(":pw@", ":***@")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "sqlite+pysqlcipher:///x.db",
            "driver 'pysqlcipher' in URL sqlite+pysqlcipher:///x.db is not an async driver; "
            "use sqlite+aiosqlite:// instead",
        ),
        (
            "mssql+pymssql://u:secretpw@h/db?password=secretpw",
            "driver 'pymssql' in URL mssql+pymssql://u:***@h/db?password=*** is not an async "
            "driver; use mssql+aioodbc:// instead",
        ),
        (
            "foo://u:secretpw@h/db",
            "unknown database dialect 'foo' in URL foo://u:***@h/db; asyncmig runs on async "
            "drivers such as postgresql+asyncpg, sqlite+aiosqlite, mysql+asyncmy, mariadb+asyncmy",
        ),
        (
            "not a url",
            "malformed database URL 'not a url': expected dialect+driver://user:***@host/database",
        ),
        (
            "postgresql://u:secretpw@h:port/db",
            "malformed database URL 'postgresql://***@h:port/db': "
            "expected dialect+driver://user:***@host/database",
        ),
        ("", "the database URL is empty"),
    ],
)
def test_bad_urls_exit_2(cli: Cli, project: Project, url: str, message: str) -> None:
    fails(cli("--url", url, "show-config"), message)
    fails(
        cli("upgrade", "head", env={"DATABASE_URL": url or "  "})
        if url
        else cli("--url", url, "upgrade", "head"),
        message,
    )


def test_bad_url_in_config_file(cli: Cli, project: Project) -> None:
    text = project.ini.read_text().replace(
        "sqlalchemy.url = sqlite+aiosqlite:///%(here)s/app.db",
        "sqlalchemy.url = sqlite+pysqlcipher:///x.db",
    )
    project.ini.write_text(text)
    fails(
        cli("current"),
        "driver 'pysqlcipher' in URL sqlite+pysqlcipher:///x.db is not an async driver; "
        "use sqlite+aiosqlite:// instead",
    )


# -- `%` safety -------------------------------------------------------------------------------
PASSWORD = "p%40ss:w@rd%/?#x"


def test_percent_password_from_flag_env_and_env_file_is_untouched(project: Project) -> None:
    encoded = quote(PASSWORD, safe="")
    raw = f"postgresql://u:{encoded}@h/db"
    for options in (
        Options(url=raw),
        Options(environ={"DATABASE_URL": raw}),
        Options(environ={"ASYNCMIG_URL": raw}),
    ):
        settings = resolve(options)
        assert make_url(settings.require_url()).password == PASSWORD
    Path(".env").write_text(f"DATABASE_URL={raw}\n")
    settings = resolve(Options(environ={}))
    assert settings.sqlalchemy["sqlalchemy.url"].source == ".env DATABASE_URL"
    assert make_url(settings.require_url()).password == PASSWORD
    # the Alembic Config built from it hands env.py the same URL
    cfg = build_config(settings, stdout=io.StringIO())
    section = cfg.get_section(cfg.config_ini_section) or {}
    assert make_url(section["sqlalchemy.url"]).password == PASSWORD


def test_percent_escaped_in_ini(cli: Cli, project: Project) -> None:
    text = project.ini.read_text().replace(
        "sqlalchemy.url = sqlite+aiosqlite:///%(here)s/app.db",
        "sqlalchemy.url = postgresql://u:p%%40ss%%25@h/db",
    )
    project.ini.write_text(text)
    settings = resolve(Options())
    assert make_url(settings.require_url()).password == "p@ss%"
    assert show(cli)["engine"]["url"] == "postgresql+asyncpg://u:***@h/db"


def test_unescaped_percent_in_ini_names_the_fix_not_the_value(cli: Cli, project: Project) -> None:
    text = project.ini.read_text().replace(
        "sqlalchemy.url = sqlite+aiosqlite:///%(here)s/app.db",
        "sqlalchemy.url = postgresql://u:Hunter2%40pw@h/db",
    )
    project.ini.write_text(text)
    fails(
        cli("show-config"),
        "alembic.ini:[alembic] sqlalchemy.url: a literal '%' must be "
        "written '%%' in the ini file (or set the value from the environment or a flag)",
    )


def test_undefined_interpolation_in_ini(cli: Cli, project: Project) -> None:
    add_ini(project, "sqlalchemy.echo = %(nope)s")
    fails(cli("show-config"), "alembic.ini:[alembic] sqlalchemy.echo: %(nope)s is not defined")


def write_recording_env(project: Project, record: Path) -> None:
    """An env.py that records what env.py and the driver's connect call really get.

    It wraps the dialect's ``connect`` (what asyncmig's retrying ``do_connect``
    listener calls), so it sees the keyword arguments the driver receives.
    """
    (project.path / "migrations" / "env.py").write_text(
        textwrap.dedent(f"""\
        import asyncio
        import json

        from alembic import context
        from sqlalchemy import pool
        from sqlalchemy.ext.asyncio import async_engine_from_config

        config = context.config
        section = config.get_section(config.config_ini_section, {{}})
        seen = {{"section": section}}




        def run(connection):
            context.configure(connection=connection, target_metadata=None)
            with context.begin_transaction():
                context.run_migrations()


        async def main():
            engine = async_engine_from_config(
                section, prefix="sqlalchemy.", poolclass=pool.NullPool
            )
            seen["echo"] = engine.echo
            dialect = engine.sync_engine.dialect
            connect = dialect.connect

            def record(*cargs, **cparams):
                seen["password"] = cparams.get("password")
                seen["user"] = cparams.get("user")
                return connect(*cargs, **cparams)

            dialect.connect = record
            try:
                async with engine.connect() as connection:
                    await connection.run_sync(run)
            finally:
                await engine.dispose()
            with open({str(record)!r}, "w") as fh:
                json.dump(seen, fh)


        asyncio.run(main())
        """)
    )


@pytest.fixture
def pg_role_database() -> Iterator[tuple[str, str]]:
    """A PostgreSQL role whose password holds `%`, `@`, `:`, `/`, and a database it owns."""
    suffix = uuid.uuid4().hex[:10]
    role, database = f"asyncmig_pct_{suffix}", f"asyncmig_pct_{suffix}"
    try:
        pg_admin(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
    except OSError as exc:  # pragma: no cover - server missing
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    pg_admin(f'CREATE DATABASE "{database}" OWNER {role}')
    yield role, database
    pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    pg_admin(f"DROP ROLE IF EXISTS {role}")


@pytest.mark.postgres
@pytest.mark.parametrize("where", ["--url", "DATABASE_URL", "ASYNCMIG_URL", ".env"])
def test_percent_password_end_to_end_postgres(
    cli: Cli, project: Project, tmp_path: Path, pg_role_database: tuple[str, str], where: str
) -> None:
    """The URL-encoded password reaches the driver decoded, and the upgrade runs as that role."""
    role, database = pg_role_database
    host = PG_HOST.split("@", 1)[1]
    url = f"postgresql://{role}:{quote(PASSWORD, safe='')}@{host}/{database}"
    project.revisions(2)
    write_recording_env(project, tmp_path / "seen.json")
    args: tuple[str, ...] = ()
    env: dict[str, str | None] = {}
    if where == "--url":
        args = ("--url", url)
    elif where == ".env":
        Path(".env").write_text(f"DATABASE_URL={url}\n")
    else:
        env = {where: url}

    result = cli(*args, "show-config", "--json", env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["engine"]["url"] == (
        f"postgresql+asyncpg://{role}:***@{host}/{database}"
    )
    result = cli(*args, "upgrade", "head", env=env)
    assert result.exit_code == 0, result.output

    seen = json.loads((tmp_path / "seen.json").read_text())
    assert make_url(seen["section"]["sqlalchemy.url"]).password == PASSWORD
    assert seen["password"] == PASSWORD
    assert seen["user"] == role
    owners = asyncio.run(_table_owners(database))
    assert owners == {
        "alembic_version": role,
        "asyncmig_history": role,
        "t0001": role,
        "t0002": role,
    }


async def _table_owners(database: str) -> dict[str, str]:
    import asyncpg

    conn = await asyncpg.connect(f"{PG_HOST}/{database}")
    try:
        rows = await conn.fetch(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'"
        )
    finally:
        await conn.close()
    return {row["tablename"]: row["tableowner"] for row in rows}


# -- NullPool-incompatible keys ----------------------------------------------------------------
def test_pool_size_is_dropped_with_a_warning_and_upgrade_works(cli: Cli, project: Project) -> None:
    project.revisions(2)
    add_ini(project, "sqlalchemy.pool_size = 5", "sqlalchemy.max_overflow = 10")
    result = cli(
        "--set",
        "sqlalchemy.pool_timeout=3",
        "upgrade",
        "head",
        env={"ASYNCMIG_SQLALCHEMY_POOL_USE_LIFO": "true"},
    )
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == [
        "Warning: sqlalchemy.pool_size from alembic.ini:[alembic] is ignored: "
        "migrations run on NullPool, which takes no pool_size argument",
        "Warning: sqlalchemy.max_overflow from alembic.ini:[alembic] is ignored: "
        "migrations run on NullPool, which takes no max_overflow argument",
        "Warning: sqlalchemy.pool_use_lifo from env ASYNCMIG_SQLALCHEMY_POOL_USE_LIFO is ignored: "
        "migrations run on NullPool, which takes no pool_use_lifo argument",
        "Warning: sqlalchemy.pool_timeout from --set is ignored: "
        "migrations run on NullPool, which takes no pool_timeout argument",
    ]
    assert "Upgraded 2 revisions" in result.stdout


def test_dropped_keys_are_removed_from_the_section_env_py_gets(project: Project) -> None:
    add_ini(project, "sqlalchemy.pool_size = 5", "sqlalchemy.pool_recycle = 60")
    settings = resolve(Options())
    assert [s.key for s in settings.dropped] == ["sqlalchemy.pool_size"]
    cfg = build_config(settings, stdout=io.StringIO())
    section = cfg.get_section("alembic") or {}
    assert "sqlalchemy.pool_size" not in section
    assert section["sqlalchemy.pool_recycle"] == "60"


def test_pool_size_warning_with_quiet(cli: Cli, project: Project) -> None:
    """-q hides notices, not warnings: a silently ignored key would surprise."""
    add_ini(project, "sqlalchemy.pool_size = 5")
    result = cli("-q", "current")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("Warning: sqlalchemy.pool_size from alembic.ini:[alembic]")


# -- asyncmig's options: flag > ASYNCMIG_* > ini asyncmig.* > default ---------------------------
def test_options_precedence(cli: Cli, project: Project) -> None:
    assert show(cli)["asyncmig"] == {
        "wait_timeout": 5.0,
        "lock_timeout": 300.0,
        "statement_timeout": None,
        "pg_lock_timeout": None,
        "application_name": "asyncmig",
        "history": True,
        "deploy_id": None,
    }
    add_ini(
        project,
        "asyncmig.wait_timeout = 7",
        "asyncmig.lock_timeout = 2min",
        "asyncmig.statement_timeout = 30s",
        "asyncmig.pg_lock_timeout = 250ms",
        "asyncmig.application_name = from-ini",
        "asyncmig.history = false",
    )
    assert show(cli)["asyncmig"] == {
        "wait_timeout": 7.0,
        "lock_timeout": 120.0,
        "statement_timeout": 30.0,
        "pg_lock_timeout": 0.25,
        "application_name": "from-ini",
        "history": False,
        "deploy_id": None,
    }
    env = {
        "ASYNCMIG_WAIT_TIMEOUT": "8",
        "ASYNCMIG_LOCK_TIMEOUT": "9s",
        "ASYNCMIG_STATEMENT_TIMEOUT": "1min",
        "ASYNCMIG_PG_LOCK_TIMEOUT": "2",
        "ASYNCMIG_APPLICATION_NAME": "from-env",
        "ASYNCMIG_HISTORY": "yes",
        "ASYNCMIG_DEPLOY_ID": "env-deploy",
        "GITHUB_SHA": "ci-commit",
    }
    assert show(cli, env=env)["asyncmig"] == {
        "wait_timeout": 8.0,
        "lock_timeout": 9.0,
        "statement_timeout": 60.0,
        "pg_lock_timeout": 2.0,
        "application_name": "from-env",
        "history": True,
        "deploy_id": "env-deploy",
    }
    flags = (
        "--wait-timeout",
        "0",
        "--lock-timeout",
        "1",
        "--statement-timeout",
        "500ms",
        "--pg-lock-timeout",
        "3s",
        "--application-name",
        "from-flag",
        "--no-history",
        "--deploy-id",
        "flag-deploy",
    )
    assert show(cli, *flags, env=env)["asyncmig"] == {
        "wait_timeout": 0.0,
        "lock_timeout": 1.0,
        "statement_timeout": 0.5,
        "pg_lock_timeout": 3.0,
        "application_name": "from-flag",
        "history": False,
        "deploy_id": "flag-deploy",
    }
    env.pop("ASYNCMIG_DEPLOY_ID")
    assert show(cli, env=env)["asyncmig"]["deploy_id"] == "ci-commit"


def test_bad_timeouts(cli: Cli, project: Project) -> None:
    fails(
        cli("show-config", env={"ASYNCMIG_WAIT_TIMEOUT": "soon"}),
        "ASYNCMIG_WAIT_TIMEOUT: 'soon' is not a duration (use 30, 2.5s, 500ms or 5min)",
    )
    add_ini(project, "asyncmig.lock_timeout = -1")
    fails(
        cli("show-config"),
        "asyncmig.lock_timeout: '-1' is not a duration (use 30, 2.5s, 500ms or 5min)",
    )


# -- configuration errors: one line naming what to set, exit 2 ---------------------------------
def test_missing_config_file(cli: Cli, project: Project) -> None:
    fails(cli("-c", "nope.ini", "upgrade", "head"), "config file nope.ini not found")
    fails(cli("show-config", env={"ALEMBIC_CONFIG": "gone.ini"}), "config file gone.ini not found")


def test_no_config_in_directory(cli: Cli, tmp_path: Path) -> None:
    fails(
        cli("--url", "sqlite://", "current"),
        f"no alembic.ini or pyproject.toml [tool.alembic] in {tmp_path}: "
        "run 'asyncmig init migrations' or pass -c/--config",
    )


def test_missing_section(cli: Cli, project: Project) -> None:
    fails(cli("-n", "nope", "show-config"), "no section [nope] in alembic.ini: check -n/--name")
    fails(cli("-n", "nope", "upgrade", "head"), "no section [nope] in alembic.ini: check -n/--name")


def test_no_script_location(cli: Cli, tmp_path: Path) -> None:
    Path("alembic.ini").write_text("[alembic]\nsqlalchemy.url = sqlite:///x.db\n")
    message = (
        "no script_location in alembic.ini: set script_location under [alembic] "
        "in alembic.ini or [tool.alembic] in pyproject.toml"
    )
    fails(cli("show-config"), message)
    fails(cli("upgrade", "head"), message)


@pytest.mark.parametrize(
    "command", [("show-config",), ("upgrade", "head"), ("current",), ("status",)]
)
def test_no_url_anywhere(cli: Cli, tmp_path: Path, command: tuple[str, ...]) -> None:
    """The URL is demanded when env.py (or show-config) reads it, and there is none."""
    make_project(tmp_path)
    Path("alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    fails(
        cli(*command),
        "no database URL: set sqlalchemy.url in the config file, "
        "DATABASE_URL or ASYNCMIG_URL, or pass --url",
    )


def test_no_url_error_from_the_api(tmp_path: Path) -> None:
    Path("alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    with pytest.raises(ConfigError, match=r"^no database URL: set sqlalchemy\.url"):
        resolve(Options()).require_url()
