"""The schema history's commands: ``log`` and ``validate``; ``status --all`` and
``upgrade --validate`` (:mod:`asyncmig.cli_commands` calls :func:`status_all` and
:func:`validate_gate`).

Each function imports what it needs when it runs, so ``asyncmig --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from .cli import app, runtime_of, state_of
from .cli_params import JsonOpt
from .errors import ExitCode

if TYPE_CHECKING:
    from .results import Validation
    from .runner import Runtime


@app.command("log")
def log_cmd(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only steps finished since a UTC date or time (2026-12-01) or an "
            "age (30min, 12h, 7d, 2w).",
        ),
    ] = None,
    revision: Annotated[
        str | None,
        typer.Option("-r", "--revision", help="Only steps of this revision (an id or its start)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the history table: every step applied, reverted or stamped, oldest first."""
    from . import commands, render_history

    rt, printer = runtime_of(ctx, json_out)
    result = commands.log(rt, since=since, revision=revision)
    if json_out:
        printer.json(result.to_json())
    else:
        render_history.log(printer, result)


def _refuse(result: Validation, what: str) -> None:
    from .errors import HistoryMismatch

    if result.ok:
        return
    first = result.problems[0]
    more = len(result.problems) - 1
    extra = f" (and {more} more)" if more else ""
    error = HistoryMismatch(f"validate: {first.message}{extra}{what}")
    error.revision = first.revision
    error.result = result
    raise error


@app.command("validate")
def validate_cmd(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Exit 4 when an applied revision's file changed since it ran, an applied revision
    has no file, or the history disagrees with the version table."""
    from . import commands, render_history

    rt, printer = runtime_of(ctx, json_out)
    result = commands.validate(rt)
    if json_out:
        printer.json(result.to_json())
        state_of(ctx).json_owed = False
    else:
        render_history.validate(printer, result)
    _refuse(result, "")


def validate_gate(rt: Runtime) -> None:
    """``upgrade --validate``: validate first; refuse the upgrade on a problem."""
    from . import commands, render_history
    from .render import Printer

    result = commands.validate(rt)
    if not result.ok:
        import sys

        render_history.validate(Printer(sys.stderr, sys.stderr, quiet=rt.quiet), result)
    _refuse(result, ": not upgrading")


def upgrade_gate(
    ctx: typer.Context, revision: str, sql: bool, *, lint: bool, validate: bool
) -> Callable[[Runtime], None] | None:
    """What ``upgrade`` runs first: ``--validate`` (not with ``--sql``), then ``--lint``."""
    if not (lint or (validate and not sql)):
        return None

    def gate(rt: Runtime) -> None:
        from .cli_safety import lint_gate

        if validate and not sql:
            validate_gate(rt)
        if lint:
            lint_gate(ctx, rt, revision, sql)

    return gate


def status_all(ctx: typer.Context, json_out: bool) -> None:
    """``status --all``: every revision, applied or pending; exit 4 if any is pending."""
    from . import commands, render_history

    rt, printer = runtime_of(ctx, json_out)
    result = commands.status_all(rt)
    if json_out:
        printer.json(result.to_json())
    else:
        render_history.status_all(printer, result)
    if not result.status.up_to_date:
        raise typer.Exit(int(ExitCode.PENDING))
