"""The ``asyncmig`` command line: parse arguments, delegate to :mod:`asyncmig.runner`.

Only ``typer`` is imported at start-up; each command imports what it needs, so
``asyncmig --help`` and ``--version`` stay fast (no SQLAlchemy, no Alembic).
The error boundary is :class:`AsyncmigGroup.invoke`: one ``Error: ...`` line on
stderr and the exit code of the exception's class.
"""

from __future__ import annotations

import inspect
import signal
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from . import __version__
from .errors import AsyncmigError, ExitCode

if TYPE_CHECKING:
    from collections.abc import Callable

    from .options import Options
    from .output import Printer
    from .results import RunResult
    from .runner import Runtime
    from .settings import Settings

EXIT_CODES = """Exit codes: 0 success; 1 a migration or command failed; 2 usage or
configuration error; 3 database unreachable; 4 pending revisions or model drift
(status, check, current --check-heads); 5 migration lock not acquired within
--lock-timeout; 130 interrupted (SIGINT); 143 terminated (SIGTERM)."""


@dataclass
class CliState:
    """Per-invocation state, kept on the Click context (never in module globals)."""

    options: Options
    quiet: bool = False
    traceback: bool = False
    secrets: set[str] = field(default_factory=set)
    #: The command was given --json and has not written its document yet: a failure
    #: writes one (with an ``error`` object), so stdout always holds one JSON document.
    json_owed: bool = False


