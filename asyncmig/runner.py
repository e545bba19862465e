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
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from contextlib import nullcontext as _nothing
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from . import bridge, hooks, process_lock
from .alembic_config import AsyncmigConfig, SectionReader, build_config
from .cmdopts import alembic_namespace
from .deploy import Run, RunConfig
from .errors import AsyncmigError, ConfigError, RolledBack
from .events import Events, SilentEvents
from .failures import revision_graph_errors, translate
from .results import DatabaseResult, RunResult
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
    #: A fleet's schema target (:mod:`asyncmig.fleet`): the run's ``search_path`` and
    #: ``version_table_schema`` (PostgreSQL).
    schema: str | None = None
    #: Records what env.py does for the no-op fast path (the CLI sets it; see
    #: :mod:`asyncmig.fastpath_record`).
    recorder: Any = None


@contextmanager
def _process_lock(rt: Runtime) -> Iterator[None]:
    if rt.locked:  # the API took it, without blocking its event loop
        yield
        return
    with process_lock.held():
        yield


def execute(
    rt: Runtime,
    name: str,
    call: Callable[[AsyncmigConfig], T],
    *,
    alembic: str,
    arguments: Mapping[str, Any],
    writes: bool = False,
    output_buffer: TextIO | None = None,
    release_revisions: bool = False,
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
            schema=rt.schema,
            release_revisions=release_revisions,
        ),
        external=rt.connection,
    )
    recorder = rt.recorder if rt.connection is None else None
    run.recorder = recorder
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
            with recorder.capturing() if recorder is not None else _nothing():
                value = call(config)
        finally:
            try:
                run.release(failed=sys.exc_info()[1] is not None)
                if writes:
                    run.verify()
            finally:
                run.restore_logging()
                if run.revision_index is not None:
                    run.revision_index.save()
        if recorder is not None:
            with suppress(Exception):  # a recording that cannot be stored is no failure
                recorder.save(run, config, rt.secrets)
        return value

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


def migrate(
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
        _, run = execute(
            rt,
            name,
            fn,
            alembic=name,
            arguments={**arguments, "sql": sql},
            writes=not sql,
            output_buffer=buffer,
            release_revisions=True,
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


def read_heads(config: AsyncmigConfig, script: ScriptDirectory) -> tuple[str, ...]:
    """The database's current revisions, read through env.py exactly as ``alembic current``."""
    found: list[tuple[str, ...]] = []

    def record(rev: Any, context: Any) -> list[Any]:
        found.append(tuple(context.get_current_heads()))
        return []

    with EnvironmentContext(config, script, fn=record, dont_mutate=True):
        script.run_env()
    return found[0] if found else ()
