"""Database sessions a test owns (another replica, an admin's psql), on their own loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from asyncmig import locks

T = TypeVar("T")

#: The advisory lock key asyncmig takes for the default version table.
PG_KEY = locks.advisory_key(locks.lock_name("alembic_version", None))


class Session:
    """A database session owned by the test (another replica, an admin's psql)."""

    def __init__(self, connect: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn = self.run(connect())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        try:
            # asyncmy's close() only schedules it; ensure_closed() says goodbye to the server.
            closing = getattr(self.conn, "ensure_closed", None) or self.conn.close
            self.run(closing())
        finally:
            self.loop.close()


@contextmanager
def pg_session(url: str) -> Iterator[Session]:
    import asyncpg

    dsn = url.replace("+asyncpg", "", 1)
    session = Session(lambda: asyncpg.connect(dsn))
    try:
        yield session
    finally:
        session.close()