class AsyncmigGroup(TyperGroup):
    """The one error boundary: exceptions become an ``Error:`` line and an exit code."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        from ._typerfast import install

        install(self, ctx)  # plain options without Typer's Pydantic adapters (start-up cost)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        from .output import MaskingStream

        secrets: set[str] = set()
        ctx.meta["asyncmig.secrets"] = secrets
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = MaskingStream(out, secrets), MaskingStream(err, secrets)
        try:
            return super().invoke(ctx)
        except BaseException as exc:
            if isinstance(exc, (SystemExit, GeneratorExit)) or _is_click_exception(exc):
                raise
            state = ctx.obj if isinstance(ctx.obj, CliState) else None
            _fail(exc, ctx.invoked_subcommand or "asyncmig", state)
        finally:
            masked = (sys.stdout, sys.stderr)
            for stream in masked:
                stream.flush()
            sys.stdout, sys.stderr = out, err
            for stream, original in zip(masked, (out, err), strict=True):
                if getattr(stream, "broken", False):
                    _discard(original)


def _discard(stream: Any) -> None:
    """Point a stream whose reader went away at /dev/null, so that the interpreter's
    last flush at exit does not print "Exception ignored ... BrokenPipeError"."""
    import os

    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a file (CliRunner's buffers)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _is_click_exception(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("typer", "click")


def _fail(exc: BaseException, command: str, state: CliState | None) -> NoReturn:
    from .failures import translate
    from .output import Printer

    error = translate(exc, command=command) if not isinstance(exc, AsyncmigError) else exc
    printer = Printer(sys.stdout, sys.stderr)
    if state is not None and state.traceback:
        import traceback

        sys.stderr.write("".join(traceback.format_exception(exc)))
    if state is not None and state.json_owed:
        data = error.result.to_json() if error.result is not None else {}
        data["error"] = error_json(error)
        printer.json(data)
    printer.error(str(error))
    raise typer.Exit(int(error.exit_code))


def error_json(error: AsyncmigError) -> dict[str, Any]:
    """The ``error`` object of a JSON document written for a failure."""
    return {
        "code": error.code,
        "exit_code": int(error.exit_code),
        "message": str(error),
        "revision": error.revision,
    }


def _version(value: bool) -> None:
    if value:
        typer.echo(f"asyncmig {__version__}")
        raise typer.Exit()


app = typer.Typer(
    cls=AsyncmigGroup,
    name="asyncmig",
    help="Run Alembic migrations through async SQLAlchemy engines.",
    epilog=EXIT_CODES,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# -- shared options, defined once ---------------------------------------------------------
SqlOpt = Annotated[
    bool, typer.Option("--sql", help="Don't touch the database: print the SQL (offline mode).")
]
TagOpt = Annotated[
    str | None, typer.Option("--tag", help="Arbitrary tag for custom env.py scripts.")
]


def _json_mode(ctx: typer.Context, value: bool) -> bool:
    if value and isinstance(ctx.obj, CliState):
        ctx.obj.json_owed = True
    return value


JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        callback=_json_mode,
        help="Print one JSON document on stdout, also on failure (with an 'error' object).",
    ),
]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="Verbose output.")]
MessageOpt = Annotated[str | None, typer.Option("-m", "--message", help="Message of the revision.")]
BranchLabelOpt = Annotated[
    str | None, typer.Option("--branch-label", help="Branch label for the new revision.")
]
RevIdOpt = Annotated[
    str | None, typer.Option("--rev-id", help="Revision id to use instead of a generated one.")
]


def _global_options(ctx: typer.Context, **given: Any) -> None:
    """Run Alembic migrations through async SQLAlchemy engines."""
    from .options import specs

    options: dict[str, Any] = {}
    for name, spec in specs().items():
        value = given.get(name)
        if value is None or value == []:
            continue
        if spec.cli == "list":
            value = tuple(value)
        elif spec.parse is not None:
            value = spec.parse(value, spec.flags[-1])
        options[name] = value
    ctx.obj = CliState(
        options=options,  # type: ignore[arg-type]
        quiet=given["quiet"],
        traceback=given["traceback"],
        # the set the masking streams of AsyncmigGroup.invoke read
        secrets=ctx.meta.setdefault("asyncmig.secrets", set()),
    )


def _typer_parameters() -> list[inspect.Parameter]:
    """The callback's parameters, one per global option of :mod:`asyncmig.options`."""
    from .options import CLI_ONLY, specs

    kinds: dict[str, Any] = {"str": str | None, "list": list[str] | None, "bool": bool}
    params = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    ]
    cli_specs = {name: spec for name, spec in specs().items() if spec.flags}
    for name, spec in {**cli_specs, **CLI_ONLY}.items():
        variable = spec.env or spec.env_note
        help_text = spec.help + (f" [env: {variable}]" if variable else "")
        option = typer.Option(*spec.flags, help=help_text)
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=False if spec.cli == "bool" else None,
                annotation=Annotated[kinds[spec.cli], option],
            )
        )
    version = typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit."
    )
    params.append(
        inspect.Parameter(
            "version",
            inspect.Parameter.KEYWORD_ONLY,
            default=False,
            annotation=Annotated[bool, version],
        )
    )
    return params


def _install_global_options() -> None:
    parameters = _typer_parameters()
    _global_options.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    _global_options.__annotations__ = {p.name: p.annotation for p in parameters}
    app.callback()(_global_options)


_install_global_options()


def _state(ctx: typer.Context) -> CliState:
    state: CliState = ctx.obj
    return state


def _printer(ctx: typer.Context, json_mode: bool = False) -> Printer:
    from .output import Printer

    return Printer(sys.stdout, sys.stderr, quiet=_state(ctx).quiet, json_mode=json_mode)


def _settings(ctx: typer.Context) -> Settings:
    """Resolve settings and register their secrets with the masking streams."""
    from .settings import resolve

    state = _state(ctx)
    settings = resolve(state.options)
    state.secrets.update(settings.secrets)
    return settings


def _runtime(ctx: typer.Context, json_mode: bool = False) -> tuple[Runtime, Printer]:
    """Resolved settings and the CLI's output, warning about keys NullPool cannot take."""
    from .output import ProgressEvents
    from .runner import Runtime

    state = _state(ctx)
    settings = _settings(ctx)
    printer = _printer(ctx, json_mode)
    for dropped in settings.dropped:
        printer.warning(
            f"{dropped.key} from {dropped.source} is ignored: migrations run on NullPool, "
            f"which takes no {dropped.key.split('.', 1)[1]} argument"
        )
    runtime = Runtime(
        settings,
        events=ProgressEvents(printer),
        stdout=sys.stdout,
        quiet=state.quiet,
        raiseerr=state.traceback,
        secrets=state.secrets,
    )
    return runtime, printer


