"""asyncmig.urls: the URL value object, driver moves, the last-@ rule, the secrets a URL
holds; and the same URLs against real PostgreSQL, MariaDB, SQLite (masking: test_masking.py).
"""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from support.databases import PG_HOST, mariadb_admin
from support.projects import Project
from typer.testing import Result

from asyncmig.errors import ConfigError
from asyncmig.masking import mask_text
from asyncmig.urls import (
    DatabaseURL,
    mask_url,
    missing_driver_hint,
    normalize_url,
    render_url,
    url_secrets,
)

Cli = Callable[..., Result]


# -- the value object ---------------------------------------------------------------------------
def test_value_object() -> None:
    url = DatabaseURL.parse(" postgres://app:s3cret@db:5432/app?sslmode=require&password=x2\n")
    assert url.url.drivername == "postgresql+asyncpg"
    assert url.original.drivername == "postgres"
    assert url.raw_driver == "postgres"
    assert url.masked == "postgresql+asyncpg://app:***@db:5432/app?password=***&sslmode=require"
    assert url.render() == "postgresql+asyncpg://app:s3cret@db:5432/app?password=x2&sslmode=require"
    assert url.notice is None
    assert {"s3cret", "x2"} <= url.secrets
    # nothing but render() shows a secret
    for shown in (str(url), repr(url), f"{url}", url.masked):
        assert "s3cret" not in shown and "x2" not in shown, shown
    assert repr(url) == f"DatabaseURL({url.masked!r})"
    with pytest.raises(dataclasses.FrozenInstanceError):
        url.notice = "changed"  # type: ignore[misc]
    # parsing what render() gives back is the same URL: engines and env.py read that string
    assert DatabaseURL.parse(url.render()).url == url.url
    assert make_url(url.render()) == url.url


