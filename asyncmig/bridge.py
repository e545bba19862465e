"""Run Alembic's synchronous code on async drivers, whatever env.py looks like.

SQLAlchemy's own greenlet bridge makes this possible: inside
``await greenlet_spawn(fn)`` plain sync code (``create_engine("postgresql+asyncpg://")``,
``engine_from_config``, Alembic's ``multidb`` template) connects and queries
through an async driver, because every driver call is awaited on the loop
beneath. So every Alembic command runs as ``greenlet_spawn(command)`` on an
event loop, and env.py files of every kind work unchanged:

* sync env.py files get async drivers for free;
* async env.py files call ``asyncio.run(...)`` (Alembic's ``async`` template),
  which refuses to run inside a running loop; while a command runs, that call is
  served by awaiting the coroutine on the loop already running (:func:`patched_asyncio_run`);
* code that already runs inside a greenlet (``AsyncConnection.run_sync``, the
  API's ``connection=``) is called as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.util import concurrency, greenlet_spawn

if TYPE_CHECKING:
    from .watchdog import Watchdog

# SQLAlchemy 2.1 renamed await_only to await_ (the old name goes in 2.2).
_await: Callable[[Any], Any] = getattr(concurrency, "await_", None) or concurrency.await_only
in_greenlet: Callable[[], bool] = concurrency.in_greenlet

T = TypeVar("T")

#: Set while asyncmig runs a command in this context: only then is ``asyncio.run`` bridged.
_BRIDGED: contextvars.ContextVar[bool] = contextvars.ContextVar("asyncmig_bridged", default=False)
_original_run = asyncio.run
_install_lock = threading.Lock()


def await_(awaitable: Any) -> Any:
    """Await from sync code running inside :func:`call` (SQLAlchemy's ``await_``)."""
    return _await(awaitable)


def spawn(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Coroutine[Any, Any, T]:
    """``fn(*args, **kwargs)`` in a greenlet of its own, as an awaitable (``greenlet_spawn``)."""
    return greenlet_spawn(fn, *args, **kwargs)


def _bridged_run(main: Coroutine[Any, Any, T], **kwargs: Any) -> T:
    """``asyncio.run`` as env.py sees it during a command: await on the running loop."""
    if _BRIDGED.get() and in_greenlet():
        result: T = _await(main)
        return result
    return _original_run(main, **kwargs)


def install() -> None:
    """Route ``asyncio.run`` through :func:`_bridged_run` (inert outside asyncmig's runs)."""
    with _install_lock:
        if asyncio.run is not _bridged_run:
            asyncio.run = _bridged_run


@contextmanager
def _bridged() -> Iterator[None]:
    token = _BRIDGED.set(True)
    try:
        yield
    finally:
        _BRIDGED.reset(token)


def call(fn: Callable[[], T], *, watchdog: Watchdog | None = None) -> T:
    """Run ``fn()`` where it can use async drivers from sync code.

    Inside a greenlet already (``run_sync``): directly. In a thread with no running
    loop (the CLI, the API's worker thread): on a fresh loop of its own, where
    ``watchdog`` (if any) bounds the database awaits. A thread whose loop is running
    cannot block on it, and gets a clear error.
    """
    install()
    with _bridged():
        if in_greenlet():
            return fn()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return _run_on_new_loop(fn, watchdog)
        raise RuntimeError(
            "asyncmig cannot block a running event loop: await the async API instead"
        )


def _run_on_new_loop(fn: Callable[[], T], watchdog: Watchdog | None = None) -> T:
    """``greenlet_spawn(fn)`` on a private loop that unwinds cleanly on Ctrl-C and SIGTERM.

    A signal raised while the loop waits on I/O leaves the command suspended at
    its ``await``: the task is then cancelled and run to its end, so env.py's
    ``with`` blocks roll the transaction back and close the connection before
    the signal's exception continues. A run whose ``watchdog`` gave up on the
    database (it cancels the waiting task) ends in the watchdog's error.
    """
    loop = asyncio.new_event_loop()
    # env.py files that find this loop running and call ``run_until_complete`` on it, or
    # schedule their migrations with ``create_task`` and return (the task would run after
    # Alembic tore its context down, and its errors would be lost), run them to the end
    # where they stand instead.
    setattr(loop, "run_until_complete", _reentrant(loop, loop.run_until_complete))  # noqa: B010
    setattr(loop, "create_task", _awaited_task(loop, loop.create_task))  # noqa: B010
    task = loop.create_task(greenlet_spawn(fn))
    if watchdog is not None:
        watchdog.start(loop)
    try:
        result = loop.run_until_complete(task)
    except BaseException as exc:
        if not task.done():
            task.cancel()
            # The original exception is the one to report.
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        lost = watchdog.error if watchdog is not None else None
        if lost is not None and not isinstance(exc, KeyboardInterrupt):  # a signal wins
            raise lost from exc
        raise
    else:
        if watchdog is not None and watchdog.error is not None:
            raise watchdog.error  # env.py swallowed it: the database still did not answer
        return result
    finally:
        if watchdog is not None:
            watchdog.stop()
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _reentrant(
    loop: asyncio.AbstractEventLoop, original: Callable[[Any], Any]
) -> Callable[[Any], Any]:
    def run_until_complete(future: Any) -> Any:
        if loop.is_running() and in_greenlet():
            return _await(future)
        return original(future)

    return run_until_complete


def _awaited_task(
    loop: asyncio.AbstractEventLoop, original: Callable[..., asyncio.Task[Any]]
) -> Callable[..., Any]:
    def create_task(coro: Any, **kwargs: Any) -> Any:
        if _BRIDGED.get() and in_greenlet():
            done: asyncio.Future[Any] = loop.create_future()
            done.set_result(_await(coro))  # an error is raised here, where env.py can see it
            return done
        return original(coro, **kwargs)

    return create_task
