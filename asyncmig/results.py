"""Typed results of runs: what the API returns and what ``--json`` prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Step:
    """One migration step: a revision applied or reverted (or a stamp)."""

    revision: str
    from_revisions: tuple[str, ...]
    to_revisions: tuple[str, ...]
    message: str
    direction: str
    duration: float | None = None
    sql: str | None = None
    #: The engine name when env.py migrates several databases (Alembic's multidb template).
    database: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["from_revisions"] = list(self.from_revisions)
        data["to_revisions"] = list(self.to_revisions)
        if data["duration"] is not None:
            data["duration"] = round(data["duration"], 6)
        if self.sql is None:
            del data["sql"]
        if self.database is None:
            del data["database"]
        return data


@dataclass(frozen=True)
class DatabaseResult:
    """What a command did to one database (multidb env.py files migrate several)."""

    name: str | None
    from_revisions: tuple[str, ...]
    to_revisions: tuple[str, ...]
    steps: tuple[Step, ...]
    #: Steps Alembic ran whose transaction was then rolled back (the database lacks them).
    rolled_back: tuple[Step, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "from_revisions": list(self.from_revisions),
            "to_revisions": list(self.to_revisions),
            "applied": [step.to_json() for step in self.steps],
            "rolled_back": [step.to_json() for step in self.rolled_back],
        }


@dataclass(frozen=True)
class RunResult:
    """What ``upgrade`` / ``downgrade`` / ``stamp`` did, read back from the database."""

    command: str
    target: str
    from_revisions: tuple[str, ...]
    to_revisions: tuple[str, ...]
    steps: tuple[Step, ...]
    duration: float
    rolled_back: tuple[Step, ...] = ()
    #: One entry per database when env.py migrated more than one.
    databases: tuple[DatabaseResult, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "command": self.command,
            "target": self.target,
            "from_revisions": list(self.from_revisions),
            "to_revisions": list(self.to_revisions),
            "applied": [step.to_json() for step in self.steps],
            "rolled_back": [step.to_json() for step in self.rolled_back],
            "duration": round(self.duration, 6),
        }
        if len(self.databases) > 1:
            data["databases"] = [database.to_json() for database in self.databases]
        return data


@dataclass(frozen=True)
class Status:
    """Where the database stands against the revision scripts."""

    current: tuple[str, ...]
    heads: tuple[str, ...]
    pending: tuple[Step, ...] = field(default=())

    @property
    def up_to_date(self) -> bool:
        return not self.pending and set(self.current) == set(self.heads)

    def to_json(self) -> dict[str, Any]:
        return {
            "current": list(self.current),
            "heads": list(self.heads),
            "pending": [step.to_json() for step in self.pending],
            "up_to_date": self.up_to_date,
        }


@dataclass(frozen=True)
class Plan:
    """The SQL an upgrade would run from the database's current revision."""

    current: tuple[str, ...]
    target: str
    steps: tuple[Step, ...]
    sql: str

    def to_json(self) -> dict[str, Any]:
        return {
            "current": list(self.current),
            "target": self.target,
            "steps": [step.to_json() for step in self.steps],
            "sql": self.sql,
        }


@dataclass(frozen=True)
class Reading:
    """One database's revisions as ``current`` read them (env.py may read several:
    Alembic's multidb template, a loop over tenant schemas)."""

    current: tuple[str, ...]
    #: The revision objects (Alembic ``Script``) of what the database is at.
    scripts: tuple[Any, ...]
    #: The URL it was read from, password masked.
    url: str


@dataclass(frozen=True)
class Current:
    """Where the database is (``current``), against the heads of the revision files."""

    heads: tuple[str, ...]
    readings: tuple[Reading, ...]

    @property
    def current(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(rev for reading in self.readings for rev in reading.current))

    @property
    def at_heads(self) -> bool:
        """Every database env.py read is at every head (``--check-heads``)."""
        return all(set(reading.current) == set(self.heads) for reading in self.readings)

    def to_json(self) -> dict[str, Any]:
        return {"current": list(self.current), "heads": list(self.heads)}


@dataclass(frozen=True)
class History:
    """The revisions ``history`` lists (Alembic ``Script`` objects, newest first)."""

    scripts: tuple[Any, ...]
    current: tuple[str, ...] = ()
    indicate_current: bool = False


@dataclass(frozen=True)
class Branches:
    """The branch points: each revision with the revisions that follow it."""

    points: tuple[tuple[Any, tuple[Any, ...]], ...]


# -- the schema history (asyncmig.history) ------------------------------------------------
def _utc(moment: Any) -> str | None:
    """A stored UTC time as ISO 8601 with its zone (the table keeps it without one)."""
    return moment.isoformat() + "Z" if moment is not None else None


@dataclass(frozen=True)
class HistoryEntry:
    """One row of ``asyncmig_history``: a step as it ran."""

    id: int
    revision: str
    direction: str
    from_revisions: tuple[str, ...]
    to_revisions: tuple[str, ...]
    #: The version table's heads once the step was done.
    heads: tuple[str, ...]
    message: str
    script: str | None
    checksum: str | None
    started_at: Any
    finished_at: Any
    duration: float
    asyncmig_version: str
    alembic_version: str
    hostname: str
    os_user: str
    db_user: str | None
    application_name: str | None
    deploy_id: str | None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("from_revisions", "to_revisions", "heads"):
            data[name] = list(data[name])
        data["started_at"] = _utc(self.started_at)
        data["finished_at"] = _utc(self.finished_at)
        data["duration"] = round(self.duration, 6)
        return data


@dataclass(frozen=True)
class HistoryLog:
    """``log``: the history rows, oldest first, as filtered."""

    entries: tuple[HistoryEntry, ...]
    #: Whether the table exists (a database migrated before history has none).
    recorded: bool

    def to_json(self) -> dict[str, Any]:
        return {"recorded": self.recorded, "entries": [e.to_json() for e in self.entries]}


@dataclass(frozen=True)
class RevisionState:
    """One revision in ``status --all``: applied or pending, and when and by which deploy."""

    revision: str
    message: str
    applied: bool
    #: The last row that applied (or stamped) it; None when it ran before history began.
    entry: HistoryEntry | None = None

    def to_json(self) -> dict[str, Any]:
        entry = self.entry
        return {
            "revision": self.revision,
            "message": self.message,
            "state": "pending" if not self.applied else entry.direction if entry else "applied",
            "applied_at": _utc(entry.finished_at) if self.applied and entry else None,
            "deploy_id": entry.deploy_id if self.applied and entry else None,
        }


@dataclass(frozen=True)
class FullStatus:
    """``status --all``: every revision from base to the heads."""

    status: Status
    revisions: tuple[RevisionState, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.status.to_json(), "revisions": [r.to_json() for r in self.revisions]}


@dataclass(frozen=True)
class ValidationProblem:
    """What ``validate`` found wrong: ``changed``, ``missing`` or ``disagrees``."""

    kind: str
    message: str
    revision: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Validation:
    """``validate``: the applied revisions against their files and the version table."""

    current: tuple[str, ...]
    #: Applied revisions whose file was compared with the checksum recorded when it ran.
    checked: tuple[str, ...]
    #: Applied revisions with no history row (applied before history began).
    unrecorded: tuple[str, ...]
    problems: tuple[ValidationProblem, ...]
    recorded: bool

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "recorded": self.recorded,
            "current": list(self.current),
            "checked": list(self.checked),
            "unrecorded": list(self.unrecorded),
            "problems": [p.to_json() for p in self.problems],
        }
