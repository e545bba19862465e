"""One Alembic command at a time in a process.

Alembic's ``context`` and ``op`` are module-level proxies: two commands running
at once in one process would configure each other's migration context. This
module owns the lock that serialises them, in the two forms its callers need:
a blocking one for the CLI (:func:`held`) and a polling one for the async API,
which must not stall its event loop (:func:`acquire`, :func:`run_in_thread`).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_LOCK = threading.Lock()
_POLL = 0.01


@contextmanager
def held() -> Iterator[None]:
    """Hold the lock for a block (blocking until it is free)."""
    with _LOCK:
        yield


def locked() -> bool:
    """Whether a command holds the lock now."""
    return _LOCK.locked()


async def acquire() -> None:
    """Take the lock without blocking the event loop (a cancelled wait takes nothing)."""
    # Poll rather than block: a blocked acquire would stall the loop, and an acquire in
    # a thread could not be cancelled cleanly.
    while not _LOCK.acquire(blocking=False):
        await asyncio.sleep(_POLL)


def release() -> None:
    _LOCK.release()


async def run_in_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a worker thread that releases the lock (taken by :func:`acquire`).

    A thread cannot be stopped midway: if the awaiting task is cancelled, the run
    goes on to its end (its result discarded) and keeps the lock until then, so
    no other migration in this process can start beside it.
    """
    started = False

    def work() -> T:
        nonlocal started
        started = True
        try:
            return fn()
        finally:
            release()

    def settle(future: asyncio.Future[T]) -> None:
        if not started:  # never ran (executor shut down): the lock is still ours
            release()
        if not future.cancelled():
            future.exception()  # retrieved, so an abandoned failure is not logged as lost

    loop = asyncio.get_running_loop()
    try:
        future = loop.run_in_executor(None, contextvars.copy_context().run, work)
    except BaseException:
        release()
        raise
    future.add_done_callback(settle)
    return await asyncio.shield(future)
