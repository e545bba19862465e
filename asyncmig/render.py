"""The one renderer: every result the CLI prints, as text, a table, JSON or progress.

Commands return data (:mod:`asyncmig.results`, Alembic's ``Script`` objects); the
functions here turn it into what a user reads. Text views of ``current``,
``history``, ``heads``, ``branches`` and ``show`` are Alembic's own, byte for byte
(scripts parse them); on a terminal ``history`` and ``heads`` are tables. What
reaches stdout and stderr is masked on the way (:class:`asyncmig.masking.MaskingStream`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any, ClassVar, TextIO

from .results import Branches, Current, History, Plan, RunResult, Status, Step


class Printer:
    """The CLI's output: data on stdout, notices and errors on stderr."""

    def __init__(
        self, stdout: TextIO, stderr: TextIO, *, quiet: bool = False, json_mode: bool = False
    ):
        self.stdout = stdout
        self.stderr = stderr
        self.quiet = quiet
        self.json_mode = json_mode
        #: Tables are drawn on a terminal; NO_COLOR takes their colour, not their layout.
        self.terminal = not quiet and stdout.isatty()
        self.color = self.terminal and "NO_COLOR" not in os.environ

    def _console(self) -> Any:
        """One Rich console per printer: building one costs ten times a progress line."""
        console = self.__dict__.get("_rich")
        if console is None:
            from rich.console import Console

            console = self.__dict__["_rich"] = Console(
                file=self.stdout,
                highlight=False,
                soft_wrap=True,
                no_color=not self.color,
                force_terminal=self.terminal,
                color_system="auto" if self.color else None,
            )
        return console

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

    def data(self, text: str, style: str | None = None) -> None:
        """A line of the data a command was asked for (never hidden by -q)."""
        if self.color and style:
            self._console().print(text, style=style, markup=False)
            return
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def annotation(
        self, level: str, message: str, *, file: str | None = None, line: int | None = None,
        title: str | None = None,
    ) -> None:  # fmt: skip
        """A GitHub Actions annotation on a file's line, on stderr (under GITHUB_ACTIONS only)."""
        if os.environ.get("GITHUB_ACTIONS") != "true":
            return
        found = (("file", file), ("line", line), ("title", title))
        props = ",".join(f"{key}={_escape(str(value), True)}" for key, value in found if value)
        kind = "error" if level == "error" else "warning"
        self.stderr.write(f"::{kind} {props}::{_escape(message)}\n")
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
        if self.terminal:
            from .boxtable import render, terminal_width

            drawn = (
                None
                if title
                else render(header, body, width=terminal_width(self.stdout), bold=self.color)
            )
            if drawn is not None:  # what Rich would draw, without Rich (history: 300 rows)
                self.stdout.write(drawn)
                self.stdout.flush()
                return
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


def _escape(text: str, property: bool = False) -> str:
    """GitHub's workflow-command escaping (properties also escape ``:`` and ``,``)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property else text


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


def summary(printer: Printer, result: RunResult) -> None:
    """The last line of ``upgrade``/``downgrade``/``stamp``."""
    done = {"upgrade": "Upgraded", "downgrade": "Downgraded", "stamp": "Stamped"}[result.command]
    where = f"the database is at {','.join(result.to_revisions) or 'base'}"
    if len(result.databases) > 1:  # env.py migrates several databases (multidb)
        where = ", ".join(
            f"{d.name or 'a database'} is at {','.join(d.to_revisions) or 'base'}"
            for d in result.databases
        )
    count = len(result.steps)
    if count == 0 and result.command != "stamp":
        printer.line(f"Nothing to do: {where}.")
    else:
        noun = "revision" if count == 1 else "revisions"
        printer.line(f"{done} {count} {noun} in {result.duration:.2f} s; {where}.", style="bold")


def current(printer: Printer, result: Current, *, verbose: bool = False) -> None:
    """``alembic current``'s text."""
    for reading in result.readings:
        if verbose:
            printer.data(f"Current revision(s) for {reading.url}:")
        for script in reading.scripts:
            printer.data(script.cmd_format(verbose))


