"""URL parameters reach the async drivers with the meaning their authors gave them.

Real servers prove each effect: an engine with :func:`do_connect_listener` on its
``do_connect`` event (how asyncmig wires it) connects, and the server shows what
the parameter asked for. The provider table pins the translation of the URLs
hosting platforms hand out.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from support.databases import MARIADB_HOST, PG_HOST, server_missing

from asyncmig.connparams import (
    describe_connect_params,
    do_connect_listener,
    translate_connect_params,
)
from asyncmig.connparams_mysql import ASYNCMY_ARGS, ASYNCMY_CHARSETS
from asyncmig.connparams_pg import ASYNCPG_OWN, LIBPQ_KEYWORDS
from asyncmig.dbwait import classify, connect_with_retry
from asyncmig.errors import ConfigError, DatabaseUnreachable

PG = PG_HOST.replace("postgresql://", "", 1)  # postgres@127.0.0.1:5432
MY = MARIADB_HOST.replace("mysql://", "", 1)
NO_SSL = "the server does not support SSL (sslmode=require or stricter in the URL)"
NO_SSL_MYSQL = "the server does not support SSL (the URL requires SSL)"


def _engine(url: str) -> Any:
    engine = create_async_engine(url, poolclass=NullPool)
    event.listen(engine.sync_engine, "do_connect", do_connect_listener)
    return engine


async def _query(url: str, sql: str) -> tuple[Any, ...]:
    engine = _engine(url)
    try:
        async with engine.connect() as conn:
            return tuple((await conn.execute(text(sql))).one())
    finally:
        await engine.dispose()


async def _failure(url: str, sql: str = "SELECT 1") -> BaseException:
    engine = _engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    except Exception as exc:
        return exc
    finally:
        await engine.dispose()
    raise AssertionError(f"{url} connected")


@pytest.fixture(scope="module")
def pg() -> str:
    """``user@host:port`` of the PostgreSQL server (its own ``postgres`` database is used)."""
    try:
        asyncio.run(_query(f"postgresql+asyncpg://{PG}/postgres", "SELECT 1"))
    except OSError as exc:
        server_missing("PostgreSQL", exc)
    return PG


@pytest.fixture(scope="module")
def mariadb() -> str:
    try:
        asyncio.run(_query(f"mysql+asyncmy://{MY}/", "SELECT 1"))
    except Exception as exc:
        server_missing("MariaDB", exc)
    return MY


PG_DRIVERS = ["asyncpg", "psycopg"]


# -- the tables the code keeps agree with the installed drivers ---------------------------------
def test_libpq_keywords_are_those_of_the_linked_libpq() -> None:
    from psycopg import pq

    linked = {opt.keyword.decode() for opt in pq.Conninfo.get_defaults()}
    assert linked == LIBPQ_KEYWORDS, f"libpq {pq.version()}: update LIBPQ_KEYWORDS"


def test_asyncpg_and_asyncmy_arguments_are_their_signatures() -> None:
    import asyncmy
    import asyncpg

    assert set(inspect.signature(asyncpg.connect).parameters) == ASYNCPG_OWN
    asyncmy_args = set(inspect.signature(asyncmy.connect).parameters)
    assert asyncmy_args == ASYNCMY_ARGS - {"async_creator_fn"}


def test_asyncmy_charsets_are_the_ones_it_can_encode() -> None:
    from asyncmy.charset import charset_by_name

    assert all(charset_by_name(name) is not None for name in ASYNCMY_CHARSETS)
    assert all(charset_by_name(name) is None for name in ("utf8mb3", "ucs2", "utf16", "utf32"))


# -- provider URLs: what the driver receives -----------------------------------------------------
SECRET = "Pw-8d3f_hunter2"
PROVIDERS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "heroku",
        f"postgres://u:{SECRET}@ec2-3-1.compute-1.amazonaws.com:5432/d8?sslmode=require",
        {
            "host": "ec2-3-1.compute-1.amazonaws.com",
            "port": 5432,
            "database": "d8",
            "user": "u",
            "password": "***",
            "dsn": "postgresql://?sslmode=require",
        },
    ),
    (
        "neon (channel_binding=prefer)",
        f"postgresql://u:{SECRET}@ep-x-1.us-east-2.aws.neon.tech/neondb"
        "?sslmode=require&channel_binding=prefer",
        {
            "host": "ep-x-1.us-east-2.aws.neon.tech",
            "database": "neondb",
            "user": "u",
            "password": "***",
            "dsn": "postgresql://?sslmode=require",
        },
    ),
    (
        "supabase pooler",
        f"postgresql://postgres.abcd:{SECRET}@aws-0-eu-central-1.pooler.supabase.com:6543/postgres"
        "?sslmode=require&application_name=api&options=-c%20search_path%3Dapp",
        {
            "host": "aws-0-eu-central-1.pooler.supabase.com",
            "port": 6543,
            "database": "postgres",
            "user": "postgres.abcd",
            "password": "***",
            "dsn": "postgresql://?sslmode=require",
            "server_settings": {"application_name": "api", "options": "-c search_path=app"},
        },
    ),
    (
        "render",
        f"postgres://app:{SECRET}@dpg-abc-a.oregon-postgres.render.com/app_db?sslmode=prefer"
        "&connect_timeout=10",
        {
            "host": "dpg-abc-a.oregon-postgres.render.com",
            "database": "app_db",
            "user": "app",
            "password": "***",
            "timeout": 10.0,
            "dsn": "postgresql://?sslmode=prefer",
        },
    ),
    (
        "rds with its CA bundle",
        f"postgresql://app:{SECRET}@db.abc.eu-west-1.rds.amazonaws.com:5432/app"
        "?sslmode=verify-full&sslrootcert=/certs/global-bundle.pem&target_session_attrs=read-write",
        {
            "host": "db.abc.eu-west-1.rds.amazonaws.com",
            "port": 5432,
            "database": "app",
            "user": "app",
            "password": "***",
            "target_session_attrs": "read-write",
            "dsn": "postgresql://?sslmode=verify-full&sslrootcert=/certs/global-bundle.pem",
        },
    ),
    (
        "libpq 16 system roots",
        f"postgresql://u:{SECRET}@db.example.com/app?sslrootcert=system",
        {"host": "db.example.com", "database": "app", "user": "u", "password": "***", "ssl": True},
    ),
    (
        "client certificate with a key password",
        "postgresql://u@db.example.com/app?sslmode=verify-ca&sslcert=/c/client.crt"
        f"&sslkey=/c/client.key&sslpassword={SECRET}&fallback_application_name=asyncmig",
        {
            "host": "db.example.com",
            "database": "app",
            "user": "u",
            "dsn": "postgresql://?sslmode=verify-ca&sslcert=/c/client.crt&sslkey=/c/client.key"
            "&sslpassword=***",
            "server_settings": {"application_name": "asyncmig"},
        },
    ),
    (
        "sqlalchemy's asyncpg spelling",
        "postgresql+asyncpg://u@h/app?ssl=require&prepared_statement_cache_size=0"
        "&statement_cache_size=0&command_timeout=30",
        {
            "host": "h",
            "database": "app",
            "user": "u",
            "prepared_statement_cache_size": 0,
            "statement_cache_size": 0,
            "command_timeout": 30.0,
            "dsn": "postgresql://?sslmode=require",
        },
    ),
    (
        "neon on psycopg (libpq takes it as it is)",
        f"postgresql+psycopg://u:{SECRET}@ep-x-1.aws.neon.tech/neondb"
        "?sslmode=require&channel_binding=require&prepare_threshold=none",
        {
            "host": "ep-x-1.aws.neon.tech",
            "dbname": "neondb",
            "user": "u",
            "password": "***",
            "sslmode": "require",
            "channel_binding": "require",
            "prepare_threshold": None,
        },
    ),
    (
        "planetscale (ssl_ca)",
        f"mysql+asyncmy://u:{SECRET}@aws.connect.psdb.cloud/db"
        "?ssl_ca=/etc/ssl/certs/ca-certificates.crt&charset=utf8mb4",
        {
            "host": "aws.connect.psdb.cloud",
            "db": "db",
            "user": "u",
            "password": "***",
            "charset": "utf8mb4",
            "client_flag": 2,
            "ssl": "SSLContext(VERIFY_IDENTITY, ca=/etc/ssl/certs/ca-certificates.crt)",
        },
    ),
    (
        "planetscale (node's ssl JSON)",
        f'mysql://u:{SECRET}@aws.connect.psdb.cloud/db?ssl={{"rejectUnauthorized":true}}',
        {
            "host": "aws.connect.psdb.cloud",
            "db": "db",
            "user": "u",
            "password": "***",
            "client_flag": 2,
            "ssl": "SSLContext(VERIFY_IDENTITY)",
        },
    ),
    (
        "planetscale (prisma's sslaccept)",
        f"mysql://u:{SECRET}@aws.connect.psdb.cloud/db?sslaccept=strict",
        {
            "host": "aws.connect.psdb.cloud",
            "db": "db",
            "user": "u",
            "password": "***",
            "client_flag": 2,
            "ssl": "SSLContext(VERIFY_IDENTITY)",
        },
    ),
    (
        "aiven / digitalocean (ssl-mode)",
        f"mysql://doadmin:{SECRET}@db-mysql-fra1.ondigitalocean.com:25060/defaultdb"
        "?ssl-mode=REQUIRED&connect_timeout=5",
        {
            "host": "db-mysql-fra1.ondigitalocean.com",
            "port": 25060,
            "db": "defaultdb",
            "user": "doadmin",
            "password": "***",
            "connect_timeout": 5,
            "client_flag": 2,
            "ssl": "SSLContext(REQUIRED)",
        },
    ),
    (
        "tidb cloud (pymysql flags)",
        f"mysql://u.root:{SECRET}@gateway01.tidbcloud.com:4000/test?ssl_ca=/etc/ssl/cert.pem"
        "&ssl_verify_cert=true&ssl_verify_identity=true",
        {
            "host": "gateway01.tidbcloud.com",
            "port": 4000,
            "db": "test",
            "user": "u.root",
            "password": "***",
            "client_flag": 2,
            "ssl": "SSLContext(VERIFY_IDENTITY, ca=/etc/ssl/cert.pem)",
        },
    ),
    (
        "sqlite",
        "sqlite:////srv/app.db?timeout=30",
        {"database": "/srv/app.db", "timeout": 30.0, "check_same_thread": False},
    ),
]


@pytest.mark.parametrize(
    ("url", "expected"), [p[1:] for p in PROVIDERS], ids=[p[0] for p in PROVIDERS]
)
def test_provider_urls_translate(url: str, expected: dict[str, Any]) -> None:
    from asyncmig.urls import normalize_url

    normalized = normalize_url(url)
    described = describe_connect_params(normalized)
    assert described == expected
    assert SECRET not in repr(described)

    dialect = normalized.get_dialect()()
    if dialect.name != "mysql":  # asyncmy's dialect imports asyncmy for its arguments
        _, cparams = dialect.create_connect_args(normalized)
        if dialect.driver == "asyncpg" and ("sslrootcert=/" in url or "sslcert=/" in url):
            with pytest.raises(ConfigError, match=r"URL parameter ssl\w+=/\S+: no such file"):
                translate_connect_params(dialect.name, dialect.driver, cparams)  # not here
            return
        translated = translate_connect_params(dialect.name, dialect.driver, cparams)
        assert translate_connect_params(dialect.name, dialect.driver, translated) == translated


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "mysql+aiomysql://u:p@h/db?charset=utf8mb4&password=x",
            {"charset": "utf8mb4", "password": "***"},
        ),
        ("oracle+oracledb_async://u:p@h/db", {}),
        ("mssql+aioodbc://u:p@h/db?driver=ODBC+Driver+18", {"driver": "ODBC Driver 18"}),
    ],
)
def test_other_drivers_get_their_url_parameters_untranslated(
    url: str, expected: dict[str, Any]
) -> None:
    assert describe_connect_params(make_url(url)) == expected


def test_describe_imports_no_driver() -> None:
    urls = [p[1] for p in PROVIDERS]
    code = (
        "import sys\n"
        "from asyncmig.urls import normalize_url\n"
        "from asyncmig.connparams import describe_connect_params\n"
        f"for url in {urls!r}:\n"
        "    describe_connect_params(normalize_url(url))\n"
        "print(sorted({'asyncpg', 'psycopg', 'asyncmy', 'aiosqlite'} & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# -- refusals: exit 2 naming the parameter -------------------------------------------------------
REFUSED = [
    (
        "postgresql+asyncpg://u@h/d?sslmode=require&channel_binding=require",
        "URL parameter channel_binding=require is not supported by asyncpg (it never uses SCRAM "
        "channel binding): use postgresql+psycopg:// (libpq) or remove it",
    ),
    (
        "postgresql+asyncpg://u@h/d?keepalives_idle=30",
        "URL parameter 'keepalives_idle' is not supported by asyncpg: use postgresql+psycopg:// "
        "(libpq) or remove it",
    ),
    (
        "postgresql+asyncpg://u@h/d?hostaddr=10.0.0.1",
        "URL parameter 'hostaddr' is not supported by asyncpg: use postgresql+psycopg:// (libpq) "
        "or remove it",
    ),
    (
        "postgresql+asyncpg://u@h/d?gssencmode=require",
        "URL parameter gssencmode=require is not supported by asyncpg (it has no GSSAPI "
        "encryption): use postgresql+psycopg:// (libpq) or remove it",
    ),
    (
        "postgresql+asyncpg://u@h/d?client_encoding=LATIN1",
        "URL parameter client_encoding=LATIN1 is not supported by asyncpg (it speaks UTF8 only): "
        "use postgresql+psycopg:// (libpq) or remove it",
    ),
    (
        "postgresql+asyncpg://u@h/d?sslmod=require",
        "unknown URL parameter 'sslmod' for asyncpg: did you mean 'sslmode'?",
    ),
    (
        "postgresql+asyncpg://u@h/d?frobnicate=1",
        "unknown URL parameter 'frobnicate' for asyncpg; see 'URL parameters' in "
        "docs/configuration.md",
    ),
    (
        "postgresql+psycopg://u@h/d?ssl=true",
        "unknown URL parameter 'ssl' for psycopg: did you mean 'sslmode'?",
    ),
    (
        "postgresql+asyncpg://u@h/d?sslmode=verify_full",
        "URL parameter sslmode='verify_full' is invalid: expected one of disable, allow, prefer, "
        "require, verify-ca, verify-full (did you mean 'verify-full'?)",
    ),
    (
        "postgresql+psycopg://u@h/d?target_session_attrs=readwrite",
        "URL parameter target_session_attrs='readwrite' is invalid: expected one of any, "
        "read-write, read-only, primary, standby, prefer-standby (did you mean 'read-write'?)",
    ),
    (
        "postgresql+asyncpg://u@h/d?connect_timeout=2.5",
        "URL parameter connect_timeout='2.5' is invalid: expected a whole number of seconds",
    ),
    (
        "postgresql+asyncpg://u@h/d?sslrootcert=system&sslmode=require",
        "URL parameter sslmode=require may not be used with sslrootcert=system: "
        "use sslmode=verify-full",
    ),
    (
        "postgresql+asyncpg://u@h/d?sslmode=prefer&sslnegotiation=direct",
        "URL parameter sslnegotiation=direct needs sslmode=require, verify-ca or verify-full "
        "(sslmode is prefer)",
    ),
    (
        "postgresql+asyncpg://u@h/d?sslmode=require&sslmode=disable",
        "URL parameter 'sslmode' is given more than once: keep one",
    ),
    (
        "postgresql+asyncpg://u@h/d?ssl=disable&sslmode=require",
        "URL parameters 'ssl' and 'sslmode' disagree: keep one",
    ),
    (
        "mysql+asyncmy://u@h/d?ssl_mode=PREFERRED",
        "URL parameter ssl_mode=PREFERRED is not supported by asyncmy (it cannot fall back to an "
        "unencrypted connection): use ssl_mode=REQUIRED or DISABLED",
    ),
    (
        "mysql+asyncmy://u@h/d?ssl_mode=REQUIRED&ssl=false",
        "URL parameters 'ssl_mode' and 'ssl' disagree: keep one",
    ),
    (
        "mysql+asyncmy://u@h/d?charset=utf8mb3",
        "URL parameter charset='utf8mb3' is invalid: expected a character set asyncmy knows, "
        "such as utf8mb4 (did you mean 'utf8mb4'?)",
    ),
    (
        "mysql+asyncmy://u@h/d?collation=utf8mb4_bin",
        "URL parameter 'collation' is not supported by asyncmy: use init_command=SET NAMES "
        "<charset> COLLATE <collation>",
    ),
    (
        "mysql+asyncmy://u@h/d?connect_timeout=0",
        "URL parameter connect_timeout=0 is invalid: expected 1 to 31536000 seconds",
    ),
    (
        "mysql+asyncmy://u@h/d?ssl=maybe",
        "URL parameter ssl='maybe' is invalid: expected true, false or a JSON object such as "
        '{"rejectUnauthorized":true}',
    ),
    (
        "mysql+asyncmy://u@h/d?sslca=/x",
        "unknown URL parameter 'sslca' for asyncmy: did you mean 'ssl_ca'?",
    ),
    (
        "sqlite+aiosqlite:///app.db?mode=ro",
        "URL parameter 'mode' is not supported by aiosqlite: SQLite URI parameters need uri=true "
        "in the URL; or remove it",
    ),
    (
        "sqlite+aiosqlite:///app.db?timout=5",
        "unknown URL parameter 'timout' for aiosqlite: did you mean 'timeout'?",
    ),
]


@pytest.mark.parametrize(("url", "message"), REFUSED)
def test_parameters_a_driver_cannot_honour_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        describe_connect_params(make_url(url))
    assert str(caught.value) == message
    assert caught.value.exit_code == 2


def test_secret_query_values_are_masked() -> None:
    url = make_url(f"postgresql+asyncpg://u@h/d?password={SECRET}&sslpassword={SECRET}")
    assert SECRET not in repr(describe_connect_params(url))
    with pytest.raises(ConfigError) as caught:
        describe_connect_params(make_url(f"mysql+asyncmy://u@h/d?ssl_key_password={SECRET}&x=1"))
    assert SECRET not in str(caught.value)


def test_a_refusal_passes_the_connection_wait_untouched() -> None:
    def connect() -> None:
        translate_connect_params("postgresql", "asyncpg", {"krbsrvnam": "x"})

    with pytest.raises(ConfigError, match="did you mean 'krbsrvname'"):
        connect_with_retry(connect, timeout=30, target="t", on_wait=print)


# -- PostgreSQL: the server shows the effect -------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.parametrize("driver", PG_DRIVERS)
async def test_application_name_and_options(pg: str, driver: str) -> None:
    options = "-c%20search_path%3Dfoo,public%20--work_mem%3D5MB%20-c%20lock_timeout%3D1234"
    url = f"postgresql+{driver}://{pg}/postgres?application_name=migrator&options={options}"
    row = await _query(
        url,
        "SELECT application_name, current_setting('search_path'), current_setting('work_mem'), "
        "current_setting('lock_timeout') FROM pg_stat_activity WHERE pid = pg_backend_pid()",
    )
    assert row == ("migrator", "foo,public", "5MB", "1234ms")


@pytest.mark.postgres
@pytest.mark.parametrize("driver", PG_DRIVERS)
async def test_fallback_application_name_and_dbname(pg: str, driver: str) -> None:
    url = f"postgresql+{driver}://{pg}/?dbname=template1&fallback_application_name=fb"
    row = await _query(url, "SELECT current_setting('application_name'), current_database()")
    assert row == ("fb", "template1")


@pytest.mark.postgres
@pytest.mark.parametrize("driver", PG_DRIVERS)
@pytest.mark.parametrize("mode", ["disable", "allow", "prefer"])
async def test_sslmodes_that_connect_without_ssl(pg: str, driver: str, mode: str) -> None:
    url = f"postgresql+{driver}://{pg}/postgres?sslmode={mode}"
    row = await _query(url, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    assert row == (False,)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("driver", "spelling"),
    [
        *[(d, s) for d in PG_DRIVERS for s in ("sslmode=require", "sslmode=verify-ca")],
        ("asyncpg", "ssl=require"),  # asyncpg's own spelling
    ],
)
async def test_ssl_required_fails_once_with_an_ssl_line(
    pg: str, driver: str, spelling: str, tmp_path: Path
) -> None:
    # verify-ca needs a root certificate; the server never gets that far.
    ca = _self_signed(tmp_path, "ca")[0] if "verify" in spelling else None
    url = f"postgresql+{driver}://{pg}/postgres?{spelling}" + (f"&sslrootcert={ca}" if ca else "")
    exc = await _failure(url)
    assert classify(exc) == (False, NO_SSL)


@pytest.mark.postgres
async def test_the_ssl_refusal_is_not_waited_for(pg: str) -> None:
    exc = await _failure(f"postgresql+asyncpg://{pg}/postgres?sslmode=require")
    calls: list[float] = []

    def connect() -> None:
        calls.append(time.monotonic())
        raise exc

    with pytest.raises(DatabaseUnreachable) as caught:
        connect_with_retry(connect, timeout=30, target="db", on_wait=print)
    assert str(caught.value) == f"cannot connect to db: {NO_SSL}"
    assert len(calls) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("driver", PG_DRIVERS)
async def test_target_session_attrs(pg: str, driver: str) -> None:
    url = f"postgresql+{driver}://{pg}/postgres?target_session_attrs=read-write"
    assert await _query(url, "SELECT 1") == (1,)
    exc = await _failure(url.replace("read-write", "standby"))
    assert "standby" in str(exc) or "hot standby" in str(exc)


@pytest.mark.postgres
async def test_asyncpg_takes_its_libpq_keywords(pg: str) -> None:
    url = (
        f"postgresql+asyncpg://{pg}/postgres?krbsrvname=postgres&gsslib=gssapi&sslsni=1"
        "&client_encoding=UTF8&channel_binding=prefer&gssencmode=prefer&keepalives=0"
        "&statement_cache_size=0&prepared_statement_cache_size=0&command_timeout=5"
    )
    assert await _query(url, "SELECT 1") == (1,)


@pytest.mark.postgres
async def test_a_missing_certificate_file_is_a_config_error(pg: str, tmp_path: Path) -> None:
    missing = tmp_path / "no.pem"
    exc = await _failure(
        f"postgresql+asyncpg://{pg}/postgres?sslmode=require&sslrootcert={missing}"
    )
    assert isinstance(exc, ConfigError)
    assert str(exc) == f"URL parameter sslrootcert={missing}: no such file"
    # libpq (and asyncpg) read the root certificate only from sslmode=require on
    for mode in ("disable", "prefer"):
        url = f"postgresql+asyncpg://{pg}/postgres?sslmode={mode}&sslrootcert={missing}"
        assert await _query(url, "SELECT 1") == (1,)


@pytest.mark.postgres
async def test_verify_full_without_a_root_certificate_is_not_retried(
    pg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.postgresql/root.crt
    exc = await _failure(f"postgresql+asyncpg://{pg}/postgres?sslmode=verify-full")
    expected = f'root certificate file "{tmp_path}/.postgresql/root.crt" does not exist'
    assert classify(exc) == (False, f"{expected} or cannot be accessed")


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


async def test_connect_timeout_bounds_asyncpg(black_hole: int) -> None:
    waited = 2.0  # libpq's floor: 1 means 2
    url = f"postgresql+asyncpg://u@127.0.0.1:{black_hole}/d?sslmode=disable&connect_timeout=1"
    started = time.monotonic()
    exc = await _failure(url)
    elapsed = time.monotonic() - started
    assert isinstance(exc, TimeoutError)
    assert waited - 0.1 < elapsed < waited + 1.5


# -- a TLS-speaking stand-in for PostgreSQL: proves the SSL request and the verification ---------
def _self_signed(where: Path, name: str) -> tuple[Path, Path]:
    cert, key = where / f"{name}.crt", where / f"{name}.key"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make a test certificate: {exc}")
    return cert, key


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    """Answers PostgreSQL's SSLRequest with 'S' and completes TLS; records each handshake."""
    cert, key = _self_signed(tmp_path, "server")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    seen: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                request = conn.recv(8)
                if request[4:] != (80877103).to_bytes(4, "big"):
                    seen.append("plain")
                    continue
                conn.sendall(b"S")
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        seen.append("tls")
                        tls.recv(1024)  # the startup message, then hang up
                except (ssl.SSLError, OSError):
                    seen.append("handshake failed")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], cert, seen
    stop.set()
    thread.join(5)
    listener.close()


