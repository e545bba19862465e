"""``validate``: does what ran match the revision files and the version table?

Three problems, each a :class:`asyncmig.results.ValidationProblem`:

* ``changed``: an applied revision's file no longer has the checksum recorded when it
  ran (or was stamped);
* ``missing``: a revision the version table or the history holds as applied has no file;
* ``disagrees``: the heads recorded after the last step are not the version table's (a
  run with ``--no-history``, a hand-edited version table, a restore from backup).

Revisions applied before the database had a history are listed as unrecorded, not as
problems: an existing database starts recording from its next run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..results import HistoryEntry, Validation, ValidationProblem
from .checksum import checksum_of
from .read import last_applying


def _at(revisions: Iterable[str]) -> str:
    return ", ".join(sorted(revisions)) or "base"


def validate(
    scripts: dict[str, Any],
    current: tuple[str, ...],
    entries: tuple[HistoryEntry, ...],
    recorded: bool,
    pending: Callable[[tuple[str, ...]], set[str]],
) -> Validation:
    """Compare one database with the revision files.

    ``scripts``: every revision id to its Alembic ``Script``; ``current``: the version
    table's heads; ``pending(current)``: the revisions an upgrade to the heads would apply.
    """
    problems: list[ValidationProblem] = []
    applying = last_applying(entries)
    last = entries[-1] if entries else None
    claimed = dict.fromkeys((*current, *(last.heads if last else ()), *applying))
    for rev in claimed:
        if rev not in scripts:
            problems.append(
                ValidationProblem(
                    "missing",
                    f"revision {rev} is recorded as applied but has no revision file",
                    rev,
                )
            )
    if last is not None and set(last.heads) != set(current):
        problems.append(
            ValidationProblem(
                "disagrees",
                f"the history says the database is at {_at(last.heads)} (row {last.id}), "
                f"the version table says {_at(current)}",
            )
        )
    checked: list[str] = []
    unrecorded: list[str] = []
    if all(rev in scripts for rev in current):
        waiting = pending(current)
        for rev, script in scripts.items():
            if rev in waiting:
                continue
            entry = applying.get(rev)
            if entry is None or entry.checksum is None:
                unrecorded.append(rev)
                continue
            checked.append(rev)
            now = checksum_of(script)
            if now != entry.checksum:
                name = entry.script or rev
                when = f"{entry.finished_at:%Y-%m-%d %H:%M:%S} UTC"
                state = "is unreadable" if now is None else "has changed"
                problems.append(
                    ValidationProblem(
                        "changed",
                        f"revision {rev} {state} since it was applied ({name}, "
                        f"{entry.direction} of {when}: checksum {entry.checksum[:12]}, "
                        f"now {(now or 'none')[:12]})",
                        rev,
                    )
                )
    return Validation(
        current=current,
        checked=tuple(checked),
        unrecorded=tuple(unrecorded),
        problems=tuple(problems),
        recorded=recorded,
    )
