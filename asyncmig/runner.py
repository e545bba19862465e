"""The core: one function per command, each running Alembic for resolved settings.

Every command runs through :func:`_execute`, which builds the Alembic Config
(:func:`asyncmig.alembic_config.build_config`), activates a :class:`~asyncmig.deploy.Run`
(wait, lock, timeouts, progress) and calls Alembic inside :func:`asyncmig.bridge.call`,
so any env.py, sync or async, runs on async drivers. The CLI calls these in the
main thread (Ctrl-C and SIGTERM unwind the run); the async API awaits them in a
worker thread or inside ``AsyncConnection.run_sync``.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TextIO, TypeVar

from alembic import command
from alembic.runtime.environment import EnvironmentContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine import Connection

from . import bridge, hooks, process_lock
from .alembic_config import AsyncmigConfig, SectionReader, build_config
from .cmdopts import alembic_namespace
from .deploy import Run, RunConfig
from .errors import AsyncmigError, ConfigError, RolledBack
from .events import Events, SilentEvents
from .failures import revision_graph_errors, translate
from .results import DatabaseResult, Plan, RunResult, Status, Step
from .settings import Settings

T = TypeVar("T")


@dataclass
class Runtime:
    """How to run: resolved settings plus where output goes and an optional shared connection."""

    settings: Settings
    events: Events = field(default_factory=SilentEvents)
    stdout: TextIO = field(default_factory=io.StringIO)
    quiet: bool = False
    connection: Connection | None = None
    #: Set by the API when it already holds the process lock (:mod:`asyncmig.process_lock`).
    locked: bool = False
    #: ``--raiseerr``/``--traceback``, for ``config.cmd_opts.raiseerr``.
    raiseerr: bool = False
    #: Where secrets met on the way (URLs env.py reads) are registered for masking.
    secrets: set[str] = field(default_factory=set)


@contextmanager
def _process_lock(rt: Runtime) -> Iterator[None]:
    if rt.locked:  # the API took it, without blocking its event loop
        yield
        return
    with process_lock.held():
        yield


def _execute(
    rt: Runtime,
    name: str,
    call: Callable[[AsyncmigConfig], T],
    *,
    alembic: str,
    arguments: Mapping[str, Any],
    writes: bool = False,
    output_buffer: TextIO | None = None,
) -> tuple[T, Run]:
    """Run ``call(config)`` with the hooks active; every failure leaves as an AsyncmigError.

    ``alembic``/``arguments`` say which Alembic command env.py sees in ``config.cmd_opts``.
    A failure carries the run (``error.run``) so migration commands can report what
    the database kept.
    """
    settings = rt.settings
    run = Run(
        RunConfig(
            events=rt.events,
            options={name: value for name, (value, _) in settings.options.items()},
            writes=writes,
            quiet=rt.quiet,
        ),
        external=rt.connection,
    )
    sections = SectionReader(settings, notice=rt.events.notice, secrets=rt.secrets)
    config = build_config(
        settings,
        stdout=rt.stdout,
        output_buffer=output_buffer,
        attributes={"connection": rt.connection} if rt.connection is not None else None,
        cmd_opts=alembic_namespace(
            alembic,
            arguments,
            config_files=settings.config_args,
            section=settings.section,
            x=settings.x_args,
            quiet=rt.quiet,
            raiseerr=rt.raiseerr,
        ),
        sections=sections,
    )

    def body() -> T:
        if alembic in _READS_VERSIONS:
            _check_versions(config)
        try:
            return call(config)
        finally:
            try:
                run.release()
                if writes:
                    run.verify()
            finally:
                run.restore_logging()

    with _process_lock(rt), hooks.activate(run):
        try:
            with revision_graph_errors():
                return bridge.call(body, watchdog=run.watchdog), run
        except BaseException as exc:
            if isinstance(exc, (GeneratorExit, asyncio.CancelledError)):
                raise  # a cancellation is the caller's, not a failure of the run
            error = _logging_problem(exc, settings) or translate(
                exc,
                command=name,
                failing_step=run.failing_step,
                dialect=run.current.dialect if run.current is not None else None,
                missing_url=sections.missing,
            )
            error.run = run  # type: ignore[attr-defined]
            step = run.failing_step
            if error.revision is None and step is not None:
                error.revision = getattr(getattr(step, "revision", None), "revision", None)
            raise error from exc


#: Commands that compare the database with the revision files: a versions folder that is
#: missing or unreadable would make them report "nothing to do" on an empty history.
_READS_VERSIONS = frozenset({"upgrade", "downgrade", "stamp", "ensure_version", "current", "check"})


def _check_versions(config: AsyncmigConfig) -> None:
    """Refuse (exit 2, before touching the database) a versions folder that cannot be read.

    Alembic walks a missing or unreadable folder as an empty one, so ``upgrade head``
    would report success and create the version table.
    """
    import os

    script = ScriptDirectory.from_config(config)
    for location in script._version_locations:
        if not os.path.isdir(location):
            raise ConfigError(f"the versions folder {location} does not exist")
        if not os.access(location, os.R_OK | os.X_OK):
            raise ConfigError(f"the versions folder {location} cannot be read: permission denied")


def _logging_problem(exc: BaseException, settings: Settings) -> ConfigError | None:
    """env.py's ``fileConfig()`` failed on a config file without logging sections."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__") == "logging.config":
            from .showconfig import logging_sections_problem

            line = logging_sections_problem(settings.config_file)
            return ConfigError(line) if line else None
        tb = tb.tb_next
    return None


