"""The commands that set up a project and work on its revision files (``init``,
``revision``, ``merge``, ``history``...): parse arguments, call a command
(:mod:`asyncmig.commands`), render its result. Most never connect to the database."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .cli import app, printer_of, runtime_of, state_of
from .cli_params import BranchLabelOpt, JsonOpt, MessageOpt, RevIdOpt, SqlOpt, VerboseOpt


# -- setting up ------------------------------------------------------------------------------
@app.command("init")
def init_cmd(
    ctx: typer.Context,
    directory: Annotated[str, typer.Argument(help="Directory for the migration environment.")],
    template: Annotated[
        str, typer.Option("-t", "--template", help="Template (see list-templates).")
    ] = "asyncmig",
    package: Annotated[bool, typer.Option("--package", help="Write __init__.py files.")] = False,
) -> None:
    """Create a migration environment (default template: asyncmig's async env.py on SQLite)."""
    from .scaffold import init

    state = state_of(ctx)
    init(
        directory,
        template=template,
        package=package,
        config_file=state.options.get("config"),  # type: ignore[arg-type]
        stdout=sys.stdout,
        quiet=state.quiet,
    )


@app.command("list-templates")
def list_templates_cmd(ctx: typer.Context) -> None:
    """List the templates init can use: asyncmig's and Alembic's."""
    from .scaffold import list_templates

    printer_of(ctx).table(None, ("template", "description"), list_templates())


# -- revision files --------------------------------------------------------------------------
@app.command("revision")
def revision_cmd(
    ctx: typer.Context,
    message: MessageOpt = None,
    autogenerate: Annotated[
        bool, typer.Option("--autogenerate", help="Compare the models with the database.")
    ] = False,
    sql: SqlOpt = False,
    head: Annotated[str, typer.Option("--head", help="Head revision to build on.")] = "head",
    splice: Annotated[
        bool, typer.Option("--splice", help="Allow a non-head revision as --head.")
    ] = False,
    branch_label: BranchLabelOpt = None,
    version_path: Annotated[
        str | None, typer.Option("--version-path", help="Versions directory for the file.")
    ] = None,
    rev_id: RevIdOpt = None,
    depends_on: Annotated[
        list[str] | None,
        typer.Option("--depends-on", help="A revision this one depends on; repeatable."),
    ] = None,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty", help="With --autogenerate, write a revision even when nothing changed."
        ),
    ] = False,
) -> None:
    """Create a new revision file."""
    from . import commands

    rt, _ = runtime_of(ctx)
    commands.revision(
        rt,
        message=message,
        autogenerate=autogenerate,
        sql=sql,
        head=head,
        splice=splice,
        branch_label=branch_label,
        version_path=version_path,
        rev_id=rev_id,
        depends_on=depends_on,
        allow_empty=allow_empty,
    )


@app.command("merge")
def merge_cmd(
    ctx: typer.Context,
    revisions: Annotated[list[str], typer.Argument(help="Revisions to merge (or 'heads').")],
    message: MessageOpt = None,
    branch_label: BranchLabelOpt = None,
    rev_id: RevIdOpt = None,
    splice: Annotated[
        bool, typer.Option("--splice", help="Allow a non-head revision to be merged.")
    ] = False,
) -> None:
    """Merge two revisions together into a new revision file."""
    from . import commands

    rt, _ = runtime_of(ctx)
    commands.merge(
        rt, revisions, message=message, branch_label=branch_label, rev_id=rev_id, splice=splice
    )


@app.command("edit")
def edit_cmd(
    ctx: typer.Context, rev: Annotated[str, typer.Argument(help="Revision to open in $EDITOR.")]
) -> None:
    """Open a revision file in the editor."""
    from . import commands

    rt, _ = runtime_of(ctx)
    commands.edit(rt, rev)


@app.command("history")
def history_cmd(
    ctx: typer.Context,
    rev_range: Annotated[
        str | None, typer.Option("-r", "--rev-range", help="Range [start]:[end].")
    ] = None,
    verbose: VerboseOpt = False,
    indicate_current: Annotated[
        bool, typer.Option("-i", "--indicate-current", help="Mark the current revision.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """List revisions in chronological order."""
    from . import commands, render

    rt, printer = runtime_of(ctx, json_out)
    result = commands.history(rt, rev_range, indicate_current=indicate_current)
    if json_out:
        printer.json({"history": [render.script_json(s, result.current) for s in result.scripts]})
    else:
        render.history(printer, result, verbose=verbose)


@app.command("heads")
def heads_cmd(
    ctx: typer.Context,
    verbose: VerboseOpt = False,
    resolve_dependencies: Annotated[
        bool, typer.Option("--resolve-dependencies", help="Treat dependencies as down revisions.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Show the current head revisions."""
    from . import commands, render

    rt, printer = runtime_of(ctx, json_out)
    heads = commands.heads(rt, resolve_dependencies=resolve_dependencies)
    if json_out:
        printer.json({"heads": [render.script_json(s) for s in heads]})
    else:
        render.heads(printer, heads, verbose=verbose)


@app.command("branches")
def branches_cmd(ctx: typer.Context, verbose: VerboseOpt = False) -> None:
    """Show the branch points."""
    from . import commands, render

    rt, printer = runtime_of(ctx)
    render.branches(printer, commands.branches(rt), verbose=verbose)


@app.command("show")
def show_cmd(
    ctx: typer.Context, rev: Annotated[str, typer.Argument(help="Revision to show.")]
) -> None:
    """Show a revision."""
    from . import commands, render

    rt, printer = runtime_of(ctx)
    render.show(printer, commands.show(rt, rev))
