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

from . import TABLE_NAME
from .checksum import checksum_file
from .table import ensure, history_table

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

    def prepare(self, key: int, connection: Any, schema: str | None) -> None:
        """MySQL/MariaDB: create the table before the migration transaction (its DDL
        would commit the transaction); the caller holds the migration lock."""
        try:
            ensure(connection, schema)
        except Exception as exc:
            self._give_up(key, exc)

    def record(
        self,
        key: int,
        connection: Any,
        schema: str | None,
        step: Any,
        direction: str,
        duration: float,
        heads: Any,
    ) -> None:
        """Write the row of ``step`` (Alembic's ``MigrationInfo``) on ``connection``."""
        state = self._state.get(key, UNKNOWN)
        if state == OFF:
            return
        row = self._row(connection, step, direction, duration, heads)
        table = history_table(schema)
        dialect = connection.dialect.name
        if dialect == "postgresql" and state == UNKNOWN and connection.in_transaction():
            try:
                with connection.begin_nested():
                    ensure(connection, schema)
                    connection.execute(table.insert(), row)
            except Exception as exc:
                self._give_up(key, exc)
                return
            self._state[key] = READY
            return
        if dialect == "postgresql":
            if state == UNKNOWN:
                ensure(connection, schema)  # autocommit: nothing to abort
            connection.execute(table.insert(), row)
            self._state[key] = READY
            return
        try:
            if state == UNKNOWN and dialect == "sqlite":
                ensure(connection, schema)
            connection.execute(table.insert(), row)
        except Exception as exc:
            self._give_up(key, exc)
            return
        self._state[key] = READY

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
            "checksum": checksum_file(path),
            "started_at": started,
            "finished_at": finished,
            "duration": duration,
            "db_user": url.username,
            "application_name": application if url.get_backend_name() == "postgresql" else None,
            **self.constant(),
        }
