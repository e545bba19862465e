"""Rendering of the schema history's commands: ``log``, ``status --all``, ``validate``.

Text is a table (Rich on a terminal, aligned columns otherwise); times are UTC.
Everything goes through :class:`asyncmig.render.Printer`, whose streams mask secrets.
"""

from __future__ import annotations

from typing import Any

from .history import TABLE_NAME
from .render import Printer
from .results import FullStatus, HistoryLog, Validation


def _when(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment is not None else ""


def _revs(revisions: tuple[str, ...]) -> str:
    return ",".join(revisions) or "base"


LOG_COLUMNS = ("id", "finished (UTC)", "direction", "revision", "from → to", "seconds",
               "deploy", "by")  # fmt: skip


def log(printer: Printer, result: HistoryLog) -> None:
    if not result.recorded:
        printer.line(f"No history: the table {TABLE_NAME} does not exist yet (it is created "
                     "by the next upgrade, downgrade or stamp).")  # fmt: skip
        return
    if not result.entries:
        printer.line("No history rows match.")
        return
    printer.table(
        None,
        LOG_COLUMNS,
        [
            (
                str(entry.id),
                _when(entry.finished_at),
                entry.direction,
                entry.revision,
                f"{_revs(entry.from_revisions)} → {_revs(entry.to_revisions)}",
                f"{entry.duration:.3f}",
                entry.deploy_id or "",
                f"{entry.os_user}@{entry.hostname}",
            )
            for entry in result.entries
        ],
    )


def status_all(printer: Printer, result: FullStatus) -> None:
    status = result.status
    printer.line(f"Current: {', '.join(status.current) or 'base'}")
    printer.line(f"Heads:   {', '.join(status.heads) or 'none'}")
    rows = []
    for item in result.revisions:
        data = item.to_json()
        rows.append(
            (
                item.revision,
                data["state"],
                _when(item.entry.finished_at) if item.applied and item.entry else "",
                data["deploy_id"] or "",
                item.message,
            )
        )
    printer.table(None, ("revision", "state", "applied at (UTC)", "deploy", "message"), rows)
    if status.pending:
        count = len(status.pending)
        printer.line(f"Pending: {count} revision{'s' if count != 1 else ''}.")
    else:
        printer.line("Up to date.", style="green")


def validate(printer: Printer, result: Validation) -> None:
    for problem in result.problems:
        printer.line(f"✗ {problem.message}", style="red")
    changed = {p.revision for p in result.problems if p.kind == "changed"}
    matching = len([rev for rev in result.checked if rev not in changed])
    unrecorded = len(result.unrecorded)
    noun, verb = ("revision", "matches") if matching == 1 else ("revisions", "match")
    parts = [f"{matching} applied {noun} {verb} the history"]
    if unrecorded:
        parts.append(f"{unrecorded} applied before the history began (not checked)")
    if not result.recorded:
        parts.append(f"no {TABLE_NAME} table yet")
    summary = "; ".join(parts) + "."
    if result.ok:
        printer.line(f"Valid: {summary}", style="green")
    else:
        count = len(result.problems)
        printer.line(f"{count} problem{'s' if count != 1 else ''}; {summary}", style="bold")