@pytest.mark.parametrize(
    ("given", "expected", "notice"),
    [
        ("postgres://u@h/d", "postgresql+asyncpg://u@h/d", None),
        ("pgsql://u@h/d", "postgresql+asyncpg://u@h/d", None),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d", None),
        ("postgresql+psycopg_async://u@h/d", "postgresql+psycopg_async://u@h/d", None),
        ("postgresql+psycopg2://u@h/d", "postgresql+asyncpg://u@h/d", "postgresql+psycopg2"),
        ("postgres+psycopg2cffi://u@h/d", "postgresql+asyncpg://u@h/d", "postgres+psycopg2cffi"),
        ("postgresql+pg8000://u@h/d", "postgresql+asyncpg://u@h/d", "postgresql+pg8000"),
        ("postgresql+pygresql://u@h/d", "postgresql+asyncpg://u@h/d", "postgresql+pygresql"),
        ("mysql://u@h/d", "mysql+asyncmy://u@h/d", None),
        ("mysql+pymysql://u@h/d", "mysql+asyncmy://u@h/d", "mysql+pymysql"),
        ("mysql+mysqldb://u@h/d", "mysql+asyncmy://u@h/d", "mysql+mysqldb"),
        ("mysql+mysqlconnector://u@h/d", "mysql+asyncmy://u@h/d", "mysql+mysqlconnector"),
        ("mysql+cymysql://u@h/d", "mysql+asyncmy://u@h/d", "mysql+cymysql"),
        ("mariadb+pymysql://u@h/d", "mariadb+asyncmy://u@h/d", "mariadb+pymysql"),
        ("mariadb+mariadbconnector://u@h/d", "mariadb+asyncmy://u@h/d", "mariadb+mariadbconnector"),
        ("mysql+aiomysql://u@h/d", "mysql+aiomysql://u@h/d", None),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db", None),
        ("sqlite+pysqlite:///x.db", "sqlite+aiosqlite:///x.db", "sqlite+pysqlite"),
        (
            "sqlite+aiosqlite:///file:x.db?uri=true",
            "sqlite+aiosqlite:///file:x.db?uri=true",
            None,
        ),
        ("oracle://u@h/d", "oracle+oracledb_async://u@h/d", None),
        ("oracle+cx_oracle://u@h/d", "oracle+oracledb_async://u@h/d", "oracle+cx_oracle"),
        ("oracle+oracledb://u@h/d", "oracle+oracledb_async://u@h/d", "oracle+oracledb"),
        ("mssql://u@h/d", "mssql+aioodbc://u@h/d", None),
        ("mssql+pyodbc://u@h/d", "mssql+aioodbc://u@h/d", "mssql+pyodbc"),
    ],
)
def test_drivers_are_moved(given: str, expected: str, notice: str | None) -> None:
    url = DatabaseURL.parse(given)
    assert url.render() == expected
    if notice is None:
        assert url.notice is None
    else:
        async_driver = expected.partition("://")[0].replace("postgres+", "postgresql+")
        assert url.notice == f"{notice} is a synchronous driver; using {async_driver}"
    # idempotent, on the URL object and on the string
    assert normalize_url(url.url) == url.url
    assert DatabaseURL.parse(url.render()).url == url.url
    assert DatabaseURL.parse(url.render()).notice is None


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            "sqlite+pysqlcipher:///x.db",
            "driver 'pysqlcipher' in URL sqlite+pysqlcipher:///x.db is not an async driver; "
            "use sqlite+aiosqlite:// instead",
        ),
        (
            "mssql+pymssql://u:pw@h/d",
            "driver 'pymssql' in URL mssql+pymssql://u:***@h/d is not an async driver; "
            "use mssql+aioodbc:// instead",
        ),
        (
            "mysql+pyodbc://u@h/d?password=pw",
            "driver 'pyodbc' in URL mysql+pyodbc://u@h/d?password=*** is not an async driver; "
            "use mysql+asyncmy:// instead",
        ),
        (
            "postgresql+nosuch://u:pw@h/d",
            "driver 'nosuch' in URL postgresql+nosuch://u:***@h/d is not an async driver; "
            "use postgresql+asyncpg:// (or postgresql+psycopg://) instead",
        ),
        (
            "cockroachdb://u:pw@h/d",
            "unknown database dialect 'cockroachdb' in URL cockroachdb://u:***@h/d; asyncmig "
            "runs on async drivers such as postgresql+asyncpg, sqlite+aiosqlite, mysql+asyncmy, "
            "mariadb+asyncmy",
        ),
        (
            "postgresql://u:pw@h:port/d",
            "malformed database URL 'postgresql://***@h:port/d': "
            "expected dialect+driver://user:password@host/database",
        ),
        ("  ", "the database URL is empty"),
    ],
)
def test_refused(given: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DatabaseURL.parse(given)
    assert str(caught.value) == message
    assert caught.value.exit_code == 2


def test_missing_driver_hint() -> None:
    assert missing_driver_hint("mysql+asyncmy") == (
        "the asyncmy driver is not installed: pip install 'asyncmig[mysql]'"
    )
    assert missing_driver_hint("mariadb+asyncmy") == missing_driver_hint("asyncmy")
    assert missing_driver_hint("postgresql+psycopg") == (
        "the psycopg driver is not installed: pip install 'asyncmig[psycopg]'"
    )
    assert missing_driver_hint("postgresql+asyncpg") == (
        "the asyncpg driver is not installed: pip install asyncpg"
    )
    assert missing_driver_hint("oracle+oracledb_async") == (
        "the oracledb_async driver is not installed: pip install oracledb"
    )


# -- the last-@ rule and other raw characters ---------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "username", "password", "host", "port", "database"),
    [
        ("postgresql://u:Pw@Secret@host/db", "u", "Pw@Secret", "host", None, "db"),
        ("postgresql://u:a@b@c@host:5432/db", "u", "a@b@c", "host", 5432, "db"),
        ("postgresql://u:pw@@host/db", "u", "pw@", "host", None, "db"),
        ("postgresql://u:Pw@Se:12@host", "u", "Pw@Se:12", "host", None, None),
        # Azure's user@server user names
        (
            "postgresql://me@srv:pw@srv.example.com/db",
            "me@srv",
            "pw",
            "srv.example.com",
            None,
            "db",
        ),
        ("postgresql://me@srv@srv.example.com/db", "me@srv", None, "srv.example.com", None, "db"),
        (
            "postgresql://me@srv:p/w@srv.example.com/db",
            "me@srv",
            "p/w",
            "srv.example.com",
            None,
            "db",
        ),
        # raw ':', '/', '?', '#', '%', space, '+' in the password, as SQLAlchemy reads them
        ("postgresql://u:p:w@h/db", "u", "p:w", "h", None, "db"),
        ("postgresql://u:p/w@h/db", "u", "p/w", "h", None, "db"),
        ("postgresql://u:p?w@h/db", "u", "p?w", "h", None, "db"),
        ("postgresql://u:p#w@h/db", "u", "p#w", "h", None, "db"),
        ("postgresql://u:p%w@h/db", "u", "p%w", "h", None, "db"),
        ("postgresql://u:p%40w@h/db", "u", "p@w", "h", None, "db"),
        ("postgresql://u:p w+x@h/db", "u", "p w+x", "h", None, "db"),
        ("postgresql://u:@h/db", "u", "", "h", None, "db"),
        ("postgresql://u:pw@[::1]:5432/db", "u", "pw", "::1", 5432, "db"),
        ("postgresql://u:pw@/db?host=/run/postgresql", "u", "pw", None, None, "db"),
        # an '@' after the host belongs to the path or the query
        ("postgresql://h/my@db", None, None, "h", None, "my@db"),
        ("postgresql://u:pw@h/my@db", "u", "pw", "h", None, "my@db"),
        ("postgresql://h:5432/db?application_name=a@b", None, None, "h", 5432, "db"),
        ("sqlite:////home/me@corp/app.db", None, None, None, None, "/home/me@corp/app.db"),
        # the one reading no rule can make: '@' then '/' in one password. Documented.
        ("postgresql://u:xa@b/c@h/db", "u", "xa", "b", None, "c@h/db"),
    ],
)
def test_userinfo_ends_at_the_last_at_before_the_host(
    raw: str,
    username: str | None,
    password: str | None,
    host: str | None,
    port: int | None,
    database: str | None,
) -> None:
    url = DatabaseURL.parse(raw).original
    assert (url.username, url.password, url.host, url.port, url.database) == (
        username,
        password,
        host,
        port,
        database,
    )
    if password:
        assert password not in DatabaseURL.parse(raw).masked
        assert password in DatabaseURL.parse(raw).secrets
        if " " not in password:  # text masking reads no white space in a password: see masking
            assert password not in mask_text(raw)
    # SQLAlchemy reads the rendered string the same way (env.py gets that string)
    assert make_url(render_url(url)) == url
    # where SQLAlchemy reads the raw string right (no '@' to place), we agree with it
    if "@" not in (password or "") + (username or "") + raw.partition("?")[2]:
        assert make_url(raw) == url


