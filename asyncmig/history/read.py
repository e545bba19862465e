"""Reading the history back: rows as :class:`asyncmig.results.HistoryEntry`, filters."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from ..errors import ConfigError
from ..results import HistoryEntry
from .table import exists, table_for


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part for part in (text or "").split(",") if part)


def read_entries(connection: Any, schema: str | None) -> tuple[tuple[HistoryEntry, ...], bool]:
    """Every row, oldest first, and whether the table exists at all."""
    if not exists(connection, schema):
        return (), False
    table = table_for(connection, schema)
    rows = connection.execute(sa.select(table).order_by(table.c.id)).mappings().all()
    entries = tuple(
        HistoryEntry(
            id=int(row["id"]),
            revision=row["revision"],
            direction=row["direction"],
            from_revisions=_split(row["from_revisions"]),
            to_revisions=_split(row["to_revisions"]),
            heads=_split(row["heads"]),
            message=row["message"] or "",
            script=row["script"],
            checksum=row["checksum"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            duration=float(row["duration"]),
            asyncmig_version=row["asyncmig_version"],
            alembic_version=row["alembic_version"],
            hostname=row["hostname"],
            os_user=row["os_user"],
            db_user=row["db_user"],
            application_name=row["application_name"],
            deploy_id=row["deploy_id"],
        )
        for row in rows
    )
    return entries, True


_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(min|h|d|w)\s*$")
_UNITS = {"min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: datetime.datetime | None = None) -> datetime.datetime:
    """``--since``: a UTC date or time (``2026-12-01``, ``2026-12-01T10:00``) or an age
    (``30min``, ``12h``, ``7d``, ``2w``); a naive UTC datetime, as the table stores."""
    now = now or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    match = _RELATIVE.match(text)
    if match:
        return now - datetime.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--since: {text!r} is neither a date (2026-12-01, 2026-12-01T10:00) nor an age "
            "(30min, 12h, 7d, 2w)"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return moment


def matches(entry: HistoryEntry, revision: str) -> bool:
    """Whether ``entry`` is about ``revision`` (an id or its beginning)."""
    return any(rev.startswith(revision) for rev in _split(entry.revision))


def filtered(
    entries: Iterable[HistoryEntry],
    *,
    since: datetime.datetime | None = None,
    revision: str | None = None,
) -> tuple[HistoryEntry, ...]:
    return tuple(
        entry
        for entry in entries
        if (since is None or entry.finished_at >= since)
        and (revision is None or matches(entry, revision))
    )


def last_applying(entries: Iterable[HistoryEntry]) -> dict[str, HistoryEntry]:
    """Per revision, the last row that applied or stamped it, unless a downgrade of it
    came later."""
    found: dict[str, HistoryEntry] = {}
    for entry in entries:
        if entry.direction == "downgrade":
            found.pop(entry.revision, None)
        elif entry.direction in ("upgrade", "stamp"):
            for rev in _split(entry.revision):
                found[rev] = entry
    return found
