"""Writing one history row per step, in the step's own transaction.

:class:`Recorder` is made once per run (what does not change from step to step: host,
user, versions, deploy) and called by :meth:`asyncmig.deploy.Run._on_version_apply`, which
Alembic calls inside the migration transaction right after it updated the version table:
the row commits with the step, and a run that env.py rolls back leaves none.

Recording never fails a migration:

* PostgreSQL aborts a transaction on a failed statement, so the first row of a database
  (and the table's creation) is written inside a SAVEPOINT: a table that cannot be
  created or written to (read-only role, no ``CREATE`` on the schema) is rolled back to
  the savepoint, the run warns once and records nothing more on that database. Later rows
  of the same run go to the same table with the same rights, without a savepoint.
* MySQL/MariaDB and SQLite keep the transaction after a failed statement: each failure is
  caught. On MySQL/MariaDB ``CREATE TABLE`` commits implicitly, so the table is created
  before the migration transaction begins (:meth:`Recorder.prepare`), never inside it.

On PostgreSQL the later rows of a transaction are kept until it commits and written then,
in one ``executemany``, by a ``commit`` listener on the connection (SQLAlchemy calls it
before the database's COMMIT, inside the transaction): asyncmig's connections have no
prepared-statement cache (poolers), so a row per step would cost two round trips per
revision. A rollback drops them. SQLite and MariaDB commit each step on its own
(non-transactional DDL), so each row is written at once.
"""

from __future__ import annotations

import contextlib
import datetime
import getpass
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from . import TABLE_NAME
from .checksum import checksum_of
from .table import ensure, table_for

#: The columns a row gives (``id`` is the database's).
COLUMNS = [
    "revision", "direction", "from_revisions", "to_revisions", "heads", "message", "script",
    "checksum", "started_at", "finished_at", "duration", "asyncmig_version", "alembic_version",
    "hostname", "os_user", "db_user", "application_name", "deploy_id",
]  # fmt: skip

#: States of one database's history within a run.
UNKNOWN, READY, OFF = "unknown", "ready", "off"


def _os_user() -> str:
    with contextlib.suppress(Exception):  # no passwd entry (containers), no variables
        return getpass.getuser()
    return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def _versions() -> tuple[str, str]:
    from alembic import __version__ as alembic_version

    from .. import __version__

    return __version__, alembic_version