def test_sqlalchemy_and_libpq_read_the_first_at() -> None:
    """What the rule departs from, measured: the password's tail becomes the host."""
    from psycopg.conninfo import conninfo_to_dict

    raw = "postgresql://u:Pw@Secret@host/db"
    assert make_url(raw).host == "Secret@host"
    assert conninfo_to_dict(raw)["host"] == "Secret@host"
    assert DatabaseURL.parse(raw).url.host == "host"


# -- secrets ------------------------------------------------------------------------------------
def test_secret_query_keys() -> None:
    raw = (
        "postgresql://u@h/db?password=Qpw1&sslpassword=Kpw2&oauth_client_secret=Opw3"
        "&scram_client_key=Cpw4&application_name=app&sslmode=require"
    )
    url = DatabaseURL.parse(raw)
    assert url.masked == (
        "postgresql+asyncpg://u@h/db?application_name=app&oauth_client_secret=***"
        "&password=***&scram_client_key=***&sslmode=require&sslpassword=***"
    )
    assert {"Qpw1", "Kpw2", "Opw3", "Cpw4"} <= url.secrets
    assert mask_url(url.url) == url.masked
    assert mask_url(raw) == raw.replace("Qpw1", "***").replace("Kpw2", "***").replace(
        "Opw3", "***"
    ).replace("Cpw4", "***")
    assert mask_url(url.render()) == url.masked
    assert DatabaseURL.parse("mysql://root:@h/app").masked == "mysql+asyncmy://root:@h/app"
    mysql = DatabaseURL.parse("mysql://root@h/app?passwd=a%2Bb&password1=mfa&charset=utf8mb4")
    assert mysql.masked == "mysql+asyncmy://root@h/app?charset=utf8mb4&passwd=***&password1=***"
    assert {"a+b", "a%2Bb", "mfa"} <= mysql.secrets


def test_every_spelling_is_a_secret() -> None:
    secrets = url_secrets("postgresql://u:p%40ss%20w+rd@h/db")
    assert {"p@ss w+rd", "p%40ss%20w%2Brd", "p%40ss+w%2Brd", "p%40ss%20w+rd"} <= set(secrets)
    assert "p%%40ss%%20w+rd" in secrets  # as doubled in an ini file
    # a URL that does not parse still yields its secrets (read lexically)
    assert "Sup3r@pw" in url_secrets("postgresql://u:Sup3r@pw@h:port/db")
    assert url_secrets(None) == ()
    assert url_secrets("sqlite:///x.db") == ()


