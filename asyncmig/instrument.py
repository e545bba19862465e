"""Hooks that give every env.py (asyncmig's or plain ``alembic init -t async``) the
deploy-step behaviour: wait for the database, take the migration lock, set
PostgreSQL safety timeouts, and report each applied revision.

Two hooks are installed once per process and stay inert unless a run is active
in the current context (a :class:`contextvars.ContextVar`, which follows the
run into ``asyncio.run``, ``asyncio.to_thread`` and ``run_sync`` greenlets):

* a ``do_connect`` listener on every engine: the single connection env.py
  opens is retried with backoff until ``wait_timeout``;
* a wrapper around ``EnvironmentContext.configure``: whatever connection env.py
  configures gets the lock and the timeouts before the version table is read,
  and ``on_version_apply`` reports each step (Alembic runs the steps itself).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from alembic.runtime.environment import EnvironmentContext
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine

from . import locks
from .dbwait import connect_with_retry
from .results import Step
from .urls import mask_url


class Events(Protocol):
    """Where a run reports what happens; the CLI prints, the API is silent by default."""

    def notice(self, message: str) -> None: ...

    def step(self, step: Step, index: int, total: int | None) -> None: ...


class SilentEvents:
    """The API's default: report nothing."""

    def notice(self, message: str) -> None:
        pass

    def step(self, step: Step, index: int, total: int | None) -> None:
        pass


@dataclass
class RunState:
    """Everything one command run learns and holds; lives in a ContextVar."""

    events: Events
    wait_timeout: float
    lock_timeout: float | None
    statement_timeout: float | None = None
    pg_lock_timeout: float | None = None
    quiet: bool = False
    planned: list[Any] = field(default_factory=list)
    start_heads: tuple[str, ...] | None = None
    final_heads: tuple[str, ...] | None = None
    applied: list[Step] = field(default_factory=list)
    held: list[locks.HeldLock] = field(default_factory=list)
    offline_buffer: IO[str] | None = None
    _prepared: set[int] = field(default_factory=set)
    _tick: float = 0.0
    _buffer_mark: int = 0

    @property
    def failing_step(self) -> Any | None:
        """The step being applied when an error surfaced, if any."""
        index = len(self.applied)
        return self.planned[index] if index < len(self.planned) else None

    def release(self) -> None:
        """Release every lock still held, even if releasing one fails."""
        from sqlalchemy.exc import SQLAlchemyError

        while self.held:
            held = self.held.pop()
            # A broken connection cannot unlock, but its session (and lock) is gone with it.
            with contextlib.suppress(SQLAlchemyError, OSError):
                held.release()


_ACTIVE: contextvars.ContextVar[RunState | None] = contextvars.ContextVar(
    "asyncmig_run", default=None
)
_install_lock = threading.Lock()
_installed = False


@contextmanager
def activate(state: RunState) -> Iterator[RunState]:
    """Make ``state`` the active run in this context, installing the hooks on first use."""
    install()
    token = _ACTIVE.set(state)
    try:
        yield state
    finally:
        _ACTIVE.reset(token)
        state.release()


def install() -> None:
    """Install both hooks, once per process."""
    global _installed
    with _install_lock:
        if _installed:
            return
        event.listen(Engine, "do_connect", _do_connect)
        original = EnvironmentContext.configure

        def configure(self: EnvironmentContext, *args: Any, **kw: Any) -> None:
            state = _ACTIVE.get()
            if state is not None:
                _before_configure(state, self, args, kw)
            original(self, *args, **kw)

        configure.__doc__ = original.__doc__
        EnvironmentContext.configure = configure  # type: ignore[method-assign]
        _installed = True


