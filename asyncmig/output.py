"""Everything the CLI writes: masked streams, progress lines, tables, JSON.

Every byte the CLI (and Alembic, and logging, under the CLI) writes passes
through :class:`MaskingStream`, which applies :func:`asyncmig.masking.mask_text`.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Iterable
from typing import Any, ClassVar, TextIO

from .results import Step


class MaskingStream(io.TextIOBase):
    """A text stream that masks secrets (:func:`asyncmig.urls.mask_text`) line by line.

    Complete lines are masked and passed on at once; a partial line waits for its
    end, for :meth:`flush` or :meth:`close`, so a URL written in two pieces
    (``print`` writes its text and the newline apart; libraries build lines from
    fragments) is masked whole. ``secrets`` is read at each line, so a set that
    is filled after the stream is installed (the CLI's) applies to what follows.
    """

    def __init__(self, stream: TextIO, secrets: set[str]) -> None:
        self._stream = stream
        self.secrets = secrets
        self._pending = ""
        self._lock = threading.Lock()  # Alembic and logging may write from worker threads
        #: The reader went away (``asyncmig show-config | head -1``): output is discarded
        #: from then on, and the command itself goes on to its end, as Unix tools do.
        self.broken = False

    def write(self, text: str) -> int:
        with self._lock:
            data = self._pending + text
            end = max(data.rfind("\n"), data.rfind("\r")) + 1
            self._pending = data[end:]
            if end:
                self._emit(data[:end])
        return len(text)

    def _emit(self, text: str) -> None:
        from .masking import mask_text

        if self.broken:
            return
        try:
            self._stream.write(mask_text(text, self.secrets))
        except BrokenPipeError:
            self.broken = True

    def flush(self) -> None:
        """Emit the partial line too: a flush says "show what was written so far"."""
        if getattr(self._stream, "closed", False):
            return  # at interpreter exit the wrapped stream may go first
        with self._lock:
            pending, self._pending = self._pending, ""
            if pending:
                self._emit(pending)
            if self.broken:
                return
            try:
                self._stream.flush()
            except BrokenPipeError:
                self.broken = True

    def close(self) -> None:
        """Emit what is pending (``IOBase.close`` flushes); the wrapped stream stays open."""
        super().close()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    def fileno(self) -> int:
        return self._stream.fileno()


def use_color(stream: TextIO, quiet: bool) -> bool:
    """Colour only on a terminal, never with NO_COLOR or -q."""
    return not quiet and "NO_COLOR" not in os.environ and stream.isatty()


class Printer:
    """The CLI's output: data on stdout, notices and errors on stderr."""

    def __init__(
        self, stdout: TextIO, stderr: TextIO, *, quiet: bool = False, json_mode: bool = False
    ):
        self.stdout = stdout
        self.stderr = stderr
        self.quiet = quiet
        self.json_mode = json_mode
        self.color = use_color(stdout, quiet)

    def _console(self) -> Any:
        from rich.console import Console

        return Console(
            file=self.stdout,
            highlight=False,
            soft_wrap=True,
            no_color=not self.color,
            force_terminal=self.color,
            color_system="auto" if self.color else None,
        )

    def line(self, text: str, style: str | None = None) -> None:
        """A human line on stdout (suppressed by -q and --json)."""
        if self.quiet or self.json_mode:
            return
        if self.color and style:
            self._console().print(text, style=style, markup=False)
        else:
            self.stdout.write(text + "\n")
            self.stdout.flush()

    def notice(self, message: str) -> None:
        """A status message on stderr (waiting, warnings), suppressed by -q."""
        if not self.quiet:
            self.stderr.write(f"asyncmig: {message}\n")
            self.stderr.flush()

    def warning(self, message: str) -> None:
        """A warning on stderr; -q does not hide it."""
        self.stderr.write(f"Warning: {message}\n")
        self.stderr.flush()

    def error(self, message: str) -> None:
        self.stderr.write(f"Error: {message}\n")
        if os.environ.get("GITHUB_ACTIONS") == "true":
            # GitHub turns this into an annotation on the job (its runner reads workflow
            # commands on stderr too, which keeps stdout pure data); newlines escaped.
            escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            self.stderr.write(f"::error title=asyncmig::{escaped}\n")
        self.stderr.flush()

    def json(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        self.stdout.flush()

    def table(
        self, title: str | None, columns: Iterable[str], rows: Iterable[Iterable[str]]
    ) -> None:
        """A Rich table on a terminal; tab-free aligned plain text otherwise."""
        if self.quiet or self.json_mode:
            return
        header = list(columns)
        body = [list(row) for row in rows]
        if self.color:
            from rich.table import Table
            from rich.text import Text

            # Cells hold text from configs and revisions ("[alembic]", "[bold]"): never markup.
            table = Table(title=Text(title) if title else None)
            for column in header:
                table.add_column(Text(column))
            for row in body:
                table.add_row(*(Text(cell) for cell in row))
            self._console().print(table)
            return
        widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(header)]
        if title:
            self.stdout.write(title + "\n")
        for row in [header, *body]:
            self.stdout.write(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                + "\n"
            )
        self.stdout.flush()


class ProgressEvents:
    """Run events printed by the CLI: one line per applied revision, waits on stderr."""

    VERBS: ClassVar[dict[str, str]] = {
        "upgrade": "Applying",
        "downgrade": "Reverting",
        "stamp": "Stamping",
    }

    def __init__(self, printer: Printer) -> None:
        self.printer = printer

    def notice(self, message: str) -> None:
        self.printer.notice(message)

    def step(self, step: Step, index: int, total: int | None) -> None:
        verb = self.VERBS.get(step.direction, "Applying")
        count = f"{index}/{total}" if total else str(index)
        source = ",".join(step.from_revisions) or "base"
        dest = ",".join(step.to_revisions) or "base"
        seconds = f"{step.duration:.2f} s" if step.duration is not None else ""
        message = f" {step.message}" if step.message else ""
        where = f"[{step.database}] " if step.database else ""
        self.printer.line(
            f"{verb} {count} {where}{source} → {dest}{message} … {seconds}", style="green"
        )


def script_json(script: Any, current: Iterable[str] = ()) -> dict[str, Any]:
    """An Alembic Script as the JSON object ``history`` and ``heads`` print."""
    down = script.down_revision
    down_list = [] if down is None else [down] if isinstance(down, str) else list(down)
    return {
        "revision": script.revision,
        "down_revisions": down_list,
        "message": script.doc or "",
        "branch_labels": sorted(script.branch_labels),
        "is_head": bool(script.is_head),
        "is_branch_point": bool(script.is_branch_point),
        "is_merge_point": bool(script.is_merge_point),
        "is_current": script.revision in set(current),
        "path": script.path,
    }


def revision_rows(scripts: Iterable[Any], current: Iterable[str] = ()) -> list[tuple[str, ...]]:
    """Rows of the terminal table ``history`` and ``heads`` print: the same fields as JSON."""
    rows: list[tuple[str, ...]] = []
    for item in (script_json(script, current) for script in scripts):
        marks = [
            name
            for name, flag in (
                ("current", item["is_current"]),
                ("head", item["is_head"]),
                ("branchpoint", item["is_branch_point"]),
                ("mergepoint", item["is_merge_point"]),
            )
            if flag
        ]
        parents = ", ".join(item["down_revisions"]) or "<base>"
        rows.append((item["revision"], parents, item["message"], " ".join(marks)))
    return rows


REVISION_COLUMNS = ("revision", "parent", "message", "")