def _databases(run: Run) -> tuple[DatabaseResult, ...]:
    results = []
    for track in run.tracks:
        kept = track.kept()
        results.append(
            DatabaseResult(
                name=track.label,
                from_revisions=track.start_heads or (),
                to_revisions=track.heads,
                steps=kept,
                rolled_back=tuple(track.steps[len(kept) :]),
            )
        )
    return tuple(results)


def _merged(values: Iterator[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(rev for revs in values for rev in revs))


def _result(name: str, target: str, run: Run, started: float) -> RunResult:
    databases = _databases(run)
    return RunResult(
        command=name,
        target=target,
        from_revisions=_merged(d.from_revisions for d in databases),
        to_revisions=_merged(d.to_revisions for d in databases),
        steps=tuple(step for d in databases for step in d.steps),
        duration=time.perf_counter() - started,
        rolled_back=tuple(step for d in databases for step in d.rolled_back),
        databases=databases,
    )


def _migrate(
    rt: Runtime,
    name: str,
    target: str,
    sql: bool,
    fn: Callable[[AsyncmigConfig], None],
    arguments: Mapping[str, Any],
) -> RunResult:
    """Run upgrade/downgrade/stamp and report what the database holds afterwards."""
    buffer = rt.stdout if sql else None
    started = time.perf_counter()
    try:
        _, run = _execute(
            rt,
            name,
            fn,
            alembic=name,
            arguments={**arguments, "sql": sql},
            writes=not sql,
            output_buffer=buffer,
        )
    except AsyncmigError as error:
        failed_run: Run | None = getattr(error, "run", None)
        if failed_run is not None:
            error.result = _result(name, target, failed_run, started)
        raise
    result = _result(name, target, run, started)
    if result.rolled_back and not sql:
        count = len(result.rolled_back)
        noun = "revision" if count == 1 else "revisions"
        at = ", ".join(result.to_revisions) or "base"
        rolled_back = RolledBack(
            f"{count} {noun} ran but the transaction was rolled back (env.py's dry run?); "
            f"the database is still at {at}"
        )
        rolled_back.result = result
        raise rolled_back
    return result


def upgrade(
    rt: Runtime, revision: str = "head", *, sql: bool = False, tag: str | None = None
) -> RunResult:
    """``alembic upgrade``: apply revisions up to ``revision``."""
    return _migrate(
        rt,
        "upgrade",
        revision,
        sql,
        lambda c: command.upgrade(c, revision, sql=sql, tag=tag),
        {"revision": revision, "tag": tag},
    )


def downgrade(
    rt: Runtime, revision: str, *, sql: bool = False, tag: str | None = None
) -> RunResult:
    """``alembic downgrade``: revert revisions down to ``revision``."""
    return _migrate(
        rt,
        "downgrade",
        revision,
        sql,
        lambda c: command.downgrade(c, revision, sql=sql, tag=tag),
        {"revision": revision, "tag": tag},
    )


def stamp(
    rt: Runtime,
    revisions: list[str],
    *,
    sql: bool = False,
    tag: str | None = None,
    purge: bool = False,
) -> RunResult:
    """``alembic stamp``: write ``revisions`` to the version table without running them."""
    target = ",".join(revisions)
    return _migrate(
        rt,
        "stamp",
        target,
        sql,
        lambda c: command.stamp(
            c, revisions if len(revisions) > 1 else revisions[0], sql=sql, tag=tag, purge=purge
        ),
        {"revisions": list(revisions), "tag": tag, "purge": purge},
    )


def ensure_version(rt: Runtime, *, sql: bool = False) -> None:
    """``alembic ensure_version``: create the version table if it is missing."""
    _execute(
        rt,
        "ensure-version",
        lambda c: command.ensure_version(c, sql=sql),
        alembic="ensure_version",
        arguments={"sql": sql},
        writes=not sql,
    )


def _read_heads(config: AsyncmigConfig, script: ScriptDirectory) -> tuple[str, ...]:
    """The database's current revisions, read through env.py exactly as ``alembic current``."""
    found: list[tuple[str, ...]] = []

    def record(rev: Any, context: Any) -> list[Any]:
        found.append(tuple(context.get_current_heads()))
        return []

    with EnvironmentContext(config, script, fn=record, dont_mutate=True):
        script.run_env()
    return found[0] if found else ()


def current(rt: Runtime) -> tuple[str, ...]:
    """The revision(s) the database is at (empty at base)."""

    def call(config: AsyncmigConfig) -> tuple[str, ...]:
        return _read_heads(config, ScriptDirectory.from_config(config))

    return _execute(rt, "current", call, alembic="current", arguments={})[0]


def print_current(rt: Runtime, *, verbose: bool = False, check_heads: bool = False) -> None:
    """``alembic current`` with Alembic's own output."""
    _execute(
        rt,
        "current",
        lambda c: command.current(c, check_heads=check_heads, verbose=verbose),
        alembic="current",
        arguments={"verbose": verbose, "check_heads": check_heads},
    )


def _pending(
    script: ScriptDirectory, current_heads: tuple[str, ...], target: str
) -> tuple[Step, ...]:
    # The same step list ``upgrade`` computes, so status and plan never disagree with it.
    steps = script._upgrade_revs(target, current_heads)  # type: ignore[arg-type]
    return tuple(
        Step(
            revision=step.revision.revision,
            from_revisions=tuple(step.from_revisions),
            to_revisions=tuple(step.to_revisions),
            message=step.doc or "",
            direction="upgrade",
        )
        for step in steps
    )


def status(rt: Runtime) -> Status:
    """Current revision(s), heads, and the revisions an ``upgrade heads`` would apply."""

    def call(config: AsyncmigConfig) -> Status:
        script = ScriptDirectory.from_config(config)
        heads = _read_heads(config, script)
        return Status(
            current=heads,
            heads=tuple(script.get_heads()),
            pending=_pending(script, heads, "heads"),
        )

    return _execute(rt, "status", call, alembic="current", arguments={})[0]


def plan(rt: Runtime, target: str = "head") -> Plan:
    """Read the current revision online, then render the upgrade's SQL offline."""
    current_heads = current(rt)
    if len(current_heads) > 1:
        raise ConfigError(
            f"the database has several heads ({', '.join(current_heads)}); plan needs one: "
            "merge them or upgrade each branch"
        )
    start = current_heads[0] if current_heads else None
    buffer = io.StringIO()
    spec = f"{start}:{target}" if start else target

    def render(config: AsyncmigConfig) -> list[Step]:
        script = ScriptDirectory.from_config(config)
        pending = _pending(script, current_heads, target)
        if pending:
            command.upgrade(config, spec, sql=True)
        return list(pending)

    pending, run = _execute(
        rt,
        "plan",
        render,
        alembic="upgrade",
        arguments={"revision": spec, "sql": True},
        output_buffer=buffer,
    )
    recorded = tuple(step for track in run.tracks for step in track.steps)
    steps = recorded or tuple(pending)
    return Plan(current=current_heads, target=target, steps=steps, sql=buffer.getvalue())


def check(rt: Runtime) -> None:
    """``alembic check``: raise PendingMigrations on model drift or a database behind head."""
    # Its only output is the all-clear notice, which -q hides: the exit code is the answer.
    _execute(
        replace(rt, stdout=io.StringIO()) if rt.quiet else rt,
        "check",
        command.check,
        alembic="check",
        arguments={},
    )


def revision(
    rt: Runtime,
    *,
    autogenerate: bool = False,
    sql: bool = False,
    allow_empty: bool = False,
    **kwargs: Any,
) -> list[Script]:
    """``alembic revision``; with ``--autogenerate`` and no change found, no file unless
    ``allow_empty`` (Alembic's cookbook recipe, built in)."""
    skipped: list[bool] = []
    hooked: set[int] = set()

    def skip_empty(context: Any, revision: Any, directives: list[Any]) -> None:
        """Decide once every database was compared and env.py's own hooks ran (multidb
        compares one engine per call): just before the files are written."""
        revision_context = context.environment_context.context_opts.get("revision_context")
        if allow_empty or revision_context is None or id(revision_context) in hooked:
            return
        hooked.add(id(revision_context))
        write = revision_context.generate_scripts

        def generate_scripts() -> Any:
            scripts = revision_context.generated_revisions
            if scripts and all(_no_changes(script) for script in scripts):
                scripts[:] = []
                skipped.append(True)
            return write()

        revision_context.generate_scripts = generate_scripts

    def call(config: AsyncmigConfig) -> list[Script]:
        result = command.revision(
            config,
            autogenerate=autogenerate,
            sql=sql,
            process_revision_directives=skip_empty if autogenerate else None,
            **kwargs,
        )
        if result is None:
            return []
        scripts = result if isinstance(result, list) else [result]
        return [s for s in scripts if s is not None]

    scripts = _execute(
        rt,
        "revision",
        call,
        alembic="revision",
        arguments={"autogenerate": autogenerate, "sql": sql, **kwargs},
    )[0]
    if skipped and not scripts:
        rt.events.notice(
            "no changes in the models: no revision written (--allow-empty writes one anyway)"
        )
    return scripts


def _no_changes(script: Any) -> bool:
    """An autogenerated MigrationScript whose every upgrade operation list is empty."""
    return all(ops.is_empty() for ops in script.upgrade_ops_list)


def parse_range(rev_range: str | None) -> tuple[str, str]:
    """``[start]:[end]`` as ``alembic history -r`` reads it."""
    if rev_range is None:
        return "base", "heads"
    if ":" not in rev_range:
        raise ConfigError("history range requires [start]:[end], [start]:, or :[end]")
    base, head = rev_range.strip().split(":", 1)
    return base or "base", head or "heads"


def history(
    rt: Runtime, rev_range: str | None = None, *, indicate_current: bool = False
) -> tuple[list[Script], tuple[str, ...]]:
    """The revisions in ``rev_range``, newest first, and the database's current revisions
    (read in the same run when ``indicate_current`` or the range says ``current``)."""
    base, head = parse_range(rev_range)
    online = indicate_current or "current" in (base, head)

    def call(config: AsyncmigConfig) -> tuple[list[Script], tuple[str, ...]]:
        script = ScriptDirectory.from_config(config)
        current = _read_heads(config, script) if online else ()
        # As ``alembic history -r current:``: ``current`` is the database's revision(s).
        at: Any = current or "base"
        lower, upper = (at if base == "current" else base), (at if head == "current" else head)
        return list(script.walk_revisions(base=lower, head=upper)), current

    arguments = {"rev_range": rev_range, "indicate_current": indicate_current}
    return _execute(rt, "history", call, alembic="history", arguments=arguments)[0]


def print_history(
    rt: Runtime,
    rev_range: str | None = None,
    *,
    verbose: bool = False,
    indicate_current: bool = False,
) -> None:
    """``alembic history`` with Alembic's own text."""
    _alembic_text(
        rt, "history", rev_range=rev_range, verbose=verbose, indicate_current=indicate_current
    )


def head_scripts(rt: Runtime, *, resolve_dependencies: bool = False) -> list[Script]:
    """The head revisions of the scripts (no database needed)."""

    def call(config: AsyncmigConfig) -> list[Script]:
        script = ScriptDirectory.from_config(config)
        heads = script.get_heads(consider_depends_on=resolve_dependencies)
        return [s for s in script.get_revisions(heads) if s is not None]

    arguments = {"resolve_dependencies": resolve_dependencies}
    return _execute(rt, "heads", call, alembic="heads", arguments=arguments)[0]


def _alembic_text(rt: Runtime, name: str, **arguments: Any) -> None:
    """Run an Alembic command whose output is Alembic's own text."""
    alembic = name.replace("-", "_")
    fn = getattr(command, alembic)
    _execute(rt, name, lambda c: fn(c, **arguments), alembic=alembic, arguments=arguments)


def print_heads(rt: Runtime, *, verbose: bool = False, resolve_dependencies: bool = False) -> None:
    """``alembic heads`` with Alembic's own text."""
    _alembic_text(rt, "heads", verbose=verbose, resolve_dependencies=resolve_dependencies)


def branches(rt: Runtime, *, verbose: bool = False) -> None:
    """``alembic branches``."""
    _alembic_text(rt, "branches", verbose=verbose)


def show(rt: Runtime, rev: str) -> None:
    """``alembic show`` (``show current`` reads the database)."""
    _alembic_text(rt, "show", rev=rev)


def merge(
    rt: Runtime,
    revisions: list[str],
    *,
    message: str | None = None,
    branch_label: str | None = None,
    rev_id: str | None = None,
    splice: bool = False,
) -> None:
    """``alembic merge``."""
    _alembic_text(
        rt,
        "merge",
        revisions=revisions,
        message=message,
        branch_label=branch_label,
        rev_id=rev_id,
        splice=splice,
    )


def edit(rt: Runtime, rev: str) -> None:
    """``alembic edit``: open a revision file in $EDITOR."""
    _alembic_text(rt, "edit", rev=rev)
