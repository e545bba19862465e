"""What asyncmig sets on its own connections so that no wait is unbounded.

* Connect arguments (:func:`connect_defaults`): no prepared-statement cache, so a
  transaction-mode pooler (PgBouncer, Supabase, Neon) never sees two clients'
  statement names clash; measured free on a direct connection (asyncpg even makes
  fewer round trips). psycopg also gets libpq's TCP keepalives and user timeout.
* Each connect try bounded by :func:`bounded_connect`: the drivers' own bounds are
  60 s (asyncpg), 130 s (psycopg) and none at all for asyncmy's handshake.
* TCP keepalives and ``TCP_USER_TIMEOUT`` on asyncpg's and asyncmy's sockets
  (:func:`guard_socket`): a dead peer is found in about 25 s, a busy server's
  kernel still ACKs, so long statements are never cut.
* Server settings on the migration session (:func:`server_settings`), so that the
  server ends a session whose client vanished, and its lock with it.

Every value here is a default: what the URL or ``connect_args`` set wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from . import bridge, pooler
from .errors import ConfigError
from .identifiers import quote_ident
from .tracks import host_port
from .watchdog import Watchdog

#: Keepalive idle / interval (s), probe count, and TCP_USER_TIMEOUT (ms): about 25 s.
KEEPALIVE = (10, 5, 3)
USER_TIMEOUT_MS = 25_000
#: PostgreSQL >= 14 checks whether the client is still there while a statement runs.
CHECK_INTERVAL_MS = 5_000
#: The shortest bound of one connect try: ``--wait-timeout 0`` still means one real try.
CONNECT_FLOOR = 2.0


def connect_defaults(dialect_name: str, driver: str, cparams: dict[str, Any]) -> None:
    """Add asyncmig's connect arguments to ``cparams`` unless they are set already."""
    if dialect_name != "postgresql":
        return
    if driver == "asyncpg":
        cparams.setdefault("statement_cache_size", 0)
    elif driver in ("psycopg", "psycopg_async"):
        cparams.setdefault("prepare_threshold", None)
        idle, interval, count = KEEPALIVE
        for key, value in (
            ("keepalives", 1),
            ("keepalives_idle", idle),
            ("keepalives_interval", interval),
            ("keepalives_count", count),
            ("tcp_user_timeout", USER_TIMEOUT_MS),
        ):
            cparams.setdefault(key, value)


def bounded_connect(
    connect: Callable[[], Any],
    bound: float,
    await_: Callable[[Any], Any],
    spawn: Callable[..., Any],
    exempt: Callable[[], contextlib.AbstractContextManager[None]],
) -> Any:
    """``connect()`` given at most ``bound`` seconds, from sync code inside a greenlet.

    The connect runs in a greenlet of its own (``spawn``: SQLAlchemy's
    ``greenlet_spawn``) under ``asyncio.wait_for``, so the TCP connect *and* the
    protocol handshake are bounded for every async driver; the timeout cancels the
    driver's connect coroutine, which closes its socket.
    """

    def exempted() -> Any:
        with exempt():  # its own bound, not the statement watchdog's
            return connect()

    async def attempt() -> Any:
        try:
            return await asyncio.wait_for(spawn(exempted), bound)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no answer within {round(bound, 1):g} s") from None

    with exempt():
        return await_(attempt())


def guard_socket(dbapi_connection: Any) -> None:
    """TCP keepalives and ``TCP_USER_TIMEOUT`` on an asyncpg or asyncmy connection.

    asyncpg leaves keepalives off and asyncmy uses the OS timings (2 hours), so a
    partition would go unnoticed: a statement running keeps waiting (keepalives find
    it), a statement sent into the dead link retransmits for ~15 min
    (``TCP_USER_TIMEOUT`` finds it). Both reach the socket only through the driver's
    private ``_transport``; without it nothing is set.
    """
    transport = getattr(getattr(dbapi_connection, "driver_connection", None), "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    idle, interval, count = KEEPALIVE
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (
        ("TCP_KEEPIDLE", idle),
        ("TCP_KEEPINTVL", interval),
        ("TCP_KEEPCNT", count),
        ("TCP_USER_TIMEOUT", USER_TIMEOUT_MS),
    ):
        if hasattr(socket, name):  # Linux has them all; macOS and Windows some
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    for level, option, value in options:
        with contextlib.suppress(OSError):
            sock.setsockopt(level, option, value)


def _ms(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))


def pg_settings(
    connection: Connection,
    statement_timeout: float | None,
    lock_timeout: float | None,
    *,
    own: bool,
    local: bool,
) -> dict[str, str]:
    """The PostgreSQL settings of a migration session, by name.

    ``own``: the connection is asyncmig's (not the API caller's), so settings that
    outlive the run on it are fine. ``local``: through a transaction-mode pooler,
    where only what ends with the transaction is safe (and the server's peer is the
    pooler, so TCP settings would tune the wrong socket).
    """
    settings = {}
    if statement_timeout is not None:
        settings["statement_timeout"] = str(round(statement_timeout * 1000))
    if lock_timeout is not None:
        settings["lock_timeout"] = str(round(lock_timeout * 1000))
    if not own:
        return settings
    recent = (connection.dialect.server_version_info or (0,)) >= (14,)
    if statement_timeout:
        # A transaction (or, PG >= 14, a session) idle for longer than any statement
        # may run: its client is gone; end it, and the migration lock with it.
        settings["idle_in_transaction_session_timeout"] = _ms(statement_timeout)
        if recent and not local:
            settings["idle_session_timeout"] = _ms(statement_timeout)
    if local:
        return settings
    idle, interval, count = KEEPALIVE
    settings.update(
        tcp_keepalives_idle=str(idle),
        tcp_keepalives_interval=str(interval),
        tcp_keepalives_count=str(count),
        tcp_user_timeout=str(USER_TIMEOUT_MS),
    )
    if recent:
        settings["client_connection_check_interval"] = str(CHECK_INTERVAL_MS)
    return settings