def status(printer: Printer, result: Status) -> None:
    printer.line(f"Current: {', '.join(result.current) or 'base'}")
    printer.line(f"Heads:   {', '.join(result.heads) or 'none'}")
    if result.pending:
        printer.table(
            f"Pending: {len(result.pending)}",
            ("revision", "from", "message"),
            [(s.revision, ",".join(s.from_revisions) or "base", s.message) for s in result.pending],
        )
    else:
        printer.line("Up to date.", style="green")


def plan(printer: Printer, result: Plan) -> None:
    if result.steps:
        printer.stdout.write(result.sql)
    else:
        printer.line(f"Nothing to do: the database is at {', '.join(result.current) or 'base'}.")


def history(printer: Printer, result: History, *, verbose: bool = False) -> None:
    """A table on a terminal; Alembic's text otherwise (and with ``-v``)."""
    if printer.terminal and not verbose:
        printer.table(None, REVISION_COLUMNS, revision_rows(result.scripts, result.current))
        return
    for script in result.scripts:
        if result.indicate_current:
            script._db_current_indicator = script.revision in result.current
        printer.data(
            script.cmd_format(
                verbose=verbose, include_branches=True, include_doc=True, include_parents=True
            )
        )


def heads(printer: Printer, scripts: Iterable[Any], *, verbose: bool = False) -> None:
    """A table on a terminal; Alembic's text otherwise (and with ``-v``)."""
    if printer.terminal and not verbose:
        printer.table(None, REVISION_COLUMNS, revision_rows(scripts))
        return
    for script in scripts:
        printer.data(script.cmd_format(verbose, include_branches=True, tree_indicators=False))


def branches(printer: Printer, result: Branches, *, verbose: bool = False) -> None:
    """``alembic branches``'s text: each branch point, then an arrow to each next revision."""
    for point, following in result.points:
        indent = " " * len(str(point.revision))
        arrows = "\n".join(
            f"{indent} -> {script.cmd_format(False, include_branches=True, include_doc=verbose)}"
            for script in following
        )
        printer.data(f"{point.cmd_format(verbose, include_branches=True)}\n{arrows}\n")


def show(printer: Printer, scripts: Iterable[Any]) -> None:
    """``alembic show``'s text: each revision's log entry."""
    for script in scripts:
        printer.data(script.log_entry)


_URL_PARTS = frozenset({"host", "port", "user", "password", "database", "db", "dbname"})


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def show_config(printer: Printer, report: dict[str, Any]) -> None:
    """The human form: one table of engine keys with their verdicts, one of Alembic keys."""
    where = report["config_file"] or report["toml_file"]
    printer.table(
        f"Engine (config: {where}, section [{report['section']}], poolclass=NullPool)",
        ("key", "status", "value", "source", "reason"),
        [
            (key["key"], key["status"], _cell(key["value"]), key["source"], key["reason"] or "")
            for key in report["keys"]
        ],
    )
    for note in report["notes"]:
        printer.line(f"Note: {note}")
    if report.get("pooler"):
        pooled = report["pooler"]
        printer.line(f"Note: the URL looks like a connection pooler, {pooled['hint']}.")
        printer.line(f"Note: {pooled['handling']}.")
    # The URL's own parts are in the engine table already: show what its parameters became.
    extra = {k: v for k, v in report["connect"].items() if k not in _URL_PARTS}
    if extra and "?" in report["engine"].get("url", ""):
        printer.table(
            "Driver connect() arguments (from URL parameters)",
            ("argument", "value"),
            [(name, _cell(value)) for name, value in extra.items()],
        )
    alembic = report["alembic"]
    notes = {k: f"renamed {v['replaced_by']}" for k, v in alembic.items() if "replaced_by" in v}
    printer.table(
        "Alembic",
        ("key", "value", "source", "note") if notes else ("key", "value", "source"),
        [
            (key, item["value"], item["source"], *((notes.get(key, ""),) if notes else ()))
            for key, item in alembic.items()
        ],
    )
    printer.table(
        "asyncmig",
        ("setting", "value"),
        [(key, _setting(value)) for key, value in report["asyncmig"].items()],
    )


def _setting(value: Any) -> str:
    """Durations in seconds (``300``), ``-`` when unset, text as it is."""
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)
