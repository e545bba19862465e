"""The process-wide hooks that give every env.py asyncmig's deploy behaviour.

This module is the only place asyncmig reaches into SQLAlchemy and Alembic:

* a ``do_connect`` listener on every :class:`~sqlalchemy.engine.Engine`, and a
  ``checkin`` listener on every :class:`~sqlalchemy.pool.Pool`;
* wrappers around :meth:`EnvironmentContext.configure`,
  :meth:`EnvironmentContext.run_migrations` and :meth:`MigrationContext.autocommit_block`;
* ``Script._from_path``, so a revision file can come from the revision index
  (:mod:`asyncmig.revindex`) when the run has one;
* ``asyncio.run`` bridged onto the running loop (:mod:`asyncmig.bridge`).

They are installed once and are inert unless a run is active in the current
context (a :class:`~contextvars.ContextVar`, which follows the run into the
greenlet, ``run_sync`` and worker threads started with ``copy_context``): any
other engine in the process connects exactly as it would without asyncmig.
What a hook does is decided by the active :class:`RunHooks`
(:class:`asyncmig.deploy.Run`).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script.base import Script
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from . import bridge


class RunHooks(Protocol):
    """What the active run does at each hook."""

    def on_connect(self, dialect: Any, cargs: Any, cparams: dict[str, Any]) -> Any: ...

    def before_configure(
        self, env: EnvironmentContext, args: tuple[Any, ...], kw: dict[str, Any]
    ) -> None: ...

    def after_configure(self) -> None: ...

    def before_run_migrations(self, env: EnvironmentContext, kw: dict[str, Any]) -> None: ...

    def after_run_migrations(self) -> None: ...

    def before_autocommit_block(self, migration_context: MigrationContext) -> None: ...

    def on_checkin(self, dbapi_connection: Any) -> None: ...


_ACTIVE: contextvars.ContextVar[RunHooks | None] = contextvars.ContextVar(
    "asyncmig_run", default=None
)
_install_lock = threading.Lock()
_installed = False


def active() -> RunHooks | None:
    """The run active in this context, if any."""
    return _ACTIVE.get()


@contextmanager
def activate(run: RunHooks) -> Iterator[None]:
    """Make ``run`` the active run in this context, installing the hooks on first use."""
    install()
    token = _ACTIVE.set(run)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def install() -> None:
    """Install every hook, once per process."""
    global _installed
    with _install_lock:
        if _installed:
            return
        bridge.install()
        event.listen(Engine, "do_connect", _do_connect)
        event.listen(Pool, "checkin", _checkin)
        original_configure = EnvironmentContext.configure
        original_run = EnvironmentContext.run_migrations
        original_autocommit = MigrationContext.autocommit_block
        original_from_path = Script._from_path

        def configure(self: EnvironmentContext, *args: Any, **kw: Any) -> None:
            run = _ACTIVE.get()
            if run is not None:
                run.before_configure(self, args, kw)
            original_configure(self, *args, **kw)
            if run is not None:
                run.after_configure()

        def run_migrations(self: EnvironmentContext, **kw: Any) -> None:
            run = _ACTIVE.get()
            if run is not None:
                run.before_run_migrations(self, kw)
            original_run(self, **kw)
            if run is not None:
                run.after_run_migrations()

        def autocommit_block(self: MigrationContext) -> Any:
            run = _ACTIVE.get()
            if run is not None:
                run.before_autocommit_block(self)  # before the block commits anything
            return original_autocommit(self)

        def from_path(cls: type[Script], scriptdir: Any, path: Any) -> Script | None:
            run = _ACTIVE.get()
            index = getattr(run, "revision_index", None)
            if index is None:
                return original_from_path(scriptdir, path)
            return index.script(original_from_path, scriptdir, path)  # type: ignore[no-any-return]

        configure.__doc__ = original_configure.__doc__
        run_migrations.__doc__ = original_run.__doc__
        autocommit_block.__doc__ = original_autocommit.__doc__
        EnvironmentContext.configure = configure  # type: ignore[method-assign]
        EnvironmentContext.run_migrations = run_migrations  # type: ignore[method-assign]
        MigrationContext.autocommit_block = autocommit_block  # type: ignore[method-assign]
        Script._from_path = classmethod(from_path)  # type: ignore[method-assign, assignment]
        _installed = True


def _do_connect(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> Any:
    run = _ACTIVE.get()
    if run is None:
        return None  # not our run: SQLAlchemy connects as usual
    return run.on_connect(dialect, cargs, cparams)


def _checkin(dbapi_connection: Any, connection_record: Any) -> None:
    run = _ACTIVE.get()
    if run is not None and dbapi_connection is not None:
        run.on_checkin(dbapi_connection)
