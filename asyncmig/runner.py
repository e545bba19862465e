"""The synchronous core: each function runs one Alembic command for resolved settings.

The CLI calls these directly (the migration runs in the main thread, so Ctrl-C
and SIGTERM unwind it); the async API in :mod:`asyncmig.api` awaits the same
functions in a worker thread or inside ``AsyncConnection.run_sync``.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TextIO, TypeVar

from alembic import command
from alembic.runtime.environment import EnvironmentContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine import Connection

from .alembic_config import AsyncmigConfig, build_config
from .failures import revision_graph_errors, translate
from .instrument import Events, RunState, SilentEvents, activate
from .results import Plan, RunResult, Status, Step
from .settings import Settings

T = TypeVar("T")

#: Alembic's ``context`` and ``op`` are module-level proxies: one command at a time per process.
PROCESS_LOCK = threading.Lock()


@dataclass
class Runtime:
    """How to run: resolved settings plus where output goes and an optional shared connection."""

    settings: Settings
    events: Events = field(default_factory=SilentEvents)
    stdout: TextIO = field(default_factory=io.StringIO)
    quiet: bool = False
    connection: Connection | None = None
    #: Set by the API when it already holds :data:`PROCESS_LOCK`.
    locked: bool = False


@contextmanager
def _process_lock(rt: Runtime) -> Iterator[None]:
    if rt.locked:
        yield
        return
    with PROCESS_LOCK:
        yield


def make_config(rt: Runtime, output_buffer: TextIO | None = None) -> AsyncmigConfig:
    attributes = {"connection": rt.connection} if rt.connection is not None else None
    return build_config(
        rt.settings,
        stdout=rt.stdout,
        output_buffer=output_buffer,
        attributes=attributes,
        quiet=rt.quiet,
    )


def _execute(
    rt: Runtime,
    name: str,
    call: Callable[[AsyncmigConfig], T],
    *,
    writes: bool = False,
    online: bool = True,
    output_buffer: TextIO | None = None,
) -> tuple[T, RunState]:
    """Run ``call(config)`` with the hooks active; every failure leaves as an AsyncmigError."""
    settings = rt.settings
    if (online and rt.connection is None) or output_buffer is not None:
        settings.require_url()
    state = RunState(
        events=rt.events,
        wait_timeout=settings.wait_timeout,
        lock_timeout=settings.lock_timeout if writes else None,
        statement_timeout=settings.statement_timeout,
        pg_lock_timeout=settings.pg_lock_timeout,
        quiet=rt.quiet,
    )
    with _process_lock(rt), activate(state):
        try:
            with revision_graph_errors():
                return call(make_config(rt, output_buffer)), state
        except BaseException as exc:
            if isinstance(exc, (SystemExit, GeneratorExit, asyncio.CancelledError)):
                raise  # exits and cancellations are not failures of the run
            raise translate(exc, command=name, failing_step=state.failing_step) from exc


def _migrate(
    rt: Runtime, name: str, target: str, sql: bool, fn: Callable[[AsyncmigConfig], None]
) -> RunResult:
    buffer = rt.stdout if sql else None
    started = time.perf_counter()
    _, state = _execute(rt, name, fn, writes=not sql, online=not sql, output_buffer=buffer)
    return RunResult(
        command=name,
        target=target,
        from_revisions=state.start_heads or (),
        to_revisions=state.final_heads or (),
        steps=tuple(state.applied),
        duration=time.perf_counter() - started,
    )


def upgrade(
    rt: Runtime, revision: str = "head", *, sql: bool = False, tag: str | None = None
) -> RunResult:
    """``alembic upgrade``: apply revisions up to ``revision``."""
    return _migrate(
        rt, "upgrade", revision, sql, lambda c: command.upgrade(c, revision, sql=sql, tag=tag)
    )


def downgrade(
    rt: Runtime, revision: str, *, sql: bool = False, tag: str | None = None
) -> RunResult:
    """``alembic downgrade``: revert revisions down to ``revision``."""
    return _migrate(
        rt, "downgrade", revision, sql, lambda c: command.downgrade(c, revision, sql=sql, tag=tag)
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
    )


def ensure_version(rt: Runtime, *, sql: bool = False) -> None:
    """``alembic ensure_version``: create the version table if it is missing."""
    _execute(
        rt,
        "ensure-version",
        lambda c: command.ensure_version(c, sql=sql),
        writes=not sql,
        online=not sql,
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

    return _execute(rt, "current", call)[0]


def print_current(rt: Runtime, *, verbose: bool = False, check_heads: bool = False) -> None:
    """``alembic current`` with Alembic's own output."""
    _execute(rt, "current", lambda c: command.current(c, check_heads=check_heads, verbose=verbose))


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

    return _execute(rt, "status", call)[0]


