"""What a run knows about each database it works on (one :class:`Track` per connection
env.py configures), and how it reads a version table back on the raw connection."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy.engine import Connection, Engine

from .results import Step


@dataclass
class Track:
    """One database a command works on (one per connection env.py configures)."""

    dialect: str
    connection: Connection | None = None
    version_table: str = "alembic_version"
    version_table_schema: str | None = None
    label: str | None = None
    #: The DBAPI connection beneath ``connection``: read back when it is checked in.
    raw: Any = None
    planned: list[Any] = field(default_factory=list)
    start_heads: tuple[str, ...] | None = None
    steps: list[Step] = field(default_factory=list)
    #: The heads after each step, as Alembic reports them.
    trail: list[tuple[str, ...]] = field(default_factory=list)
    #: The heads read back from the database after the command; None when not read.
    verified: tuple[str, ...] | None = None
    buffer: IO[str] | None = None
    #: ``"transaction"`` or ``"session"``: a PostgreSQL pooler is in the way (:mod:`.pooler`).
    pooled: str | None = None
    _buffer_mark: int = 0
    _tick: float = 0.0

    @property
    def offline(self) -> bool:
        return self.connection is None

    @property
    def failing_step(self) -> Any | None:
        """The Alembic step being applied when an error surfaced, if any."""
        index = len(self.steps)
        return self.planned[index] if index < len(self.planned) else None

    @property
    def heads(self) -> tuple[str, ...]:
        """Where the database is: read back when possible, else as Alembic reported it."""
        if self.verified is not None:
            return self.verified
        if self.trail:
            return self.trail[-1]
        return self.start_heads or ()

    def kept(self) -> tuple[Step, ...]:
        """The steps the database holds after the command (all of them unless rolled back)."""
        if self.verified is None or not self.trail or self.verified == self.trail[-1]:
            return tuple(self.steps)
        for index in range(len(self.trail) - 1, -1, -1):
            if self.trail[index] == self.verified:
                return tuple(self.steps[: index + 1])
        return ()


def dbapi_of(connection: Any) -> Any:
    if not isinstance(connection, Connection) or connection.closed:
        return None
    with contextlib.suppress(Exception):
        return connection.connection.dbapi_connection
    return None


def read_raw(track: Track, dbapi_connection: Any) -> tuple[str, ...] | None:
    """The version table's rows through the DBAPI connection; None if that fails."""
    assert track.connection is not None
    preparer = track.connection.dialect.identifier_preparer
    table = preparer.quote(track.version_table)
    if track.version_table_schema:
        table = f"{preparer.quote_schema(track.version_table_schema)}.{table}"
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"SELECT version_num FROM {table}")
            rows = cursor.fetchall()
        finally:
            cursor.close()
    except Exception:
        rows = None  # no table (its creation rolled back), or no longer readable
    with contextlib.suppress(Exception):
        dbapi_connection.rollback()
    return None if rows is None else tuple(sorted(str(row[0]) for row in rows))


def position(buffer: IO[str] | None) -> int:
    try:
        return buffer.tell() if buffer is not None else 0
    except (OSError, ValueError):
        return 0


def host_port(connection: Connection) -> str:
    """``host:port`` of a connection's URL, for messages (no secrets in it)."""
    url = connection.engine.url
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def describe_target(dialect: Any, cargs: Any, cparams: dict[str, Any]) -> str:
    name = dialect.name
    if name == "sqlite":
        return f"sqlite file {cargs[0] if cargs else cparams.get('database', '')}"
    host = cparams.get("host") or ""
    port = cparams.get("port")
    where = f"{host}:{port}" if port else str(host)
    database = cparams.get("database") or cparams.get("db") or cparams.get("dbname")
    return f"{name} server {where}" + (f" database {database}" if database else "")


def read_back(track: Track, external: Connection | None) -> tuple[str, ...] | None:
    """The heads ``track``'s version table holds now, read on a connection of our own (or
    on the caller's, ``external``), so a run env.py rolled back is never reported applied.
    None when a new connection cannot see the same database (SQLite in memory)."""
    from alembic.runtime.migration import MigrationContext

    opts = {
        "version_table": track.version_table,
        "version_table_schema": track.version_table_schema,
    }
    connection = track.connection
    assert connection is not None
    if connection is external and not connection.closed:
        return tuple(MigrationContext.configure(connection, opts=opts).get_current_heads())
    engine: Engine = connection.engine
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None  # a new connection would see another, empty database
    with engine.connect() as fresh:
        return tuple(MigrationContext.configure(fresh, opts=opts).get_current_heads())
