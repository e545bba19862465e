"""The safety gates of the command line: ``lint``, ``verify``, and the ``--lint`` of
``plan`` and ``upgrade`` (:mod:`asyncmig.cli_commands` calls :func:`plan_with_lint`
and :func:`lint_gate`).

Each function imports what it needs when it runs, so ``asyncmig --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from .cli import app, runtime_of, state_of
from .cli_params import JsonOpt

if TYPE_CHECKING:
    from .render import Printer
    from .runner import Runtime
    from .safety.report import LintReport

LintTargetArg = Annotated[
    str,
    typer.Argument(
        help="Target revision (default: head), linted from the database's current revision; "
        "or a range A:B (base:head), linted without a database."
    ),
]


def _refuse(report: LintReport, what: str) -> None:
    """Raise exit 4 when ``report`` holds an error-level finding."""
    from .errors import UnsafeMigration

    count = len(report.errors)
    if count:
        noun = "finding" if count == 1 else "findings"
        error = UnsafeMigration(
            f"lint found {count} error-level {noun}{what}: see docs/safety.md to fix or "
            "silence them"
        )
        error.result = report
        raise error


@app.command("lint")
def lint_cmd(ctx: typer.Context, target: LintTargetArg = "head", json_out: JsonOpt = False) -> None:
    """Lint the revisions an upgrade would run (asyncmig's rules; squawk on PostgreSQL);
    exit 4 on an error-level finding."""
    from . import commands, render_safety

    rt, printer = runtime_of(ctx, json_out)
    report = commands.lint(rt, target)
    if json_out:
        printer.json(report.to_json())
        state_of(ctx).json_owed = False
        for note in report.notes:
            printer.notice(note)
        for finding in report.findings:
            printer.annotation(
                finding.level,
                finding.message,
                file=finding.path,
                line=finding.line,
                title=f"asyncmig lint: {finding.rule}",
            )
    else:
        render_safety.lint(printer, report)
    _refuse(report, "")


def _stderr_printer(ctx: typer.Context) -> Printer:
    """The report of ``plan --lint`` / ``upgrade --lint`` goes to stderr: stdout keeps the
    command's own output (SQL, JSON)."""
    from .render import Printer

    return Printer(sys.stderr, sys.stderr, quiet=state_of(ctx).quiet)


def plan_with_lint(ctx: typer.Context, target: str, json_out: bool) -> None:
    """``plan --lint``: the plan, then the lint report of the same revisions."""
    from . import commands, render, render_safety

    rt, printer = runtime_of(ctx, json_out)
    report = commands.lint(rt, target)
    if json_out:
        printer.json({**report.plan.to_json(), "lint": report.to_json()})
        state_of(ctx).json_owed = False
    else:
        render.plan(printer, report.plan)
        render_safety.lint(_stderr_printer(ctx), report)
    _refuse(report, "")


def lint_gate(ctx: typer.Context, rt: Runtime, revision: str, sql: bool = False) -> None:
    """``upgrade --lint``: lint what the upgrade would run; refuse it on an error.

    ``upgrade TARGET --sql`` renders from base (offline), so its lint is ``base:TARGET``."""
    from . import commands, render_safety

    target = f"base:{revision}" if sql and ":" not in revision else revision
    report = commands.lint(rt, target)
    render_safety.lint(_stderr_printer(ctx), report)
    _refuse(report, ": not upgrading")


ScratchOpt = Annotated[
    str | None,
    typer.Option(
        "--scratch-url",
        help="An empty database to run on (left empty again). Default: a SQLite file, or a "
        "temporary database beside the target on PostgreSQL/MariaDB, dropped after.",
    ),
]


@app.command("verify")
def verify_cmd(
    ctx: typer.Context, scratch_url: ScratchOpt = None, json_out: JsonOpt = False
) -> None:
    """On a scratch database: every revision up, down and up again; then the models
    against the schema, and a single head. Exit 4 on a problem."""
    from . import commands, render_safety
    from .errors import UnsafeMigration

    rt, printer = runtime_of(ctx, json_out)
    report = commands.verify(rt, scratch_url)
    if json_out:
        printer.json(report.to_json())
        state_of(ctx).json_owed = False
    else:
        render_safety.verify(printer, report)
    if not report.ok:
        first = report.problems[0]
        more = len(report.problems) - 1
        extra = f" (and {more} more)" if more else ""
        error = UnsafeMigration(f"verify: {first.message}{extra}")
        error.revision = first.revision
        raise error
