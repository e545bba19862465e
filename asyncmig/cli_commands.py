"""The commands of the ``asyncmig`` command line: parse arguments, call a command
(:mod:`asyncmig.commands`), render its result (:mod:`asyncmig.render`).

Each function imports what it needs when it runs, so ``asyncmig --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

# The revision-file commands first: the order of the commands in --help.
from . import cli_scripts  # noqa: F401
from .cli import app, error_json, printer_of, runtime_of, settings_of, state_of
from .cli_params import AllOpt, JsonOpt, LintOpt, SqlOpt, TagOpt, ValidateOpt, VerboseOpt
from .errors import AsyncmigError, ExitCode

if TYPE_CHECKING:
    from .render import Printer
    from .results import RunResult
    from .runner import Runtime


# -- the no-op fast path ---------------------------------------------------------------------
def _fast(ctx: typer.Context, command: str, **arguments: object) -> Any:
    """The answer from a recording when the database is at the heads (asyncmig.fastpath),
    else None; then ``ctx.meta`` carries the recorder for the full run."""
    from .fastpath import Request, recall

    state = state_of(ctx)
    request = Request(command, arguments, state.options, state.quiet, state.traceback)
    consulted = recall(request)
    if consulted.answer is not None:
        consulted.answer.replay(sys.stdout, sys.stderr)
        return consulted.answer
    if consulted.record and consulted.inputs is not None:
        from .fastpath_record import Recorder

        ctx.meta["asyncmig.recorder"] = Recorder(request, consulted.inputs)
    return None


def _runtime(ctx: typer.Context, json_mode: bool) -> tuple[Runtime, Printer]:
    rt, printer = runtime_of(ctx, json_mode)
    rt.recorder = ctx.meta.get("asyncmig.recorder")
    return rt, printer


# -- migrating -------------------------------------------------------------------------------
def _migrate(
    ctx: typer.Context,
    call: Callable[[Runtime], RunResult],
    *,
    sql: bool,
    json_out: bool = False,
    gate: Callable[[Runtime], None] | None = None,
) -> None:
    """Run upgrade/downgrade/stamp; report as JSON or a summary (with --sql, the SQL is all).

    ``gate`` runs first and may refuse the run (``upgrade --lint``)."""
    from . import render

    rt, printer = _runtime(ctx, json_out)
    if gate is not None:
        gate(rt)
    result = call(rt)
    if sql:
        return
    if json_out:
        printer.json(result.to_json())
    else:
        render.summary(printer, result)


@app.command("upgrade")
def upgrade_cmd(
    ctx: typer.Context,
    revision: Annotated[
        str, typer.Argument(help="Target: head, heads, +2, an id; a:b with --sql.")
    ] = "head",
    sql: SqlOpt = False,
    tag: TagOpt = None,
    json_out: JsonOpt = False,
    lint: LintOpt = False,
    validate: ValidateOpt = False,
) -> None:
    """Upgrade the database to a later revision."""
    fast = _fast(ctx, "upgrade", revision=revision, sql=sql, tag=tag, lint=lint, validate=validate)
    if fast is not None:
        _fast_summary(ctx, fast.run_result(revision), json_out)
        return
    from . import commands
    from .cli_history import upgrade_gate

    _migrate(
        ctx,
        lambda rt: commands.upgrade(rt, revision, sql=sql, tag=tag),
        sql=sql,
        json_out=json_out,
        gate=upgrade_gate(ctx, revision, sql, lint=lint, validate=validate),
    )


def _fast_summary(ctx: typer.Context, result: RunResult, json_out: bool) -> None:
    from . import render

    printer = printer_of(ctx, json_out)
    if json_out:
        printer.json(result.to_json())
    else:
        render.summary(printer, result)


# ignore_unknown_options: a relative target such as ``-1`` is a revision, not an option.
@app.command("downgrade", context_settings={"ignore_unknown_options": True})
def downgrade_cmd(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target: base, -1, an id; a:b with --sql.")],
    sql: SqlOpt = False,
    tag: TagOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revert the database to a previous revision."""
    from . import commands

    _migrate(
        ctx,
        lambda rt: commands.downgrade(rt, revision, sql=sql, tag=tag),
        sql=sql,
        json_out=json_out,
    )