async def test_asyncpg_negotiates_ssl_as_libpq_does(
    tls_server: tuple[int, Path, list[str]],
) -> None:
    port, cert, seen = tls_server
    base = f"postgresql+asyncpg://u@localhost:{port}/d?connect_timeout=5"
    await _failure(f"{base}&sslmode=require")
    await _failure(f"{base}&sslmode=verify-full&sslrootcert={cert}")
    await _failure(f"{base}&sslmode=disable")
    assert seen == ["tls", "tls", "plain"]


async def test_a_certificate_the_url_does_not_trust_is_not_retried(
    tls_server: tuple[int, Path, list[str]], tmp_path: Path
) -> None:
    port, _, seen = tls_server
    other_ca, _ = _self_signed(tmp_path, "other")
    url = f"postgresql+asyncpg://u@localhost:{port}/d?sslmode=verify-full&sslrootcert={other_ca}"
    exc = await _failure(url)
    retryable, reason = classify(exc)
    assert not retryable
    assert reason.startswith("the server's SSL certificate was not accepted: ")
    assert "certificate verify failed" in reason
    for _ in range(50):  # the server thread notes the failed handshake after the client
        if seen:
            break
        await asyncio.sleep(0.05)
    assert seen == ["handshake failed"]


# -- MariaDB --------------------------------------------------------------------------------------
@pytest.mark.mariadb
async def test_mysql_charset_init_command_and_timeout(mariadb: str) -> None:
    url = (
        f"mysql+asyncmy://{mariadb}/?charset=latin1&init_command=SET%20%40marker%3D7"
        "&connect_timeout=3&read_timeout=30&program_name=asyncmig&ssl_mode=DISABLED"
    )
    assert await _query(url, "SELECT @@character_set_client, @marker") == ("latin1", 7)


