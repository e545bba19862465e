"""The migration lock that keeps concurrent runs (replicas, CI jobs) from racing.

One algorithm for every backend: try the lock, and poll until ``timeout``.
PostgreSQL uses a session advisory lock, MySQL/MariaDB ``GET_LOCK``; both die
with the session, so a killed run leaves nothing behind. Through a transaction-mode
pooler, where a session lock is not exclusive, PostgreSQL's lock is taken by the
migration transaction itself (:func:`acquire_xact`) and ends with it. SQLite takes a file
lock (``filelock``: ``flock``, or ``LockFileEx`` on Windows) on a file beside the
database's real file, so every path to one database shares one lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .errors import LockTimeout

_FIRST_POLL = 0.05
_MAX_POLL = 0.5


def lock_name(version_table: str, schema: str | None) -> str:
    """Runs that share a version table share a lock; other projects in the database do not."""
    return f"asyncmig:{schema or ''}.{version_table}"


def advisory_key(name: str) -> int:
    """The PostgreSQL advisory lock key of a lock name (a signed 64-bit integer)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def mysql_lock_name(name: str, database: str | None) -> str:
    """The ``GET_LOCK`` name of a lock name.

    GET_LOCK names are server-wide (PostgreSQL's advisory locks are per database), so
    the database is part of the name; and they are limited to 64 characters.
    """
    return "asyncmig:" + hashlib.sha1(f"{database or ''}/{name}".encode()).hexdigest()


