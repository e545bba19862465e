"""One command's run: the deploy behaviour the hooks apply, and what the run learns.

A :class:`Run` is made per command from a frozen :class:`RunConfig`. While it is
active (:func:`asyncmig.hooks.activate`) it

* connects with retries until ``wait_timeout`` (every engine env.py makes), each
  try bounded (:mod:`asyncmig.sessions`);
* prepares every connection env.py configures: server timeouts, then the
  migration lock, before the version table is read; through a transaction-mode
  pooler (:mod:`asyncmig.pooler`) both are taken inside the migration transaction;
* with ``statement_timeout``, bounds every database await (:mod:`asyncmig.watchdog`);
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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alembic.runtime.environment import EnvironmentContext
from sqlalchemy.engine import Connection

from . import locks, pooler, sessions
from .connparams import translate_connect_params
from .dbwait import connect_with_retry
from .errors import ConfigError
from .events import Events
from .history import autogenerate_filter
from .identifiers import quote_ident
from .results import Step
from .revindex import RevisionIndex
from .tracks import Track, dbapi_of, describe_target, host_port, position, read_back, read_raw
from .urls import mask_url
from .watchdog import MARGIN, Watchdog

if TYPE_CHECKING:
    from .history.record import Recorder


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
    #: A fleet's schema target: ``search_path`` of every session and the default
    #: ``version_table_schema`` (created if missing by commands that write).
    schema: str | None = None
    #: ``upgrade``/``downgrade``: each revision module is let go after its step
    #: (:mod:`asyncmig.revindex`); commands that call a revision twice keep them.
    release_revisions: bool = False

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
        #: Transaction-scoped locks (pooled): the connection whose transaction holds each.
        self._xact_locks: dict[tuple[str, str], Connection] = {}
        timeout = config.statement_timeout
        #: Bounds every database await when a statement timeout is set (the bridge runs it).
        self.watchdog = Watchdog(timeout + MARGIN) if timeout else None
        #: Revision files read from an index instead of imported (asyncmig.revindex).
        self.revision_index = (
            RevisionIndex(release=config.release_revisions)
            if config.options.get("revision_index")
            else None
        )
        #: Writes each step to the history table (asyncmig.history), unless --no-history.
        self.history: Recorder | None = None
        if config.writes and config.options.get("history"):
            from .history.record import Recorder

            self.history = Recorder.from_options(config.options, config.events.notice)
        #: Notes what env.py does, for the no-op fast path (asyncmig.fastpath_record).
        self.recorder: Any = None

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
        sessions.connect_defaults(dialect.name, dialect.driver, cparams)
        if self.recorder is not None and not self._verifying:
            self.recorder.on_connect(dialect, cargs, cparams)
        # Reading back after the run is worth one try, not another wait.
        timeout = 0 if self._verifying else self.config.wait_timeout
        deadline = time.monotonic() + timeout

        def attempt() -> Any:
            # Each try gets what is left of the wait, and never less than the floor.
            bound = max(deadline - time.monotonic(), sessions.CONNECT_FLOOR)
            return sessions.connect_once(dialect, cargs, cparams, bound, self.watchdog)

        connection = connect_with_retry(
            attempt,
            timeout=timeout,
            target=mask_url(describe_target(dialect, cargs, cparams)),
            on_wait=self.config.events.notice,
            sleep=locks.sleep,
        )
        sessions.guard_socket(connection)
        return connection

    def before_configure(
        self, env: EnvironmentContext, args: tuple[Any, ...], kw: dict[str, Any]
    ) -> None:
        connection = kw.get("connection", args[0] if args else None)
        if self.config.schema is not None:
            # The tenant's own version table, unless env.py names a schema itself.
            kw.setdefault("version_table_schema", self.config.schema)
        track, new = self._track_for(env, connection, kw)
        self.current = track
        if self.recorder is not None and new:
            self.recorder.on_configure(env, track.connection, kw)
        callbacks = kw.get("on_version_apply") or ()
        if callable(callbacks):
            callbacks = (callbacks,)
        kw["on_version_apply"] = (*callbacks, self._on_version_apply(track))
        # The history table is asyncmig's, as the version table is Alembic's: autogenerate
        # must not propose to drop it (even with --no-history: an earlier run made it).
        kw["include_name"] = autogenerate_filter(
            kw.get("include_name"), kw.get("version_table_schema")
        )
        self._wrap_plan(env)
        if self.config.quiet and self._log_level is None:
            logger = logging.getLogger("alembic")
            self._log_level = logger.level
            logger.setLevel(logging.WARNING)
        if new and track.connection is not None:
            self._prepare(track, track.connection)
            if (
                track.pooled == pooler.TRANSACTION
                and self.config.writes
                and kw.get("transaction_per_migration")
            ):
                # Each revision commits: a lock held by a transaction would end with the
                # first one. Refused before anything is read or written.
                raise ConfigError(
                    pooler.refusal(
                        "transaction_per_migration=True cannot keep the migration lock",
                        host_port(track.connection),
                    )
                )

    def after_configure(self) -> None:
        if self.recorder is not None:
            self.recorder.after_configure()

    def after_run_migrations(self) -> None:
        if self.recorder is not None:
            self.recorder.after_run_migrations()

    def before_run_migrations(self, env: EnvironmentContext, kw: dict[str, Any]) -> None:
        track = self.current
        if track is not None and kw.get("engine_name") is not None:
            track.label = str(kw["engine_name"])
        if track is None or track.connection is None or track.pooled != pooler.TRANSACTION:
            return
        # Through a transaction-mode pooler only the migration transaction is ours: the
        # timeouts and the lock go inside it (Alembic has begun it; it reads the version
        # table next), and end with it.
        connection = track.connection
        config = self.config
        settings = sessions.pg_settings(
            connection,
            config.statement_timeout,
            config.pg_lock_timeout,
            own=connection is not self.external,
            local=True,
        )
        if config.schema is not None:
            settings["search_path"] = quote_ident(config.schema)
            # As on a direct connection: autogenerate and check compare within the tenant.
            connection.dialect.default_schema_name = config.schema
        sessions.apply_pg_settings(connection, settings, local=True)
        if config.lock_timeout is not None:
            name = locks.lock_name(track.version_table, track.version_table_schema)
            where = (connection.engine.url.render_as_string(hide_password=True), name)
            holder = self._xact_locks.get(where)
            # Another engine of this run may hold it in its open transaction.
            if holder is None or holder.closed or not holder.in_transaction():
                locks.acquire_xact(connection, name, config.lock_timeout, config.events.notice)
                self._xact_locks[where] = connection
        if config.schema is not None and config.writes:
            # Inside the migration transaction (a session statement would reach another
            # client's server connection), before Alembic reads the version table.
            sessions.create_schema(connection, config.schema)

    def before_autocommit_block(self, migration_context: Any) -> None:
        """``autocommit_block()`` commits the migration transaction: through a
        transaction-mode pooler the lock would go with it. Refused before it commits."""
        connection = getattr(migration_context, "connection", None)
        for track in self.tracks:
            if (
                isinstance(connection, Connection)
                and track.connection is connection
                and track.pooled == pooler.TRANSACTION
            ):
                raise ConfigError(
                    pooler.refusal("autocommit_block() cannot run", host_port(connection))
                )

    def on_checkin(self, dbapi_connection: Any) -> None:
        """Read the version table on a migrated connection as it is released: its
        transaction has ended (committed, or rolled back by env.py or by the pool), and
        reading it here costs no second connection."""
        for track in self.tracks:
            if track.raw is dbapi_connection and track.steps and track.verified is None:
                track.verified = read_raw(track, dbapi_connection)

    # -- after the command ----------------------------------------------------------------
    def verify(self) -> None:
        """Read each version table back once the command's transactions have ended."""
        if self.lost:
            return  # the database stopped answering: report what Alembic said
        self._verifying = True
        try:
            for track in self.tracks:
                if track.offline or not track.steps or track.verified is not None:
                    continue
                with contextlib.suppress(Exception):  # unreadable: report what Alembic said
                    track.verified = read_back(track, self.external)
        finally:
            self._verifying = False

    def release(self, *, failed: bool = False) -> None:
        """Release every lock still held, even if releasing one fails (``failed``: the run
        is ending in an error, see :meth:`asyncmig.locks.HeldLock.release`)."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            if self.history is not None:
                # Rows held for a transaction still open (the API's connection=) go into it.
                self.history.finish(failed=failed or self.lost)
        finally:
            if self.lost:
                # Nobody answers: the server ends the session, and its lock with it.
                self.held = [held for held in self.held if held.connection is None]
            while self.held:
                held = self.held.pop()
                # A broken connection cannot unlock, but its session (and lock) is gone with it.
                with contextlib.suppress(SQLAlchemyError, OSError):
                    held.release(failed=failed)

    def restore_logging(self) -> None:
        """Alembic's log level as it was: after :meth:`verify`, whose read-back on a new
        connection logs Alembic's INFO lines too."""
        if self._log_level is not None:
            logging.getLogger("alembic").setLevel(self._log_level)
            self._log_level = None

    @property
    def failing_step(self) -> Any | None:
        return self.current.failing_step if self.current is not None else None

    @property
    def lost(self) -> bool:
        """Whether the watchdog gave up on the database."""
        return self.watchdog is not None and self.watchdog.fired

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
            raw=dbapi_of(connection),
            version_table=kw.get("version_table", "alembic_version"),
            version_table_schema=kw.get("version_table_schema"),
        )
        if track.offline:
            track.buffer = kw.get("output_buffer") or env.config.output_buffer
            track._buffer_mark = position(track.buffer)
        self.tracks.append(track)
        return track, True

    def _prepare(self, track: Track, connection: Connection) -> None:
        """Timeouts first (so a stuck lock query is bounded too), then the lock.

        Through a transaction-mode pooler neither is taken here: a session setting would
        leak to other clients and a session lock would not be exclusive
        (:meth:`before_run_migrations` takes both inside the migration transaction).
        """
        config = self.config
        backend = connection.dialect.name
        own = connection is not self.external
        track.pooled = sessions.prepare(
            connection,
            statement_timeout=config.statement_timeout,
            pg_lock_timeout=config.pg_lock_timeout,
            schema=config.schema,
            create_schema=config.writes,
            own=own,
            notice=config.events.notice,
        )
        if track.pooled == pooler.TRANSACTION:
            return
        if config.lock_timeout is None:
            return
        name = locks.lock_name(track.version_table, track.version_table_schema)
        where = (connection.engine.url.render_as_string(hide_password=True), name)
        if where not in self._locked:  # else this run holds it (two engines, one database)
            held = locks.acquire(connection, name, config.lock_timeout, config.events.notice)
            if held is not None:
                self.held.append(held)
                self._locked.add(where)
        if self.history is not None and backend in ("mysql", "mariadb"):
            # CREATE TABLE commits on MySQL: made here, under the lock, before the
            # migration transaction (elsewhere with the first step's row).
            self.history.prepare(track, connection, own=own)

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
            if self.history is not None:
                self.history.record(track, ctx.connection, step, direction, duration, heads)
            self.config.events.step(applied, len(track.steps), len(track.planned) or None)

        return on_version_apply
