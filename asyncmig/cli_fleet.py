"""``asyncmig fleet ...``: one command over many databases or schemas (:mod:`asyncmig.fleet`).

Parses the fleet's options, runs :func:`asyncmig.fleet.run.run` with a progress view
(:mod:`asyncmig.fleet.view`) and exits with the worst exit code of the targets.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

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
    settings_of(ctx)  # the main database's secrets, registered for masking
    fleet = FleetOptions(
        targets_file=targets,
        targets_sql=targets_sql,
        jobs=jobs,
        fail_fast=fail_fast,
        shard=parse_shard(shard) if shard is not None else None,
        shard_count=shard_count,
    )
    options = dict(state.options)
    prepared = prepare(fleet, options)
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


@fleet_app.command("upgrade")
def upgrade_cmd(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target: head, heads, +2, an id.")] = "head",
    tag: TagOpt = None,
    targets: TargetsOpt = None,
    targets_sql: TargetsSqlOpt = None,
    jobs: JobsOpt = None,
    fail_fast: FailFastOpt = False,
    shard: ShardOpt = None,
    shard_count: ShardCountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Upgrade every target to a later revision."""
    _run(
        ctx, "upgrade", {"revision": revision, "tag": tag}, targets=targets,
        targets_sql=targets_sql, jobs=jobs, fail_fast=fail_fast, shard=shard,
        shard_count=shard_count, json_out=json_out,
    )  # fmt: skip


# ignore_unknown_options: a relative target such as ``-1`` is a revision, not an option.
@fleet_app.command("downgrade", context_settings={"ignore_unknown_options": True})
def downgrade_cmd(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target: base, -1, an id.")],
    tag: TagOpt = None,
    targets: TargetsOpt = None,
    targets_sql: TargetsSqlOpt = None,
    jobs: JobsOpt = None,
    fail_fast: FailFastOpt = False,
    shard: ShardOpt = None,
    shard_count: ShardCountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revert every target to a previous revision."""
    _run(
        ctx, "downgrade", {"revision": revision, "tag": tag}, targets=targets,
        targets_sql=targets_sql, jobs=jobs, fail_fast=fail_fast, shard=shard,
        shard_count=shard_count, json_out=json_out,
    )  # fmt: skip


@fleet_app.command("stamp")
def stamp_cmd(
    ctx: typer.Context,
    revisions: Annotated[
        list[str], typer.Argument(help="Revision(s) to write to each version table.")
    ],
    purge: Annotated[bool, typer.Option("--purge", help="Empty the version table first.")] = False,
    targets: TargetsOpt = None,
    targets_sql: TargetsSqlOpt = None,
    jobs: JobsOpt = None,
    fail_fast: FailFastOpt = False,
    shard: ShardOpt = None,
    shard_count: ShardCountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Set every target's version table to the given revision(s) without migrating."""
    _run(
        ctx, "stamp", {"revisions": list(revisions), "purge": purge}, targets=targets,
        targets_sql=targets_sql, jobs=jobs, fail_fast=fail_fast, shard=shard,
        shard_count=shard_count, json_out=json_out,
    )  # fmt: skip


@fleet_app.command("current")
def current_cmd(
    ctx: typer.Context,
    check_heads: Annotated[
        bool,
        typer.Option("-c", "--check-heads", help="Exit 4 unless every target is at every head."),
    ] = False,
    targets: TargetsOpt = None,
    targets_sql: TargetsSqlOpt = None,
    jobs: JobsOpt = None,
    shard: ShardOpt = None,
    shard_count: ShardCountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show every target's current revision(s)."""
    _run(
        ctx, "current", {"check_heads": check_heads}, targets=targets,
        targets_sql=targets_sql, jobs=jobs, fail_fast=False, shard=shard,
        shard_count=shard_count, json_out=json_out,
    )  # fmt: skip


@fleet_app.command("status")
def status_cmd(
    ctx: typer.Context,
    targets: TargetsOpt = None,
    targets_sql: TargetsSqlOpt = None,
    jobs: JobsOpt = None,
    shard: ShardOpt = None,
    shard_count: ShardCountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show every target's pending revisions; exit 4 if any target is behind."""
    _run(
        ctx, "status", {}, targets=targets, targets_sql=targets_sql, jobs=jobs,
        fail_fast=False, shard=shard, shard_count=shard_count, json_out=json_out,
    )  # fmt: skip


@fleet_app.command("check")
def check_cmd(
    ctx: typer.Context,
    targets: TargetsOpt = None,
    targets_sql: TargetsSqlOpt = None,
    jobs: JobsOpt = None,
    shard: ShardOpt = None,
    shard_count: ShardCountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Exit 4 if any target has an upgrade pending or model drift."""
    _run(
        ctx, "check", {}, targets=targets, targets_sql=targets_sql, jobs=jobs,
        fail_fast=False, shard=shard, shard_count=shard_count, json_out=json_out,
    )  # fmt: skip


@fleet_app.command("plan")
def plan_cmd(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision (default: head).")] = "head",
    targets: TargetsOpt = None,
    targets_sql: TargetsSqlOpt = None,
    jobs: JobsOpt = None,
    shard: ShardOpt = None,
    shard_count: ShardCountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print the SQL an upgrade would run on every target, from its current revision."""
    _run(
        ctx, "plan", {"revision": revision}, targets=targets, targets_sql=targets_sql,
        jobs=jobs, fail_fast=False, shard=shard, shard_count=shard_count, json_out=json_out,
    )  # fmt: skip


for _info in fleet_app.registered_commands:
    _info.epilog = _info.epilog or EXIT_CODES