def sleep(seconds: float) -> None:
    """Sleep without blocking the event loop when running under ``run_sync``."""
    import greenlet

    if getattr(greenlet.getcurrent(), "__sqlalchemy_greenlet_provider__", False):
        from sqlalchemy.util import await_only

        await_only(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


def _scalar(connection: Connection, sql: str, params: dict[str, Any]) -> Any:
    """Run one statement; commit only a transaction this call began (session locks survive it)."""
    began = not connection.in_transaction()
    value = connection.execute(text(sql), params).scalar()
    if began and connection.in_transaction():
        connection.commit()
    return value


@dataclass
class HeldLock:
    """A lock this run holds; ``release`` is safe to call on a closed connection."""

    connection: Connection | None
    unlock_sql: str | None
    params: dict[str, Any]
    file_lock: Any = None
    #: MySQL/MariaDB: the server's id of the session holding the lock (see :meth:`release`).
    session_id: int | None = None

    def release(self, *, failed: bool = False) -> None:
        """Release the lock. After a failed run whose connection is gone, a MySQL/MariaDB
        session may live on (a ``SLEEP()`` or a long statement runs to its end before the
        server notices the client left), holding ``GET_LOCK``: it is killed from a new
        connection, so the next run is not blocked by a run that has already exited."""
        if self.file_lock is not None:
            self.file_lock.release()
            self.file_lock = None
        conn = self.connection
        if conn is None or self.unlock_sql is None:
            return
        self.connection = None
        if not (conn.closed or conn.invalidated):
            _scalar(conn, self.unlock_sql, self.params)
        elif failed and self.session_id is not None:
            # Already gone: nothing to kill.
            with conn.engine.connect() as fresh, contextlib.suppress(Exception):
                fresh.exec_driver_sql(f"KILL {int(self.session_id)}")


def _poll(
    try_once: Callable[[], bool],
    timeout: float,
    on_wait: Callable[[str], None],
    holder: Callable[[], str | None] = lambda: None,
) -> None:
    if try_once():
        return
    on_wait("waiting for the migration lock: another run is migrating this database")
    deadline = time.monotonic() + timeout
    delay = _FIRST_POLL
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            try:
                who = holder()
            except Exception:  # who holds it is a courtesy: never the reason to fail
                who = None
            raise LockTimeout(
                f"migration lock not acquired within {timeout:g} s: "
                f"{who or 'another run is migrating this database'} "
                "(raise --lock-timeout to wait longer)"
            )
        sleep(min(delay, remaining))
        delay = min(delay * 2, _MAX_POLL)
        if try_once():
            return


#: The session holding a PostgreSQL advisory lock (a bigint key is split into two oids);
#: advisory locks are per database, and other databases may use the same key.
_PG_HOLDER = """
SELECT a.pid, a.application_name, host(a.client_addr), a.state,
       to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid::bigint = :hi AND l.objid::bigint = :lo
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
_MYSQL_HOLDER = """
SELECT ID, USER, HOST, COMMAND, TIME FROM information_schema.PROCESSLIST
WHERE ID = IS_USED_LOCK(:name)
"""


def _pg_holder(connection: Connection, key: int) -> str | None:
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = _row(connection, _PG_HOLDER, {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF})
    if row is None:
        return None
    pid, application, client, state, since = row
    parts = [f"application_name {application!r}" if application else "no application_name"]
    parts.append(f"client {client}" if client else "local socket")
    parts.append(f"connected since {since} UTC, {state}")
    return f"held by PostgreSQL backend pid {pid} ({', '.join(parts)})"


def _mysql_holder(connection: Connection, name: str) -> str | None:
    row = _row(connection, _MYSQL_HOLDER, {"name": name})
    if row is None:
        return None
    ident, user, host, command, seconds = row
    return (
        f"held by connection {ident} (user {user!r} from {host}, {command}, "
        f"for {seconds} s in that state)"
    )


def _row(connection: Connection, sql: str, params: dict[str, Any]) -> Any:
    began = not connection.in_transaction()
    row = connection.execute(text(sql), params).first()
    if began and connection.in_transaction():
        connection.commit()
    return row


def acquire(
    connection: Connection, name: str, timeout: float, on_wait: Callable[[str], None]
) -> HeldLock | None:
    """Take the migration lock on ``connection``; None on a backend without one.

    On a timeout, the error names the session holding the lock where the server says.
    """
    backend = connection.dialect.name
    if backend == "postgresql":
        key = advisory_key(name)
        params: dict[str, Any] = {"key": key}
        _poll(
            lambda: bool(_scalar(connection, "SELECT pg_try_advisory_lock(:key)", params)),
            timeout,
            on_wait,
            lambda: _pg_holder(connection, key),
        )
        return HeldLock(connection, "SELECT pg_advisory_unlock(:key)", params)
    if backend in ("mysql", "mariadb"):
        params = {"name": mysql_lock_name(name, connection.engine.url.database)}
        _poll(
            lambda: _scalar(connection, "SELECT GET_LOCK(:name, 0)", params) == 1,
            timeout,
            on_wait,
            lambda: _mysql_holder(connection, params["name"]),
        )
        session = _scalar(connection, "SELECT CONNECTION_ID()", {})
        return HeldLock(connection, "SELECT RELEASE_LOCK(:name)", params, session_id=session)
    if backend == "sqlite":
        url = connection.engine.url
        return _acquire_file_lock(sqlite_file(url.database, url.query), timeout, on_wait)
    return None


def acquire_xact(
    connection: Connection, name: str, timeout: float, on_wait: Callable[[str], None]
) -> None:
    """Take the PostgreSQL migration lock for the transaction open on ``connection``.

    Nothing to release: the server drops it at commit or rollback. The same key as
    :func:`acquire`, so runs through a pooler and direct runs exclude each other.
    """
    key = advisory_key(name)
    params = {"key": key}
    sql = text("SELECT pg_try_advisory_xact_lock(:key)")
    _poll(
        lambda: bool(connection.execute(sql, params).scalar()),
        timeout,
        on_wait,
        lambda: _pg_holder(connection, key),
    )


def sqlite_file(database: str | None, query: Mapping[str, Any] | None = None) -> Path | None:
    """The real file of a SQLite database: symlinks resolved, URI filenames understood.

    Runs reaching one file by two paths (a symlink, ``file:...?uri=true``) must share
    one lock; None for in-memory databases, which have no other writers.
    """
    if not database or database == ":memory:":
        return None
    uri = str((query or {}).get("uri", "")).lower() in ("1", "true", "yes", "on")
    if uri or database.startswith("file:"):
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(database)
        mode = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p).get("mode")
        path = unquote(parts.path if parts.scheme == "file" else database)
        if not path or path == ":memory:" or mode == "memory":
            return None
        database = path
    return Path(os.path.realpath(database))


def _acquire_file_lock(
    database: Path | None, timeout: float, on_wait: Callable[[str], None]
) -> HeldLock | None:
    if database is None:
        return None
    from filelock import FileLock, Timeout

    # Never on the database itself: releasing any descriptor of that file would drop
    # SQLite's own POSIX locks. filelock uses flock here and LockFileEx on Windows.
    lock = FileLock(str(database) + "-asyncmig.lock", is_singleton=False)

    def try_once() -> bool:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return False
        return True

    _poll(try_once, timeout, on_wait)
    return HeldLock(None, None, {}, file_lock=lock)
