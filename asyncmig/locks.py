"""The migration lock that keeps concurrent runs (replicas, CI jobs) from racing.

One algorithm for every backend: try the lock, and poll until ``timeout``.
PostgreSQL uses a session advisory lock, MySQL/MariaDB ``GET_LOCK``; both die
with the session, so a killed run leaves nothing behind. SQLite takes an
``flock`` on a file beside the database (never on the database itself: closing
any descriptor of that file would drop SQLite's own POSIX locks).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable
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


def _pg_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _mysql_name(name: str) -> str:
    # GET_LOCK names are limited to 64 characters.
    return "asyncmig:" + hashlib.sha1(name.encode()).hexdigest()


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
    fd: int | None = None

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None
        conn = self.connection
        if conn is None or self.unlock_sql is None:
            return
        self.connection = None
        if conn.closed or conn.invalidated:
            return  # the server dropped the lock with the session
        _scalar(conn, self.unlock_sql, self.params)


def _poll(try_once: Callable[[], bool], timeout: float, on_wait: Callable[[str], None]) -> None:
    if try_once():
        return
    on_wait("waiting for the migration lock: another run is migrating this database")
    deadline = time.monotonic() + timeout
    delay = _FIRST_POLL
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LockTimeout(
                f"migration lock not acquired within {timeout:g} s: "
                "another run is migrating this database (raise --lock-timeout to wait longer)"
            )
        sleep(min(delay, remaining))
        delay = min(delay * 2, _MAX_POLL)
        if try_once():
            return


def acquire(
    connection: Connection, name: str, timeout: float, on_wait: Callable[[str], None]
) -> HeldLock | None:
    """Take the migration lock on ``connection``; None on a backend without one."""
    backend = connection.dialect.name
    if backend == "postgresql":
        params: dict[str, Any] = {"key": _pg_key(name)}
        _poll(
            lambda: bool(_scalar(connection, "SELECT pg_try_advisory_lock(:key)", params)),
            timeout,
            on_wait,
        )
        return HeldLock(connection, "SELECT pg_advisory_unlock(:key)", params)
    if backend in ("mysql", "mariadb"):
        params = {"name": _mysql_name(name)}
        _poll(
            lambda: _scalar(connection, "SELECT GET_LOCK(:name, 0)", params) == 1,
            timeout,
            on_wait,
        )
        return HeldLock(connection, "SELECT RELEASE_LOCK(:name)", params)
    if backend == "sqlite":
        return _acquire_file_lock(connection.engine.url.database, timeout, on_wait)
    return None


def _acquire_file_lock(
    database: str | None, timeout: float, on_wait: Callable[[str], None]
) -> HeldLock | None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return None  # in-memory databases have no other writers
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    path = Path(database).with_name(Path(database).name + "-asyncmig.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def try_once() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    try:
        _poll(try_once, timeout, on_wait)
    except BaseException:
        os.close(fd)
        raise
    return HeldLock(None, None, {}, fd=fd)