# -- against the real databases -----------------------------------------------------------------
@pytest.mark.postgres
def test_postgres_sync_drivers_and_raw_at_run_on_asyncpg(
    cli: Cli, project: Project, pg_database: str
) -> None:
    """``postgresql+psycopg2://`` with a raw ``@`` in the password migrates on asyncpg."""
    project.revisions(1)
    host = PG_HOST.partition("@")[2]
    raw = f"postgresql+psycopg2://postgres:Pw@Secret@{host}/{pg_database}"
    result = cli("--url", raw, "upgrade", "head")
    assert result.exit_code == 0, result.output
    assert "Secret" not in result.output
    result = cli("--url", raw, "show-config", "--json")
    assert f'"postgresql+asyncpg://postgres:***@{host}/{pg_database}"' in result.stdout
    result = cli("--url", raw, "current")
    assert result.stdout.split() == ["0001aa", "(head)"], result.output


@pytest.mark.postgres
def test_psycopg_stays_psycopg(cli: Cli, project: Project, pg_database: str) -> None:
    project.revisions(1)
    host = PG_HOST.partition("@")[2]
    url = f"postgresql+psycopg://postgres:pw@{host}/{pg_database}?sslmode=disable"
    assert DatabaseURL.parse(url).url.drivername == "postgresql+psycopg"
    result = cli("--url", url, "--set", "sqlalchemy.echo=true", "upgrade", "head")
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE t0001" in result.output
    assert ":pw@" not in result.output


@pytest.fixture
def mariadb_user(mariadb_url: str) -> Iterator[tuple[str, str, str]]:
    """A MariaDB user with a password holding ``@ : / ? #`` and a space (MariaDB checks it)."""
    name = f"asyncmig_{uuid.uuid4().hex[:8]}"
    password = "Pw@Se:cr/e?t# x+y"
    database = mariadb_url.rsplit("/", 1)[1]
    mariadb_admin(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'")
    mariadb_admin(f"GRANT ALL ON `{database}`.* TO '{name}'@'%'")
    yield name, password, database
    mariadb_admin(f"DROP USER IF EXISTS '{name}'@'%'")


@pytest.mark.mariadb
def test_mariadb_password_forms(
    cli: Cli, project: Project, mariadb_user: tuple[str, str, str]
) -> None:
    """The server checks the password: the raw form and ``?password=`` both get it right."""
    from urllib.parse import quote_plus

    user, password, database = mariadb_user
    project.revisions(2)
    wrong = f"mysql+asyncmy://{user}:nope@127.0.0.1:3306/{database}"
    result = cli("--url", wrong, "--wait-timeout", "0", "current")
    assert result.exit_code == 3, result.output
    forms = [
        f"mysql+pymysql://{user}:{password}@127.0.0.1:3306/{database}",  # raw, sync driver
        f"mysql://{user}@127.0.0.1:3306/{database}?password={quote_plus(password)}",
    ]
    for url, target in zip(forms, ("0001aa", "head"), strict=True):
        result = cli("--url", url, "--wait-timeout", "0", "upgrade", target)
        assert result.exit_code == 0, result.output
        result = cli(
            "--url", url, "--wait-timeout", "0", "--set", "sqlalchemy.echo=true", "current", "-v"
        )
        assert result.exit_code == 0, result.output
        for piece in ("Se:cr", "x+y", "x%2By", "Se%3Acr"):
            assert piece not in result.output, result.output
    masked = f"mysql+asyncmy://{user}@127.0.0.1:3306/{database}?password=***"
    assert masked in cli("--url", forms[1], "show-config").stdout


def test_sqlite_sync_driver_and_uri_filenames(cli: Cli, project: Project, tmp_path: Path) -> None:
    project.revisions(1)
    for url, path in (
        ("sqlite+pysqlite:///plain.db", tmp_path / "plain.db"),
        (f"sqlite+aiosqlite:///file:{tmp_path}/uri.db?uri=true&mode=rwc", tmp_path / "uri.db"),
    ):
        result = cli("--url", url, "upgrade", "head")
        assert result.exit_code == 0, result.output
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
                ("0001aa",)
            ]
    shown = cli("--url", f"sqlite:///file:{tmp_path}/uri.db?uri=true", "show-config").stdout
    assert f"sqlite+aiosqlite:///file:{tmp_path}/uri.db?uri=true" in shown
