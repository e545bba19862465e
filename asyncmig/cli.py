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
from .errors import AsyncmigError

if TYPE_CHECKING:
    from .options import Options
    from .render import Printer
    from .runner import Runtime
    from .settings import Settings

EXIT_CODES = """Exit codes: 0 success; 1 a migration or command failed; 2 usage or
configuration error; 3 database unreachable; 4 pending revisions or model drift
(status, check, current --check-heads), a safety finding (lint, verify) or a
history problem (validate); 5 migration lock not acquired in time (--lock-timeout);
130 interrupted (SIGINT); 143 terminated (SIGTERM)."""


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
        from .masking import MaskingStream

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
    from .render import Printer

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


_APP_SETTINGS: dict[str, Any] = {
    "cls": AsyncmigGroup,
    "name": "asyncmig",
    "help": "Run Alembic migrations through async SQLAlchemy engines.",
    "epilog": EXIT_CODES,
    "rich_markup_mode": None,
    "pretty_exceptions_enable": False,
    "no_args_is_help": True,
    "add_completion": True,
    "context_settings": {"help_option_names": ["-h", "--help"]},
}
app = typer.Typer(**_APP_SETTINGS)


def _global_options(ctx: typer.Context, **given: Any) -> None:
    """Run Alembic migrations through async SQLAlchemy engines."""
    from .options import specs

    options: dict[str, Any] = {}
    for name, spec in specs().items():
        value = given.get(name)
        if value is None or value == []:
            continue
        if spec.cli == "off":  # --no-history: given means False, absent leaves it unset
            if value:
                options[name] = False
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

    kinds: dict[str, Any] = {
        "str": str | None,
        "list": list[str] | None,
        "bool": bool,
        "off": bool,
    }
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
                default=False if spec.cli in ("bool", "off") else None,
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


def state_of(ctx: typer.Context) -> CliState:
    state: CliState = ctx.obj
    return state


def printer_of(ctx: typer.Context, json_mode: bool = False) -> Printer:
    from .render import Printer

    return Printer(sys.stdout, sys.stderr, quiet=state_of(ctx).quiet, json_mode=json_mode)


def settings_of(ctx: typer.Context) -> Settings:
    """Resolve settings and register their secrets with the masking streams."""
    from .settings import resolve

    state = state_of(ctx)
    settings = resolve(state.options)
    state.secrets.update(settings.secrets)
    return settings


def runtime_of(ctx: typer.Context, json_mode: bool = False) -> tuple[Runtime, Printer]:
    """Resolved settings and the CLI's output, warning about keys NullPool cannot take."""
    from .render import ProgressEvents
    from .runner import Runtime

    state = state_of(ctx)
    settings = settings_of(ctx)
    printer = printer_of(ctx, json_mode)
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


# The commands are defined beside, on ``app`` (imported for their side effect; cli_safety:
# lint, verify; cli_history: log, validate; cli_fleet: the fleet group).
from . import cli_commands, cli_history, cli_safety  # noqa: E402, F401
from .cli_fleet import fleet_app  # noqa: E402

app.add_typer(fleet_app, name="fleet")

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
    """Console-script entry point: SIGTERM unwinds like Ctrl-C (exit 143).

    At exit, every object is frozen out of the garbage collector (``gc.freeze`` in an
    ``atexit`` handler, after output is flushed): the interpreter's final collection
    passes over a heap that Alembic's revision modules made large cost a quarter of a
    no-op run, and free nothing a process about to end needs. Only here, never in the
    library.
    """
    import atexit
    import gc

    atexit.register(gc.freeze)
    signal.signal(signal.SIGTERM, _on_sigterm)
    app_for(sys.argv[1:])(prog_name="asyncmig")


def app_for(argv: list[str]) -> typer.Typer:
    """The app to run ``argv``: with only the command it names (Typer builds every command
    it has before parsing, a tenth of a no-op run), or the whole app for help, completion,
    an unknown command or anything unexpected."""
    from .options import CLI_ONLY, specs

    takes_value = {
        flag
        for spec in (*specs().values(), *CLI_ONLY.values())
        if spec.cli not in ("bool", "off")
        for flag in spec.flags
    }
    words = iter(argv)
    for word in words:
        if word in takes_value:
            next(words, None)
        elif word.startswith("-"):
            if "=" not in word and word not in _BOOL_GLOBALS and word not in _off_flags():
                return app  # --help, --version, completion, or a mistake: the whole app
        else:
            commands = [info for info in app.registered_commands if info.name == word]
            groups = [info for info in app.registered_groups if info.name == word]
            if len(commands) + len(groups) != 1:
                return app
            lean = typer.Typer(**_APP_SETTINGS)
            lean.registered_callback = app.registered_callback
            lean.registered_commands = commands
            lean.registered_groups = groups
            return lean
    return app


#: Global flags that take no value and let the command run (help and version do not).
_BOOL_GLOBALS = frozenset({"-q", "--quiet", "--traceback", "--raiseerr"})


def _off_flags() -> frozenset[str]:
    """The options' flags that take no value (``--no-history``)."""
    from .options import specs

    return frozenset(flag for spec in specs().values() if spec.cli == "off" for flag in spec.flags)
