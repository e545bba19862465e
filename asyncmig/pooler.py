"""Connection poolers in front of PostgreSQL: recognise them, and say what that changes.

A transaction-mode pooler (PgBouncer ``pool_mode = transaction``, Supabase's pooler
port 6543, Neon's ``-pooler`` hosts) hands each *transaction* to whichever server
connection is free. What lives in a session then leaks or vanishes between
transactions: a session advisory lock is not exclusive (two clients can both hold
it on one server connection, and it is orphaned there), and ``SET`` leaks to the
next client. asyncmig therefore detects such a pooler on its migration connection
(:func:`detect`) and, when there is one, locks and configures inside the migration
transaction instead (:mod:`asyncmig.deploy`).

Detection, measured against PgBouncer 1.18: the backend pid a server announces at
connect time (BackendKeyData) equals ``pg_backend_pid()`` on a direct connection
and through a plain TCP forwarder, and differs through PgBouncer in both modes.
Only then the two-client test tells the modes apart: client A reads its backend
pid, a second client B reads its own, A reads again; a transaction pooler either
gives B A's server connection or gives A another one (0 false positives by
construction, 500 of 500 true ones). Host hints (:func:`url_hint`) are for
messages only.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .errors import ConfigError

TRANSACTION = "transaction"
SESSION = "session"

#: Rounds of the two-client test. A session-mode pooler answers every round the same way;
#: a transaction-mode pooler busy with other clients (replicas migrating at once) can look
#: like one for a round or two by chance, so one verdict of "session" needs them all. Only
#: a connection whose server pid differs from the announced one (a pooler) pays for them.
_ROUNDS = 12

_ADVICE = "use the database's direct or session-mode URL for migrations"


def url_hint(host: str | None, port: int | None) -> str | None:
    """Why a URL looks like a pooler (hosted providers' conventions), or None."""
    name = (host or "").lower()
    if name.endswith("pooler.supabase.com"):
        if port == 6543:
            return "Supabase's pooler in transaction mode (port 6543)"
        return "Supabase's pooler (session mode on port 5432, transaction mode on 6543)"
    if port == 6543:
        return "port 6543 (Supabase's transaction-mode pooler port)"
    if re.search(r"-pooler\.", name):
        return "a Neon '-pooler' host (PgBouncer in transaction mode)"
    if "pgbouncer" in name or port == 6432:
        return f"{'a pgbouncer host' if 'pgbouncer' in name else 'port 6432'} (PgBouncer's usual)"
    return None


def _announced_pid(connection: Connection) -> int | None:
    """The backend pid the server announced when this connection was made."""
    driver = connection.connection.driver_connection
    get_pid = getattr(driver, "get_server_pid", None)  # asyncpg
    if callable(get_pid):
        return int(get_pid())
    info = getattr(driver, "info", None)  # psycopg
    pid = getattr(info, "backend_pid", None)
    return int(pid) if pid is not None else None


def _pid(connection: Connection) -> int:
    """``pg_backend_pid()`` in a transaction of its own (a pooler may move us between)."""
    value = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    connection.commit()
    return int(value or 0)


def detect(connection: Connection) -> str | None:
    """:data:`TRANSACTION`, :data:`SESSION` (a pooler that keeps sessions), or None (direct).

    ``connection`` must not be inside a transaction, or a second client is used in
    its place for the test (a client inside a transaction pins its server connection,
    which would look like session pooling).
    """
    announced = _announced_pid(connection)
    if announced is None:
        return None  # a driver that does not say: nothing to compare
    if connection.in_transaction():
        actual = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        if actual == announced:
            return None
        with connection.engine.connect() as first:
            return _two_clients(first)
    if _pid(connection) == announced:
        return None
    return _two_clients(connection)


def _two_clients(a: Connection) -> str:
    with a.engine.connect() as b:
        for _ in range(_ROUNDS):
            x, y, z = _pid(a), _pid(b), _pid(a)
            if x == y or x != z:
                return TRANSACTION
    return SESSION


def check_statement_cache(connection: Connection, where: str) -> None:
    """Refuse the API caller's asyncpg connection while asyncpg's statement cache is on
    (asyncmig's own connections have it off): through a transaction-mode pooler the
    statement names of different clients clash."""
    driver = connection.connection.driver_connection
    cache = getattr(driver, "_stmt_cache", None)
    if cache is not None and cache.get_max_size() > 0:
        raise ConfigError(
            "the connection passed to asyncmig goes through a transaction-mode connection "
            f"pooler ({where}) with asyncpg's statement cache on: create its engine with "
            "connect_args={'statement_cache_size': 0}"
        )


def refusal(what: str, where: str) -> str:
    """The one line refusing ``what`` (``"autocommit_block() cannot run"``) through the
    transaction-mode pooler at ``where``."""
    return f"{what} through a transaction-mode connection pooler ({where}): {_ADVICE}"


def notice(where: str) -> str:
    """What asyncmig does about a transaction-mode pooler, said once per connection."""
    return (
        f"{where} is a transaction-mode connection pooler: the migration lock and timeouts "
        "are taken inside each migration transaction (the direct URL is preferred)"
    )


def describe(url: Any) -> dict[str, str] | None:
    """show-config's view of a PostgreSQL URL that looks like a pooler (None otherwise):
    why it looks like one, and what asyncmig does about it."""
    if url.get_backend_name() != "postgresql":
        return None
    hint = url_hint(url.host, url.port)
    if hint is None:
        return None
    return {
        "hint": hint,
        "handling": (
            "asyncmig checks on connecting; through a transaction-mode pooler it takes the "
            "migration lock and timeouts inside each migration transaction and refuses "
            "transaction_per_migration and autocommit_block(); prepared statements are "
            f"never cached. Better: {_ADVICE}"
        ),
    }
