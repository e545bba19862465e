"""``asyncmig fleet ...``: one command over many databases or schemas (:mod:`asyncmig.fleet`).

Parses the fleet's options, runs :func:`asyncmig.fleet.run.run` with a progress view
(:mod:`asyncmig.fleet.view`) and exits with the worst exit code of the targets.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Annotated, Any, get_type_hints

import typer

from .cli import EXIT_CODES, CliState, printer_of, settings_of, state_of

fleet_app = typer.Typer(
    name="fleet",
    help="Run a command on many databases or PostgreSQL schemas (tenants), N at a time.",
    no_args_is_help=True,
    rich_markup_mode=None,
    epilog=EXIT_CODES,
)


def _json_mode(ctx: typer.Context, value: bool) -> bool:
    if value and isinstance(ctx.obj, CliState):
        ctx.obj.json_owed = True
    return value


TargetsOpt = Annotated[
    str | None,
    typer.Option(
        "--targets",
        help="File of targets: one URL or schema=NAME per line, or JSON lines "
        '{"url": ..., "schema": ..., "name": ...}.',
    ),
]
TargetsSqlOpt = Annotated[
    str | None,
    typer.Option(
        "--targets-sql",
        help="Query run on the main database: one column of schema names, or columns "
        "named url, schema, name.",
    ),
]
JobsOpt = Annotated[
    int | None,
    typer.Option("-j", "--jobs", help="Targets run at once, each in a worker process (default 4)."),
]
FailFastOpt = Annotated[
    bool, typer.Option("--fail-fast", help="Start no more targets after the first failure.")
]
ShardOpt = Annotated[
    str | None,
    typer.Option("--shard", help="Only shard I of N (I/N, 0-based), by a stable hash of names."),
]
ShardCountOpt = Annotated[
    int | None,
    typer.Option(
        "--shard-count",
        envvar="ASYNCMIG_FLEET_SHARD_COUNT",
        help="Shard count N; the index is JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).",
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json", callback=_json_mode, help="Print one JSON object per target (JSON lines)."
    ),
]
TagOpt = Annotated[
    str | None, typer.Option("--tag", help="Arbitrary tag for custom env.py scripts.")
]


def _run(
    ctx: typer.Context,
    command: str,
    arguments: dict[str, Any],
    *,
    targets: str | None,
    targets_sql: str | None,
    jobs: int | None,
    fail_fast: bool,
    shard: str | None,
    shard_count: int | None,
    json_out: bool,
) -> None:
    from .fleet import view
    from .fleet.run import FleetOptions, prepare, run
    from .fleet.targets import parse_shard

    state = state_of(ctx)
    settings = settings_of(ctx)  # also registers the main database's secrets for masking
    fleet = FleetOptions(
        targets_file=targets,
        targets_sql=targets_sql,
        jobs=jobs,
        fail_fast=fail_fast,
        shard=parse_shard(shard) if shard is not None else None,
        shard_count=shard_count,
    )
    options = dict(state.options)
    prepared = prepare(fleet, options, settings)
    state.secrets.update(prepared.secrets)
    printer = printer_of(ctx, json_out)
    with view.FleetView(printer, command, len(prepared.targets), json_lines=json_out) as seen:
        result = run(command, arguments, fleet, options, observer=seen, prepared=prepared)
    state.json_owed = False
    if not json_out:
        if command == "plan":
            _print_plans(result)
        view.summary(printer, result)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _print_plans(result: Any) -> None:
    for target in result.results:
        if target.sql:
            sys.stdout.write(f"-- fleet target: {target.name}\n{target.sql}\n")


#: The options every fleet command takes, after its own: (name, annotation, default).
_FLEET_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("targets", TargetsOpt, None),
    ("targets_sql", TargetsSqlOpt, None),
    ("jobs", JobsOpt, None),
    ("fail_fast", FailFastOpt, False),
    ("shard", ShardOpt, None),
    ("shard_count", ShardCountOpt, None),
    ("json_out", JsonOpt, False),
)


def fleet_command(
    name: str, *, fail_fast: bool = True, **settings: Any
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., None]]:
    """Register the fleet command ``name``. The decorated function declares only the
    command's own parameters and returns the arguments each target runs with; the fleet's
    options (:data:`_FLEET_OPTIONS`, ``--fail-fast`` only where ``fail_fast``) are added
    to its signature here, once, as the global options are in :mod:`asyncmig.cli`."""

    def decorate(arguments_of: Callable[..., dict[str, Any]]) -> Callable[..., None]:
        hints = get_type_hints(arguments_of, include_extras=True)  # this module's strings
        own = [
            parameter.replace(annotation=hints[parameter.name])
            for parameter in inspect.signature(arguments_of).parameters.values()
        ]
        shared = [
            inspect.Parameter(option, inspect.Parameter.KEYWORD_ONLY, default=default,
                              annotation=annotation)
            for option, annotation, default in _FLEET_OPTIONS
            if fail_fast or option != "fail_fast"
        ]  # fmt: skip

        def command(ctx: typer.Context, **given: Any) -> None:
            fleet = {option: given.pop(option, default) for option, _, default in _FLEET_OPTIONS}
            _run(ctx, name, arguments_of(ctx, **given), **fleet)

        parameters = [*own, *shared]
        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        command.__doc__ = arguments_of.__doc__
        command.__name__ = arguments_of.__name__
        fleet_app.command(name, **settings)(command)
        return command

    return decorate


@fleet_command("upgrade")
def upgrade_cmd(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target: head, heads, +2, an id.")] = "head",
    tag: TagOpt = None,
) -> dict[str, Any]:
    """Upgrade every target to a later revision."""
    return {"revision": revision, "tag": tag}


# ignore_unknown_options: a relative target such as ``-1`` is a revision, not an option.
@fleet_command("downgrade", context_settings={"ignore_unknown_options": True})
def downgrade_cmd(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target: base, -1, an id.")],
    tag: TagOpt = None,
) -> dict[str, Any]:
    """Revert every target to a previous revision."""
    return {"revision": revision, "tag": tag}


@fleet_command("stamp")
def stamp_cmd(
    ctx: typer.Context,
    revisions: Annotated[
        list[str], typer.Argument(help="Revision(s) to write to each version table.")
    ],
    purge: Annotated[bool, typer.Option("--purge", help="Empty the version table first.")] = False,
) -> dict[str, Any]:
    """Set every target's version table to the given revision(s) without migrating."""
    return {"revisions": list(revisions), "purge": purge}


@fleet_command("current", fail_fast=False)
def current_cmd(
    ctx: typer.Context,
    check_heads: Annotated[
        bool,
        typer.Option("-c", "--check-heads", help="Exit 4 unless every target is at every head."),
    ] = False,
) -> dict[str, Any]:
    """Show every target's current revision(s)."""
    return {"check_heads": check_heads}


@fleet_command("status", fail_fast=False)
def status_cmd(ctx: typer.Context) -> dict[str, Any]:
    """Show every target's pending revisions; exit 4 if any target is behind."""
    return {}


@fleet_command("check", fail_fast=False)
def check_cmd(ctx: typer.Context) -> dict[str, Any]:
    """Exit 4 if any target has an upgrade pending or model drift."""
    return {}


@fleet_command("plan", fail_fast=False)
def plan_cmd(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision (default: head).")] = "head",
) -> dict[str, Any]:
    """Print the SQL an upgrade would run on every target, from its current revision."""
    return {"revision": revision}


for _info in fleet_app.registered_commands:
    _info.epilog = _info.epilog or EXIT_CODES