@pytest.mark.mariadb
@pytest.mark.parametrize(
    "spelling",
    ["ssl_mode=REQUIRED", "ssl-mode=VERIFY_IDENTITY", "ssl=true", "sslaccept=accept_invalid_certs"],
)
async def test_mysql_ssl_required_fails_once_with_an_ssl_line(mariadb: str, spelling: str) -> None:
    exc = await _failure(f"mysql+asyncmy://{mariadb}/?{spelling}")
    assert classify(exc) == (False, NO_SSL_MYSQL)


@pytest.mark.mariadb
async def test_mysql_missing_ssl_files_are_config_errors(mariadb: str, tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    exc = await _failure(f"mysql+asyncmy://{mariadb}/?ssl_ca={missing}")
    assert isinstance(exc, ConfigError)
    assert str(exc) == f"URL parameter ssl_ca={missing}: no such file"
    exc = await _failure(f"mysql+asyncmy://{mariadb}/?ssl_mode=REQUIRED&ssl_cipher=NO-SUCH")
    assert str(exc) == "URL parameter ssl_cipher=NO-SUCH: no such cipher"
    cert, _ = _self_signed(tmp_path, "client")
    exc = await _failure(
        f"mysql+asyncmy://{mariadb}/?ssl_mode=REQUIRED&ssl_cert={cert}&ssl_key={cert}"
    )
    assert str(exc) == (
        f"URL parameter ssl_cert={cert}: cannot load it with its ssl_key "
        "(a wrong key file or ssl_key_password?)"
    )


@pytest.mark.mariadb
async def test_mysql_ssl_ca_asks_for_ssl(mariadb: str, tmp_path: Path) -> None:
    ca, _ = _self_signed(tmp_path, "ca")
    exc = await _failure(f"mysql+asyncmy://{mariadb}/?ssl_ca={ca}&ssl_check_hostname=false")
    assert classify(exc) == (False, NO_SSL_MYSQL)


# -- SQLite ---------------------------------------------------------------------------------------
async def test_sqlite_keys_reach_sqlite3(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    assert await _query(f"sqlite+aiosqlite:///{path}?timeout=1", "SELECT 1") == (1,)
    exc = await _failure(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true", "CREATE TABLE t (x)")
    assert "attempt to write a readonly database" in str(exc)