def _summary(printer: Printer, result: RunResult) -> None:
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


# -- commands -----------------------------------------------------------------------------
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

    state = _state(ctx)
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

    printer = _printer(ctx)
    printer.table(None, ("template", "description"), list_templates())


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
    from . import runner

    rt, _ = _runtime(ctx)
    runner.revision(
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


def _migrate_cmd(
    ctx: typer.Context, call: Callable[[Runtime], RunResult], *, sql: bool, json_out: bool = False
) -> None:
    """Run upgrade/downgrade/stamp; report as JSON or a summary (with --sql, the SQL is all)."""
    rt, printer = _runtime(ctx, json_out)
    result = call(rt)
    if sql:
        return
    if json_out:
        printer.json(result.to_json())
    else:
        _summary(printer, result)


@app.command("upgrade")
def upgrade_cmd(
    ctx: typer.Context,
    revision: Annotated[
        str, typer.Argument(help="Target: head, heads, +2, an id; a:b with --sql.")
    ] = "head",
    sql: SqlOpt = False,
    tag: TagOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Upgrade the database to a later revision."""
    from . import runner

    _migrate_cmd(
        ctx, lambda rt: runner.upgrade(rt, revision, sql=sql, tag=tag), sql=sql, json_out=json_out
    )


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
    from . import runner

    _migrate_cmd(
        ctx, lambda rt: runner.downgrade(rt, revision, sql=sql, tag=tag), sql=sql, json_out=json_out
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
    from . import runner

    _migrate_cmd(
        ctx, lambda rt: runner.stamp(rt, revisions, sql=sql, tag=tag, purge=purge), sql=sql
    )


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
    from . import runner

    rt, printer = _runtime(ctx, json_out)
    if not json_out:
        runner.print_current(rt, verbose=verbose, check_heads=check_heads)
        return
    status = runner.status(rt)
    printer.json({"current": list(status.current), "heads": list(status.heads)})
    if check_heads and set(status.current) != set(status.heads):
        raise typer.Exit(int(ExitCode.PENDING))


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
    from . import runner
    from .output import REVISION_COLUMNS, revision_rows, script_json

    rt, printer = _runtime(ctx, json_out)
    if json_out or (printer.color and not verbose):
        revisions, current = runner.history(rt, rev_range, indicate_current=indicate_current)
        if json_out:
            printer.json({"history": [script_json(s, current) for s in revisions]})
        else:
            printer.table(None, REVISION_COLUMNS, revision_rows(revisions, current))
        return
    # Not a terminal (or -v): Alembic's own text, which scripts already parse.
    runner.print_history(rt, rev_range, verbose=verbose, indicate_current=indicate_current)


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
    from . import runner
    from .output import REVISION_COLUMNS, revision_rows, script_json

    rt, printer = _runtime(ctx, json_out)
    if json_out or (printer.color and not verbose):
        heads = runner.head_scripts(rt, resolve_dependencies=resolve_dependencies)
        if json_out:
            printer.json({"heads": [script_json(s) for s in heads]})
        else:
            printer.table(None, REVISION_COLUMNS, revision_rows(heads))
        return
    runner.print_heads(rt, verbose=verbose, resolve_dependencies=resolve_dependencies)


@app.command("branches")
def branches_cmd(ctx: typer.Context, verbose: VerboseOpt = False) -> None:
    """Show the branch points."""
    from . import runner

    rt, _ = _runtime(ctx)
    runner.branches(rt, verbose=verbose)


@app.command("show")
def show_cmd(
    ctx: typer.Context, rev: Annotated[str, typer.Argument(help="Revision to show.")]
) -> None:
    """Show a revision."""
    from . import runner

    rt, _ = _runtime(ctx)
    runner.show(rt, rev)


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
    from . import runner

    rt, _ = _runtime(ctx)
    runner.merge(
        rt, revisions, message=message, branch_label=branch_label, rev_id=rev_id, splice=splice
    )


@app.command("edit")
def edit_cmd(
    ctx: typer.Context, rev: Annotated[str, typer.Argument(help="Revision to open in $EDITOR.")]
) -> None:
    """Open a revision file in the editor."""
    from . import runner

    rt, _ = _runtime(ctx)
    runner.edit(rt, rev)


@app.command("check")
def check_cmd(ctx: typer.Context) -> None:
    """Exit 4 if an upgrade is pending or autogenerate finds model drift."""
    from . import runner

    rt, _ = _runtime(ctx)
    runner.check(rt)


@app.command("ensure-version")
def ensure_version_cmd(ctx: typer.Context, sql: SqlOpt = False) -> None:
    """Create the version table if it does not exist."""
    from . import runner

    rt, _ = _runtime(ctx)
    runner.ensure_version(rt, sql=sql)


@app.command("show-config")
def show_config_cmd(
    ctx: typer.Context,
    json_out: JsonOpt = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 2 when a sqlalchemy.* key is unusable.")
    ] = False,
) -> None:
    """Show every sqlalchemy.* key's verdict (used, overridden, dropped, unusable) and source."""
    from .engineargs import check_engine_keys, settings_verdicts
    from .showconfig import describe, render

    settings = _settings(ctx)
    verdicts = settings_verdicts(settings)
    report = describe(settings, verdicts)
    problem: AsyncmigError | None = None
    if check:
        try:
            check_engine_keys(verdicts)
        except AsyncmigError as exc:
            problem = exc
    printer = _printer(ctx, json_out)
    if json_out:
        if problem is not None:
            report["error"] = error_json(problem)
        printer.json(report)
        _state(ctx).json_owed = False
    else:
        render(printer, report)
    for line in report["warnings"]:
        printer.warning(line)
    if problem is not None:
        raise problem


@app.command("status")
def status_cmd(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Show current revision(s), heads and pending revisions; exit 4 if any are pending."""
    from . import runner

    rt, printer = _runtime(ctx, json_out)
    status = runner.status(rt)
    if json_out:
        printer.json(status.to_json())
    else:
        printer.line(f"Current: {', '.join(status.current) or 'base'}")
        printer.line(f"Heads:   {', '.join(status.heads) or 'none'}")
        if status.pending:
            printer.table(
                f"Pending: {len(status.pending)}",
                ("revision", "from", "message"),
                [
                    (s.revision, ",".join(s.from_revisions) or "base", s.message)
                    for s in status.pending
                ],
            )
        else:
            printer.line("Up to date.", style="green")
    if not status.up_to_date:
        raise typer.Exit(int(ExitCode.PENDING))


@app.command("plan")
def plan_cmd(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Target revision (default: head).")] = "head",
    json_out: JsonOpt = False,
) -> None:
    """Print the SQL an upgrade would run from the database's current revision."""
    from . import runner

    rt, printer = _runtime(ctx, json_out)
    result = runner.plan(rt, target)
    if json_out:
        printer.json(result.to_json())
    elif result.steps:
        sys.stdout.write(result.sql)
    else:
        printer.line(f"Nothing to do: the database is at {', '.join(result.current) or 'base'}.")


# Every command's --help ends with the exit codes, as the top-level --help does.
for _info in app.registered_commands:
    _info.epilog = _info.epilog or EXIT_CODES

# Alembic's own spellings of the two-word commands work too (hidden from --help).
for _info in list(app.registered_commands):
    if _info.name and "-" in _info.name and _info.callback is not None:
        app.command(_info.name.replace("-", "_"), hidden=True, epilog=EXIT_CODES)(_info.callback)


def _on_sigterm(signum: int, frame: Any) -> None:
    from .failures import TerminateSignal

    raise TerminateSignal()


def main() -> None:
    """Console-script entry point: SIGTERM unwinds like Ctrl-C (exit 143)."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    app(prog_name="asyncmig")