def apply_pg_settings(connection: Connection, settings: dict[str, str], *, local: bool) -> None:
    """All of ``settings`` in one round trip (``set_config``; ``local``: until the
    transaction ends, as ``SET LOCAL``)."""
    if not settings:
        return
    calls = ", ".join(
        f"set_config(:n{i}, :v{i}, {'true' if local else 'false'})" for i in range(len(settings))
    )
    params: dict[str, Any] = {}
    for i, (name, value) in enumerate(settings.items()):
        params[f"n{i}"], params[f"v{i}"] = name, value
    connection.execute(text(f"SELECT {calls}"), params)


def enter_schema(connection: Connection, schema: str, *, create: bool) -> None:
    """Make ``schema`` the session's ``search_path`` (a fleet's schema target), creating
    it first when the command writes; the dialect's default schema follows, as in
    Alembic's cookbook recipe, so autogenerate compares within the tenant's schema."""
    if create:
        create_schema(connection, schema)
    connection.execute(
        text("SELECT set_config('search_path', :path, false)"), {"path": quote_ident(schema)}
    )
    connection.dialect.default_schema_name = schema


def create_schema(connection: Connection, schema: str) -> None:
    """``CREATE SCHEMA IF NOT EXISTS`` in a savepoint: two sessions creating the same
    schema at once (two pods of one fleet) can make one fail on ``pg_namespace``'s unique
    index; that one finds the schema made, and its transaction goes on."""
    from sqlalchemy.exc import IntegrityError

    try:
        with connection.begin_nested():
            connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}"))
    except IntegrityError:
        pass


def mysql_settings(
    connection: Connection, statement_timeout: float | None, *, own: bool
) -> dict[str, str]:
    """MariaDB/MySQL session settings for ``--statement-timeout``.

    The server then interrupts a statement running longer (MariaDB's
    ``max_statement_time`` covers every statement; MySQL's ``max_execution_time``
    only SELECTs) and, on asyncmig's own connections (``own``), ends a session idle
    for longer (``wait_timeout``: otherwise a vanished client's session keeps
    ``GET_LOCK`` and its transaction for 8 hours).
    """
    if not statement_timeout:
        return {}
    settings = {"wait_timeout": str(max(1, math.ceil(statement_timeout)))} if own else {}
    if getattr(connection.dialect, "is_mariadb", False):
        settings["max_statement_time"] = f"{statement_timeout:g}"
    else:
        settings["max_execution_time"] = _ms(statement_timeout)
    return settings


def apply_mysql_settings(connection: Connection, settings: dict[str, str]) -> None:
    if settings:
        assignments = ", ".join(f"SESSION {name} = {value}" for name, value in settings.items())
        connection.execute(text(f"SET {assignments}"))


@contextlib.contextmanager
def own_transaction(connection: Connection) -> Iterator[None]:
    """Commit what the block autobegan; leave a transaction the caller had open alone."""
    began = not connection.in_transaction()
    yield
    if began and connection.in_transaction():
        connection.commit()


def prepare(
    connection: Connection,
    *,
    statement_timeout: float | None,
    pg_lock_timeout: float | None,
    schema: str | None,
    create_schema: bool,
    own: bool,
    notice: Callable[[str], None],
) -> str | None:
    """A migration connection's session, before the lock: the schema target and the server
    timeouts. Returns the pooler mode found (:mod:`asyncmig.pooler`); through a
    transaction-mode pooler nothing is set here (a session setting would leak to other
    clients: the run sets them inside the migration transaction)."""
    backend = connection.dialect.name
    pooled = None
    if backend == "postgresql":
        pooled = pooler.detect(connection)
        if pooled == pooler.TRANSACTION:
            if not own:
                pooler.check_statement_cache(connection, host_port(connection))
            notice(pooler.notice(host_port(connection)))
            return pooled
        settings = pg_settings(connection, statement_timeout, pg_lock_timeout, own=own, local=False)
        with own_transaction(connection):
            if schema is not None:
                enter_schema(connection, schema, create=create_schema)
            apply_pg_settings(connection, settings, local=False)
    elif schema is not None:
        raise ConfigError(
            f"schema targets need PostgreSQL ({backend} has no schemas within a database): "
            "give each tenant database its own URL"
        )
    elif backend in ("mysql", "mariadb"):
        with own_transaction(connection):
            settings = mysql_settings(connection, statement_timeout, own=own)
            apply_mysql_settings(connection, settings)
    return pooled


def connect_once(
    dialect: Any, cargs: Any, cparams: dict[str, Any], bound: float, watchdog: Watchdog | None
) -> Any:
    """One connect try, bounded by ``bound`` seconds where the driver lets us."""
    exempt = watchdog.exempt if watchdog is not None else contextlib.nullcontext
    if dialect.is_async and dialect.name != "sqlite" and bridge.in_greenlet():
        return bounded_connect(
            lambda: dialect.connect(*cargs, **cparams), bound, bridge.await_, bridge.spawn, exempt
        )
    params = dict(cparams)
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        # The sync psycopg dialect (a plain create_engine in env.py) blocks the loop,
        # so only libpq's own bound applies: whole seconds, at least 2.
        params.setdefault("connect_timeout", max(2, math.ceil(bound)))
    with exempt():
        return dialect.connect(*cargs, **params)
