"""One command's run: the deploy behaviour the hooks apply, and what the run learns.

A :class:`Run` is made per command from a frozen :class:`RunConfig`. While it is
active (:func:`asyncmig.hooks.activate`) it

* connects with retries until ``wait_timeout`` (every engine env.py makes);
* prepares every connection env.py configures: PostgreSQL timeouts, then the
  migration lock, before the version table is read;
* records each applied step per database (a :class:`Track`; Alembic's ``multidb``
  template configures one connection per engine);
* after the command, re-reads each version table, so a run whose transaction
  env.py rolled back is never reported as applied (:meth:`Run.verify`).

Locks and connections it holds are released by :meth:`Run.release` on every path.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from alembic.runtime.environment import EnvironmentContext
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from . import locks
from .connparams import translate_connect_params
from .dbwait import connect_with_retry
from .errors import ConfigError
from .events import Events
from .results import Step
from .urls import mask_url


@dataclass(frozen=True)
class RunConfig:
    """How one command runs; fixed before it starts."""

    events: Events
    #: asyncmig's own options as resolved (:mod:`asyncmig.options`), by name.
    options: Mapping[str, Any]
    #: Whether the command writes: only then does it take the migration lock.
    writes: bool = False
    #: ``-q``: Alembic's INFO log lines are hidden for the run (and restored after it).
    quiet: bool = False

    @property
    def wait_timeout(self) -> float:
        return float(self.options.get("wait_timeout") or 0.0)

    @property
    def lock_timeout(self) -> float | None:
        """None for commands that only read: they take no migration lock."""
        return float(self.options.get("lock_timeout") or 0.0) if self.writes else None

    @property
    def statement_timeout(self) -> float | None:
        return self.options.get("statement_timeout")

    @property
    def pg_lock_timeout(self) -> float | None:
        return self.options.get("pg_lock_timeout")


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


class Run:
    """The active run: what the hooks in :mod:`asyncmig.hooks` do, and what they learned."""

    def __init__(self, config: RunConfig, *, external: Connection | None = None) -> None:
        self.config = config
        #: The caller's connection (API ``connection=``): read back on it, never on a new one.
        self.external = external
        self.tracks: list[Track] = []
        self.current: Track | None = None
        self.held: list[locks.HeldLock] = []
        self._locked: set[tuple[str, str]] = set()
        self._wrapped: set[int] = set()
        self._verifying = False
        self._log_level: int | None = None

    # -- hooks ---------------------------------------------------------------------------
    def on_connect(self, dialect: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        if dialect.name == "postgresql":
            # Our sessions are recognisable in pg_stat_activity (and in a lock holder's
            # description) unless the URL names the application itself.
            name = self.config.options.get("application_name")
            if name:
                cparams.setdefault("fallback_application_name", name)
        translated = translate_connect_params(dialect.name, dialect.driver, cparams)
        cparams.clear()
        cparams.update(translated)
        return connect_with_retry(
            lambda: dialect.connect(*cargs, **cparams),
            # Reading back after the run is worth one try, not another wait.
            timeout=0 if self._verifying else self.config.wait_timeout,
            target=mask_url(_describe_target(dialect, cargs, cparams)),
            on_wait=self.config.events.notice,
            sleep=locks.sleep,
        )

    def before_configure(
        self, env: EnvironmentContext, args: tuple[Any, ...], kw: dict[str, Any]
    ) -> None:
        connection = kw.get("connection", args[0] if args else None)
        track, new = self._track_for(env, connection, kw)
        self.current = track
        callbacks = kw.get("on_version_apply") or ()
        if callable(callbacks):
            callbacks = (callbacks,)
        kw["on_version_apply"] = (*callbacks, self._on_version_apply(track))
        self._wrap_plan(env)
        if self.config.quiet and self._log_level is None:
            logger = logging.getLogger("alembic")
            self._log_level = logger.level
            logger.setLevel(logging.WARNING)
        if new and track.connection is not None:
            self._prepare(track, track.connection)

    def before_run_migrations(self, env: EnvironmentContext, kw: dict[str, Any]) -> None:
        if self.current is not None and kw.get("engine_name") is not None:
            self.current.label = str(kw["engine_name"])

    def on_checkin(self, dbapi_connection: Any) -> None:
        """Read the version table on a migrated connection as it is released: its
        transaction has ended (committed, or rolled back by env.py or by the pool), and
        reading it here costs no second connection."""
        for track in self.tracks:
            if track.raw is dbapi_connection and track.steps and track.verified is None:
                track.verified = _read_raw(track, dbapi_connection)

    # -- after the command ----------------------------------------------------------------
    def verify(self) -> None:
        """Read each version table back once the command's transactions have ended."""
        self._verifying = True
        try:
            for track in self.tracks:
                if track.offline or not track.steps or track.verified is not None:
                    continue
                with contextlib.suppress(Exception):  # unreadable: report what Alembic said
                    track.verified = self._read_back(track)
        finally:
            self._verifying = False

    def release(self) -> None:
        """Release every lock still held, even if releasing one fails; restore logging."""
        from sqlalchemy.exc import SQLAlchemyError

        if self._log_level is not None:
            logging.getLogger("alembic").setLevel(self._log_level)
            self._log_level = None
        while self.held:
            held = self.held.pop()
            # A broken connection cannot unlock, but its session (and lock) is gone with it.
            with contextlib.suppress(SQLAlchemyError, OSError):
                held.release()

    @property
    def failing_step(self) -> Any | None:
        return self.current.failing_step if self.current is not None else None

    # -- internals ------------------------------------------------------------------------
    def _track_for(
        self, env: EnvironmentContext, connection: Any, kw: dict[str, Any]
    ) -> tuple[Track, bool]:
        """The track of ``connection`` (configured again: the same one), and whether it is new."""
        if isinstance(connection, Connection):
            for track in self.tracks:
                if track.connection is connection:
                    return track, False
            dialect = connection.dialect.name
        else:
            url = kw.get("url")
            dialect = str(kw.get("dialect_name") or getattr(url, "drivername", url) or "")
            dialect = dialect.split(":", 1)[0].split("+", 1)[0]
        track = Track(
            dialect=dialect,
            connection=connection if isinstance(connection, Connection) else None,
            raw=_dbapi_of(connection),
            version_table=kw.get("version_table", "alembic_version"),
            version_table_schema=kw.get("version_table_schema"),
        )
        if track.offline:
            track.buffer = kw.get("output_buffer") or env.config.output_buffer
            track._buffer_mark = _position(track.buffer)
        self.tracks.append(track)
        return track, True

    def _prepare(self, track: Track, connection: Connection) -> None:
        """Timeouts first (so a stuck lock query is bounded too), then the lock."""
        config = self.config
        if connection.dialect.name == "postgresql":
            began = not connection.in_transaction()
            for name, seconds in (
                ("statement_timeout", config.statement_timeout),
                ("lock_timeout", config.pg_lock_timeout),
            ):
                if seconds is not None:
                    connection.execute(text(f"SET {name} = {round(seconds * 1000)}"))
            if began and connection.in_transaction():
                connection.commit()
        if config.lock_timeout is None:
            return
        name = locks.lock_name(track.version_table, track.version_table_schema)
        where = (connection.engine.url.render_as_string(hide_password=True), name)
        if where in self._locked:
            return  # this run holds it already (two engines on one database)
        held = locks.acquire(connection, name, config.lock_timeout, config.events.notice)
        if held is not None:
            self.held.append(held)
            self._locked.add(where)

    def _wrap_plan(self, env: EnvironmentContext) -> None:
        """Record the steps Alembic is about to run, for progress counts and error lines."""
        fn = env.context_opts.get("fn")
        if fn is None or id(env) in self._wrapped:
            return
        self._wrapped.add(id(env))

        def planned(rev: Any, context: Any) -> Any:
            script = getattr(context, "script", None)
            if rev and script is not None and not script.revision_map.heads:
                locations = ", ".join(str(p) for p in script._version_locations)
                raise ConfigError(
                    f"the versions folder {locations} has no revisions, but the database is "
                    f"at {', '.join(rev)}: check -c and script_location"
                )
            steps = fn(rev, context)
            track = self.current
            if track is not None:
                if isinstance(steps, list):
                    track.planned = list(steps)
                track.start_heads = tuple(rev) if isinstance(rev, (tuple, list)) else ()
                track._tick = time.perf_counter()
            return steps

        env.context_opts["fn"] = planned

    def _on_version_apply(self, track: Track) -> Callable[..., None]:
        def on_version_apply(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
            now = time.perf_counter()
            duration, track._tick = now - track._tick, now
            sql = None
            buffer = track.buffer
            if buffer is not None and hasattr(buffer, "getvalue"):
                so_far = buffer.getvalue()
                sql, track._buffer_mark = so_far[track._buffer_mark :], len(so_far)
            direction = "stamp" if step.is_stamp else "upgrade" if step.is_upgrade else "downgrade"
            up = step.up_revision
            applied = Step(
                revision=step.up_revision_id or ",".join(step.up_revision_ids) or "base",
                from_revisions=tuple(step.source_revision_ids),
                to_revisions=tuple(step.destination_revision_ids),
                message=(up.doc if up is not None else "") or "",
                direction=direction,
                duration=duration,
                sql=sql,
                database=track.label,
            )
            track.steps.append(applied)
            track.trail.append(tuple(sorted(heads)))
            if track.offline:
                return
            self.config.events.step(applied, len(track.steps), len(track.planned) or None)

        return on_version_apply

    def _read_back(self, track: Track) -> tuple[str, ...] | None:
        from alembic.runtime.migration import MigrationContext

        opts = {
            "version_table": track.version_table,
            "version_table_schema": track.version_table_schema,
        }
        connection = track.connection
        assert connection is not None
        if connection is self.external and not connection.closed:
            return tuple(MigrationContext.configure(connection, opts=opts).get_current_heads())
        engine: Engine = connection.engine
        url = engine.url
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            return None  # a new connection would see another, empty database
        with engine.connect() as fresh:
            return tuple(MigrationContext.configure(fresh, opts=opts).get_current_heads())


def _dbapi_of(connection: Any) -> Any:
    if not isinstance(connection, Connection) or connection.closed:
        return None
    with contextlib.suppress(Exception):
        return connection.connection.dbapi_connection
    return None


def _read_raw(track: Track, dbapi_connection: Any) -> tuple[str, ...] | None:
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


def _position(buffer: IO[str] | None) -> int:
    try:
        return buffer.tell() if buffer is not None else 0
    except (OSError, ValueError):
        return 0


def _describe_target(dialect: Any, cargs: Any, cparams: dict[str, Any]) -> str:
    name = dialect.name
    if name == "sqlite":
        return f"sqlite file {cargs[0] if cargs else cparams.get('database', '')}"
    host = cparams.get("host") or ""
    port = cparams.get("port")
    where = f"{host}:{port}" if port else str(host)
    database = cparams.get("database") or cparams.get("db") or cparams.get("dbname")
    return f"{name} server {where}" + (f" database {database}" if database else "")
