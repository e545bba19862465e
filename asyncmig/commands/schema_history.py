"""Commands that read the schema history (:mod:`asyncmig.history`): ``log``,
``status --all`` and ``validate``.

Each reads the database through env.py, as ``current`` does, so the history is read on
every database env.py configures, in the version table's schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory

from ..alembic_config import AsyncmigConfig
from ..history.read import filtered, last_applying, parse_since, read_entries
from ..history.validate import validate as compare
from ..results import (
    FullStatus,
    HistoryEntry,
    HistoryLog,
    RevisionState,
    Status,
    Validation,
    ValidationProblem,
)
from ..runner import Runtime, execute
from .inspect import _pending


@dataclass(frozen=True)
class _Reading:
    """One database: its version table's heads and its history rows."""

    current: tuple[str, ...]
    entries: tuple[HistoryEntry, ...]
    recorded: bool


def _read(rt: Runtime, name: str) -> tuple[ScriptDirectory, list[_Reading]]:
    def call(config: AsyncmigConfig) -> tuple[ScriptDirectory, list[_Reading]]:
        script = ScriptDirectory.from_config(config)
        readings: list[_Reading] = []

        def record(rev: Any, context: Any) -> list[Any]:
            entries, recorded = read_entries(context.connection, context.version_table_schema)
            readings.append(_Reading(tuple(context.get_current_heads()), entries, recorded))
            return []

        with EnvironmentContext(config, script, fn=record, dont_mutate=True):
            script.run_env()
        return script, readings

    return execute(rt, name, call, alembic="current", arguments={})[0]


def log(rt: Runtime, *, since: str | None = None, revision: str | None = None) -> HistoryLog:
    """The history rows, oldest first: those since ``since`` (a date or an age such as
    ``7d``) and about ``revision`` (an id or its beginning)."""
    moment = parse_since(since) if since else None
    _, readings = _read(rt, "log")
    entries = tuple(entry for reading in readings for entry in reading.entries)
    return HistoryLog(
        entries=filtered(entries, since=moment, revision=revision),
        recorded=any(reading.recorded for reading in readings),
    )


def _in_order(script: ScriptDirectory) -> list[Any]:
    """Every revision from base to the heads."""
    return list(reversed(list(script.walk_revisions())))


def status_all(rt: Runtime) -> FullStatus:
    """``status --all``: every revision, applied or pending, when and by which deploy."""
    script, readings = _read(rt, "status")
    current = tuple(dict.fromkeys(rev for reading in readings for rev in reading.current))
    pending = _pending(script, current, "heads")
    waiting = {step.revision for step in pending}
    applying = last_applying(entry for reading in readings for entry in reading.entries)
    revisions = tuple(
        RevisionState(
            revision=rev.revision,
            message=rev.doc or "",
            applied=rev.revision not in waiting,
            entry=applying.get(rev.revision),
        )
        for rev in _in_order(script)
    )
    status = Status(current=current, heads=tuple(script.get_heads()), pending=pending)
    return FullStatus(status=status, revisions=revisions)


def validate(rt: Runtime) -> Validation:
    """Applied revisions against their files (checksums), the scripts (missing files)
    and the version table (the heads recorded after the last step)."""
    script, readings = _read(rt, "validate")
    scripts = {rev.revision: rev for rev in _in_order(script)}

    def pending(current: tuple[str, ...]) -> set[str]:
        return {step.revision for step in _pending(script, current, "heads")}

    results = [
        compare(scripts, reading.current, reading.entries, reading.recorded, pending)
        for reading in readings
    ]
    if len(results) == 1:
        return results[0]  # one database: its own report
    problems: list[ValidationProblem] = [p for result in results for p in result.problems]
    return Validation(
        current=tuple(dict.fromkeys(rev for result in results for rev in result.current)),
        checked=tuple(dict.fromkeys(rev for result in results for rev in result.checked)),
        unrecorded=tuple(dict.fromkeys(rev for result in results for rev in result.unrecorded)),
        problems=tuple(problems),
        recorded=any(result.recorded for result in results),
    )
