"""How a fleet run looks: a live progress view on a terminal, plain lines otherwise,
JSON lines with ``--json``, and one summary table at the end."""

from __future__ import annotations

import json
import time
from typing import Any

from ..render import Printer
from .results import FleetResult, TargetResult

#: Above this many targets the summary table lists only those that changed or failed.
FULL_TABLE_LIMIT = 30


def _revs(revisions: tuple[str, ...]) -> str:
    return ",".join(revisions) or "base"


def describe(result: TargetResult) -> str:
    """One target's outcome in a few words (the plain line, the table's last cell)."""
    if result.skipped:
        return "skipped (--fail-fast)"
    if result.error is not None:
        return f"FAILED: {result.error}"
    count = len(result.steps)
    if result.command == "status":
        return f"{count} pending" if count else "up to date"
    if result.command in ("upgrade", "downgrade", "stamp"):
        return f"{count} step{'' if count == 1 else 's'}" if count else "nothing to do"
    if result.command == "plan":
        return f"{count} to apply"
    return "ok"


class FleetView:
    """The CLI's :class:`asyncmig.fleet.pool.Observer`."""

    def __init__(self, printer: Printer, command: str, total: int, *, json_lines: bool) -> None:
        self.printer = printer
        self.command = command
        self.total = total
        self.json_lines = json_lines
        self.done = 0
        self.failed = 0
        self.running: dict[str, float] = {}
        self.slowest: tuple[str, float] | None = None
        self._live: Any = None
        self._task: Any = None
        self._progress: Any = None
        # A live view needs a terminal, and nothing else writing to stdout.
        self.live = printer.terminal and not json_lines

    # -- the lifecycle ------------------------------------------------------------------
    def __enter__(self) -> FleetView:
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn(f"fleet {self.command}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[detail]}"),
                console=self.printer._console(),
                transient=True,
            )
            self._task = self._progress.add_task("", total=self.total, detail="")
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    # -- the observer -------------------------------------------------------------------
    def started(self, name: str) -> None:
        self.running[name] = time.perf_counter()
        self._refresh()

    def notice(self, name: str, message: str) -> None:
        self.printer.notice(f"{name}: {message}")

    def finished(self, result: TargetResult) -> None:
        self.running.pop(result.name, None)
        self.done += 1
        if result.error is not None and not result.skipped:
            self.failed += 1
        if self.slowest is None or result.duration > self.slowest[1]:
            self.slowest = (result.name, result.duration)
        if self.json_lines:
            self.printer.stdout.write(json.dumps(result.to_json(), default=str) + "\n")
            self.printer.stdout.flush()
        elif self._progress is not None:
            self._progress.update(self._task, advance=1)
            if result.error is not None:
                self._progress.console.print(
                    f"{result.name}: {describe(result)}", style="red", markup=False
                )
        else:
            width = len(str(self.total))
            self.printer.line(
                f"[{self.done:>{width}}/{self.total}] {result.name}: "
                f"{_revs(result.from_revisions)} → {_revs(result.to_revisions)}, "
                f"{describe(result)} ({result.duration:.2f} s)"
            )
        self._refresh()

    def _refresh(self) -> None:
        if self._progress is None:
            return
        now = time.perf_counter()
        parts = [f"{self.failed} failed", f"{len(self.running)} running"]
        if self.running:
            name, since = min(self.running.items(), key=lambda item: item[1])
            parts.append(f"longest running: {name} {now - since:.1f} s")
        elif self.slowest is not None:
            parts.append(f"slowest: {self.slowest[0]} {self.slowest[1]:.1f} s")
        self._progress.update(self._task, detail=" · ".join(parts))


def summary(printer: Printer, fleet: FleetResult) -> None:
    """The table of targets (all of them, or those that changed or failed in a large
    fleet) and one line of totals."""
    rows = []
    shown = [
        r for r in fleet.results if len(fleet.results) <= FULL_TABLE_LIMIT or r.state not in ("ok",)
    ]
    for result in shown:
        rows.append(
            (
                result.name,
                result.schema or result.url or "",
                _revs(result.from_revisions),
                _revs(result.to_revisions),
                str(len(result.steps)),
                f"{result.duration:.2f} s",
                describe(result),
            )
        )
    if rows:
        printer.table(
            f"fleet {fleet.command}",
            ("target", "schema/url", "from", "to", "steps", "time", "result"),
            rows,
        )
    printer.line(totals(fleet), style="bold" if fleet.exit_code == 0 else "red")


def totals(fleet: FleetResult) -> str:
    counts = fleet.counts()
    parts = [f"{n} {state}" for state, n in sorted(counts.items())]
    line = (
        f"fleet {fleet.command}: {len(fleet.results)} target"
        f"{'' if len(fleet.results) == 1 else 's'} ({', '.join(parts) or 'none'}) "
        f"in {fleet.duration:.2f} s with {fleet.jobs} job{'' if fleet.jobs == 1 else 's'}"
    )
    if fleet.shard is not None:
        line += f", shard {fleet.shard[0]}/{fleet.shard[1]}"
    failed = fleet.failed
    if failed:
        names = ", ".join(r.name for r in failed[:10]) + (" ..." if len(failed) > 10 else "")
        line += f"; failed: {names}"
    if fleet.slowest is not None and len(fleet.results) > 1:
        line += f"; slowest: {fleet.slowest[0]} ({fleet.slowest[1]:.2f} s)"
    return line + "."
