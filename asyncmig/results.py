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