def _do_connect(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> Any:
    state = _ACTIVE.get()
    if state is None:
        return None  # not our run: SQLAlchemy connects as usual
    return connect_with_retry(
        lambda: dialect.connect(*cargs, **cparams),
        timeout=state.wait_timeout,
        target=mask_url(_describe_target(dialect, cargs, cparams)),
        on_wait=state.events.notice,
        sleep=locks.sleep,
    )


def _describe_target(dialect: Any, cargs: Any, cparams: dict[str, Any]) -> str:
    name = dialect.name
    if name == "sqlite":
        return f"sqlite file {cargs[0] if cargs else cparams.get('database', '')}"
    host = cparams.get("host") or ""
    port = cparams.get("port")
    where = f"{host}:{port}" if port else str(host)
    database = cparams.get("database") or cparams.get("db") or cparams.get("dbname")
    return f"{name} server {where}" + (f" database {database}" if database else "")


def _before_configure(
    state: RunState, env: EnvironmentContext, args: tuple[Any, ...], kw: dict[str, Any]
) -> None:
    callbacks = kw.get("on_version_apply") or ()
    if callable(callbacks):
        callbacks = (callbacks,)
    kw["on_version_apply"] = (*callbacks, _version_applied(state))
    fn = env.context_opts.get("fn")
    if fn is not None and not getattr(fn, "_asyncmig", False):
        env.context_opts["fn"] = _record_plan(state, fn)
    if state.quiet:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    if env.is_offline_mode():
        buffer = kw.get("output_buffer") or env.config.output_buffer
        state.offline_buffer = buffer
        state._buffer_mark = _position(buffer)
        return
    connection = kw.get("connection", args[0] if args else None)
    if isinstance(connection, Connection) and id(connection) not in state._prepared:
        state._prepared.add(id(connection))
        _prepare_connection(
            state,
            connection,
            kw.get("version_table", "alembic_version"),
            kw.get("version_table_schema"),
        )


def _prepare_connection(
    state: RunState, connection: Connection, version_table: str, schema: str | None
) -> None:
    """Timeouts first (so a stuck lock query is bounded too), then the lock."""
    if connection.dialect.name == "postgresql":
        began = not connection.in_transaction()
        for name, seconds in (
            ("statement_timeout", state.statement_timeout),
            ("lock_timeout", state.pg_lock_timeout),
        ):
            if seconds is not None:
                connection.execute(text(f"SET {name} = {int(seconds * 1000)}"))
        if began and connection.in_transaction():
            connection.commit()
    if state.lock_timeout is not None:
        held = locks.acquire(
            connection,
            locks.lock_name(version_table, schema),
            state.lock_timeout,
            state.events.notice,
        )
        if held is not None:
            state.held.append(held)


def _record_plan(state: RunState, fn: Callable[..., Any]) -> Callable[..., Any]:
    def planned(rev: Any, context: Any) -> Any:
        steps = fn(rev, context)
        if isinstance(steps, list):
            state.planned = list(steps)
        state.start_heads = tuple(rev) if isinstance(rev, (tuple, list)) else ()
        state.final_heads = state.start_heads
        state._tick = time.perf_counter()
        return steps

    planned._asyncmig = True  # type: ignore[attr-defined]
    return planned


def _position(buffer: IO[str] | None) -> int:
    try:
        return buffer.tell() if buffer is not None else 0
    except (OSError, ValueError):
        return 0


def _version_applied(state: RunState) -> Callable[..., None]:
    def on_version_apply(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        now = time.perf_counter()
        duration, state._tick = now - state._tick, now
        sql = None
        buffer = state.offline_buffer
        if buffer is not None and hasattr(buffer, "getvalue"):
            text_so_far = buffer.getvalue()
            sql, state._buffer_mark = text_so_far[state._buffer_mark :], len(text_so_far)
        direction = "stamp" if step.is_stamp else "upgrade" if step.is_upgrade else "downgrade"
        up = step.up_revision
        revision = step.up_revision_id or ",".join(step.up_revision_ids) or "base"
        applied = Step(
            revision=revision,
            from_revisions=tuple(step.source_revision_ids),
            to_revisions=tuple(step.destination_revision_ids),
            message=(up.doc if up is not None else "") or "",
            direction=direction,
            duration=duration,
            sql=sql,
        )
        state.applied.append(applied)
        state.final_heads = tuple(sorted(heads))
        if buffer is None:
            state.events.step(applied, len(state.applied), len(state.planned) or None)

    return on_version_apply