@dataclass
class Recorder:
    """What the run writes for each step; one per run, state per database."""

    notice: Callable[[str], None]
    deploy_id: str | None = None
    application_name: str | None = None
    _constant: dict[str, Any] = field(default_factory=dict)
    #: The state of each database (keyed by the track's id) in this run.
    _state: dict[int, str] = field(default_factory=dict)
    #: Rows held until their transaction commits, per database (PostgreSQL), with the
    #: connection and its listeners.
    _pending: dict[int, tuple[Any, str | None, list[dict[str, Any]], Any, Any]] = field(
        default_factory=dict
    )
    #: The INSERT per dialect and schema: SQL text, positional names, bind processors.
    _prepared: dict[Any, tuple[str, tuple[str, ...], dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], notice: Callable[[str], None]) -> Recorder:
        return cls(
            notice=notice,
            deploy_id=options.get("deploy_id") or None,
            application_name=options.get("application_name"),
        )

    def constant(self) -> dict[str, Any]:
        """The columns every row of this run shares (computed on the first step)."""
        if not self._constant:
            asyncmig_version, alembic_version = _versions()
            self._constant = {
                "asyncmig_version": asyncmig_version[:32],
                "alembic_version": alembic_version[:32],
                "hostname": socket.gethostname()[:255],
                "os_user": _os_user()[:255],
                "deploy_id": self.deploy_id[:255] if self.deploy_id else None,
            }
        return self._constant

    def prepare(self, track: Any, connection: Any, *, own: bool) -> None:
        """MySQL/MariaDB: create the table before the migration transaction (its DDL
        would commit the transaction); the caller holds the migration lock. Never in a
        transaction of the caller's (``own`` False: the API's ``connection=``)."""
        if not own and connection.in_transaction():
            return
        from ..sessions import own_transaction

        try:
            with own_transaction(connection):
                ensure(connection, track.version_table_schema)
        except Exception as exc:
            self._give_up(id(track), exc)

    def record(
        self, track: Any, connection: Any, step: Any, direction: str, duration: float, heads: Any
    ) -> None:
        """Write the row of ``step`` (Alembic's ``MigrationInfo``) on ``connection``, the
        migration connection of ``track`` (:class:`asyncmig.tracks.Track`)."""
        key, schema = id(track), track.version_table_schema
        state = self._state.get(key, UNKNOWN)
        if state == OFF:
            return
        row = self._row(connection, step, direction, duration, heads)
        dialect = connection.dialect.name
        if dialect == "postgresql" and state == READY and connection.in_transaction():
            self._keep(key, connection, schema, row)  # written when the transaction commits
            return
        if dialect == "postgresql" and state == UNKNOWN and connection.in_transaction():
            try:
                with connection.begin_nested():
                    ensure(connection, schema)
                    self._insert(connection, schema, [row])
            except Exception as exc:
                self._give_up(key, exc)
                return
            self._state[key] = READY
            return
        if dialect == "postgresql":
            try:
                if state == UNKNOWN:
                    ensure(connection, schema)  # autocommit: nothing to abort
                self._insert(connection, schema, [row])
            except Exception as exc:  # the step itself has committed: recording never fails it
                self._give_up(key, exc)
                return
            self._state[key] = READY
            return
        try:
            if state == UNKNOWN and dialect == "sqlite":
                ensure(connection, schema)
            self._insert(connection, schema, [row])
        except Exception as exc:
            self._give_up(key, exc)
            return
        self._state[key] = READY

    def _keep(self, key: int, connection: Any, schema: str | None, row: dict[str, Any]) -> None:
        """Hold ``row`` until ``connection``'s transaction commits (PostgreSQL)."""
        pending = self._pending.get(key)
        if pending is None:
            rows: list[dict[str, Any]] = []

            def on_commit(conn: Any) -> None:
                if rows:
                    batch = rows[:]
                    rows.clear()
                    self._insert(conn, schema, batch)

            def on_rollback(conn: Any) -> None:
                rows.clear()

            event.listen(connection, "commit", on_commit)
            event.listen(connection, "rollback", on_rollback)
            pending = self._pending[key] = (connection, schema, rows, on_commit, on_rollback)
        pending[2].append(row)

    def finish(self, *, failed: bool) -> None:
        """At the end of the run: rows still held belong to a transaction that is still
        open (the API's ``connection=``, the caller's transaction): written into it, unless
        the run failed. The listeners are removed either way."""
        for key, (connection, schema, rows, on_commit, on_rollback) in self._pending.items():
            with contextlib.suppress(Exception):
                event.remove(connection, "commit", on_commit)
                event.remove(connection, "rollback", on_rollback)
            if rows and not failed and not connection.closed and connection.in_transaction():
                batch = rows[:]
                rows.clear()
                try:
                    # A savepoint: a failed INSERT must not abort the caller's transaction.
                    with connection.begin_nested():
                        self._insert(connection, schema, batch)
                except Exception as exc:
                    self._give_up(key, exc)
        self._pending.clear()

    def _insert(self, connection: Any, schema: str | None, rows: list[dict[str, Any]]) -> None:
        """The INSERT of ``rows``, compiled once per run and dialect and sent as the
        driver's text: no statement-cache lookup over nineteen columns per row."""
        key = (connection.dialect, schema)
        prepared = self._prepared.get(key)
        if prepared is None:
            compiled = (
                table_for(connection, schema)
                .insert()
                .compile(dialect=connection.dialect, column_keys=COLUMNS)
            )
            processors: dict[str, Any] = dict(compiled._bind_processors)
            names = tuple(compiled.positiontup or ())
            prepared = self._prepared[key] = (str(compiled), names, processors)
        sql, names, processors = prepared
        params: list[Any] = []
        for row in rows:
            values = {
                name: processors[name](row[name])
                if row[name] is not None and name in processors
                else row[name]
                for name in COLUMNS
            }
            params.append(tuple(values[n] for n in names) if names else values)
        if len(params) == 1 and _aiosqlite_execute(connection, sql, params[0]):
            return
        connection.exec_driver_sql(sql, params if len(params) > 1 else params[0])

    def _give_up(self, key: int, exc: BaseException) -> None:
        self._state[key] = OFF
        cause = getattr(exc, "orig", None) or exc  # the driver's words, not SQLAlchemy's
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        self.notice(
            f"the history table {TABLE_NAME} cannot be written ({reason[:200]}); "
            "this run is not recorded in it"
        )

    def _row(
        self, connection: Any, step: Any, direction: str, duration: float, heads: Any
    ) -> dict[str, Any]:
        finished = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        started = finished - datetime.timedelta(seconds=duration)
        up = step.up_revision
        revision = step.up_revision_id or ",".join(step.up_revision_ids) or "base"
        if direction == "stamp":
            # A stamp names where it leaves the database, and that revision's file.
            targets = tuple(step.destination_revision_ids)
            revision = ",".join(targets) or "base"
            up = step.revision_map.get_revision(targets[0]) if len(targets) == 1 else None
        path = getattr(up, "path", None) if up is not None else None
        url = connection.engine.url
        application = url.query.get("application_name") or self.application_name
        if isinstance(application, tuple):
            application = application[0] if application else None
        return {
            "revision": revision[:255],
            "direction": direction,
            "from_revisions": ",".join(step.source_revision_ids)[:1000],
            "to_revisions": ",".join(step.destination_revision_ids)[:1000],
            "heads": ",".join(sorted(heads))[:1000],
            "message": ((up.doc if up is not None else "") or "")[:255],
            "script": os.path.basename(path)[:255] if path else None,
            "checksum": checksum_of(up),
            "started_at": started,
            "finished_at": finished,
            "duration": duration,
            "db_user": url.username,
            "application_name": application if url.get_backend_name() == "postgresql" else None,
            **self.constant(),
        }


def _aiosqlite_execute(connection: Any, sql: str, params: Any) -> bool:
    """On aiosqlite, run ``sql`` with one trip to its thread instead of SQLAlchemy's three
    (cursor, execute, close): SQLite commits each step on its own, so its row cannot wait
    for a batch, and at 300 revisions the two extra trips per row were 2% of an upgrade.
    The statement joins the transaction SQLAlchemy holds on that connection (the same
    sqlite3 connection). False when the driver is another one: the caller executes it."""
    if connection.dialect.driver != "aiosqlite":
        return False
    inner = getattr(getattr(connection.connection, "dbapi_connection", None), "_connection", None)
    execute = getattr(inner, "execute", None)
    if execute is None:
        return False
    from sqlalchemy.util.concurrency import await_

    await_(execute(sql, params))
    return True