@app.command("stamp")
def stamp_cmd(
    ctx: typer.Context,
    revisions: Annotated[
        list[str], typer.Argument(help="Revision(s) to write to the version table.")
    ],
    sql: SqlOpt = False,
    tag: TagOpt = None,
    purge: Annotated[bool, typer.Option("--purge", help="Empty the version table first.")] = False,
) -> None:
    """Set the version table to the given revision(s) without running migrations."""
    from . import commands

    _migrate(ctx, lambda rt: commands.stamp(rt, revisions, sql=sql, tag=tag, purge=purge), sql=sql)


@app.command("ensure-version")
def ensure_version_cmd(ctx: typer.Context, sql: SqlOpt = False) -> None:
    """Create the version table if it does not exist."""
    from . import commands

    rt, _ = runtime_of(ctx)
    commands.ensure_version(rt, sql=sql)


# -- looking before you leap -----------------------------------------------------------------
@app.command("current")
def current_cmd(
    ctx: typer.Context,
    verbose: VerboseOpt = False,
    check_heads: Annotated[
        bool,
        typer.Option("-c", "--check-heads", help="Exit 4 unless the database is at every head."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Show the database's current revision(s)."""
    from . import render
    from .errors import PendingMigrations

    fast = _fast(ctx, "current")
    if fast is not None:
        result = fast.current_result()
        printer = printer_of(ctx, json_out)
    else:
        from . import commands

        rt, printer = _runtime(ctx, json_out)
        result = commands.current(rt)
    if json_out:
        printer.json(result.to_json())
        if check_heads and not result.at_heads:
            raise typer.Exit(int(ExitCode.PENDING))
        return
    if check_heads and not result.at_heads:
        raise PendingMigrations("Database is not on all head revisions")
    render.current(printer, result, verbose=verbose)


@app.command("status")
def status_cmd(
    ctx: typer.Context,
    json_out: JsonOpt = False,
    all_revisions: AllOpt = False,
) -> None:
    """Show current revision(s), heads and pending revisions; exit 4 if any are pending."""
    from . import render

    if all_revisions:
        from .cli_history import status_all

        status_all(ctx, json_out)
        return

    fast = _fast(ctx, "status")
    if fast is not None:
        status = fast.status()
        printer = printer_of(ctx, json_out)
    else:
        from . import commands

        rt, printer = _runtime(ctx, json_out)
        status = commands.status(rt)
    if json_out:
        printer.json(status.to_json())
    else:
        render.status(printer, status)
    if not status.up_to_date:
        raise typer.Exit(int(ExitCode.PENDING))


@app.command("plan")
def plan_cmd(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Target revision (default: head).")] = "head",
    json_out: JsonOpt = False,
    lint: LintOpt = False,
) -> None:
    """Print the SQL an upgrade would run from the database's current revision."""
    from . import commands, render

    if lint:
        from .cli_safety import plan_with_lint

        plan_with_lint(ctx, target, json_out)
        return
    rt, printer = runtime_of(ctx, json_out)
    result = commands.plan(rt, target)
    if json_out:
        printer.json(result.to_json())
    else:
        render.plan(printer, result)


@app.command("check")
def check_cmd(ctx: typer.Context) -> None:
    """Exit 4 if an upgrade is pending or autogenerate finds model drift."""
    from . import commands

    rt, _ = runtime_of(ctx)
    commands.check(rt)


@app.command("show-config")
def show_config_cmd(
    ctx: typer.Context,
    json_out: JsonOpt = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 2 when a sqlalchemy.* key is unusable.")
    ] = False,
) -> None:
    """Show every sqlalchemy.* key's verdict (used, overridden, dropped, unusable) and source."""
    from . import render
    from .engineargs import check_engine_keys, settings_verdicts
    from .showconfig import describe

    settings = settings_of(ctx)
    verdicts = settings_verdicts(settings)
    report = describe(settings, verdicts)
    problem: AsyncmigError | None = None
    if check:
        try:
            check_engine_keys(verdicts)
        except AsyncmigError as exc:
            problem = exc
    printer = printer_of(ctx, json_out)
    if json_out:
        if problem is not None:
            report["error"] = error_json(problem)
        printer.json(report)
        state_of(ctx).json_owed = False
    else:
        render.show_config(printer, report)
    for line in report["warnings"]:
        printer.warning(line)
    if problem is not None:
        raise problem