def plan(rt: Runtime, target: str = "head") -> Plan:
    """Read the current revision online, then render the upgrade's SQL offline."""
    current_heads = current(rt)
    if len(current_heads) > 1:
        from .errors import ConfigError

        raise ConfigError(
            f"the database has several heads ({', '.join(current_heads)}); plan needs one: "
            "merge them or upgrade each branch"
        )
    start = current_heads[0] if current_heads else None
    buffer = io.StringIO()

    def render(config: AsyncmigConfig) -> list[Step]:
        script = ScriptDirectory.from_config(config)
        pending = _pending(script, current_heads, target)
        if pending:
            spec = f"{start}:{target}" if start else target
            command.upgrade(config, spec, sql=True)
        return list(pending)

    pending, state = _execute(rt, "plan", render, online=False, output_buffer=buffer)
    steps = tuple(state.applied) if state.applied else tuple(pending)
    return Plan(current=current_heads, target=target, steps=steps, sql=buffer.getvalue())


def check(rt: Runtime) -> None:
    """``alembic check``: raise PendingMigrations on model drift or a database behind head."""
    # Its only output is the all-clear notice, which -q hides: the exit code is the answer.
    _execute(replace(rt, stdout=io.StringIO()) if rt.quiet else rt, "check", command.check)


def revision(
    rt: Runtime, *, autogenerate: bool = False, sql: bool = False, **kwargs: Any
) -> list[Script]:
    """``alembic revision``; online only with ``--autogenerate``."""

    def call(config: AsyncmigConfig) -> list[Script]:
        result = command.revision(config, autogenerate=autogenerate, sql=sql, **kwargs)
        if result is None:
            return []
        scripts = result if isinstance(result, list) else [result]
        return [s for s in scripts if s is not None]

    return _execute(rt, "revision", call, online=autogenerate and not sql)[0]


def offline(rt: Runtime, name: str, call: Callable[[AsyncmigConfig], T]) -> T:
    """Commands that only read the scripts: history, heads, branches, show, merge, edit."""
    return _execute(rt, name, call, online=False)[0]


def run_online(rt: Runtime, name: str, call: Callable[[AsyncmigConfig], T]) -> T:
    """Any other command that reads the database (``history -i``, ``show current``)."""
    return _execute(rt, name, call)[0]


def parse_range(rev_range: str | None) -> tuple[str, str]:
    """``[start]:[end]`` as ``alembic history -r`` reads it."""
    if rev_range is None:
        return "base", "heads"
    if ":" not in rev_range:
        from .errors import ConfigError

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

    return _execute(rt, "history", call, online=online)[0]


def head_scripts(rt: Runtime, *, resolve_dependencies: bool = False) -> list[Script]:
    """The head revisions of the scripts (no database needed)."""

    def call(config: AsyncmigConfig) -> list[Script]:
        script = ScriptDirectory.from_config(config)
        heads = script.get_heads(consider_depends_on=resolve_dependencies)
        return [s for s in script.get_revisions(heads) if s is not None]

    return offline(rt, "heads", call)
