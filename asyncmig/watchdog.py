"""A client-side bound on every database await of a run (``--statement-timeout S``).

A server that stops answering mid-migration (a network partition, a proxy or
pooler that keeps the TCP connection open but forwards nothing) leaves the driver
waiting forever: asyncpg and asyncmy have no default read timeout, psycopg none at
all, and TCP keepalives never fire while a middlebox ACKs. The server's own
``statement_timeout`` cannot help either: its answer never arrives.

The :class:`Watchdog` watches the greenlet switches of the run's thread
(``greenlet.settrace``, restored afterwards; nothing in SQLAlchemy is patched). A
switch out of one of SQLAlchemy's greenlets from its ``await_``, called by a DBAPI
adapter of a server dialect (asyncpg, psycopg, asyncmy: not SQLite), starts a
database await; the switch back into that greenlet ends it. A timer on the run's
loop cancels the task of any await older than the bound, then again every
:data:`GRACE` seconds (psycopg answers a first cancel with up to 10 s of its own
cancel dance, a second one closes at once). Once it has fired, every later
database await of the run (rollback, close) gets :data:`GRACE` only: local clean-up
finishes, nobody waits for the peer. The run then ends in :class:`DeadConnection`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import greenlet

#: What the client adds to the server's statement_timeout: time for its error to arrive.
MARGIN = 2.0
#: The bound of every database await once the run has given up, and between cancels.
GRACE = 0.5
#: How often the timer looks at the awaits in flight.
TICK = 0.1

_ADAPTERS = ("sqlalchemy.dialects.", "sqlalchemy.connectors.")
_NOT_A_SERVER = "sqlalchemy.dialects.sqlite."
_MACHINERY = ("asyncio.", "sqlalchemy.util.", "asyncmig.bridge")
_DEPTH = 8


class DeadConnection(Exception):
    """The database did not answer an await of the run within the bound."""


@dataclass
class _Await:
    since: float
    task: asyncio.Task[Any] | None


def _database_await(suspended: greenlet.greenlet) -> bool:
    """Whether ``suspended`` stopped in ``await_`` for a server dialect's DBAPI adapter.

    The first frame below ``await_`` that is not await machinery (asyncio, SQLAlchemy's
    own utilities, asyncmig's bridge, which serves ``asyncio.shield`` in place) says
    who is waiting.
    """
    frame = suspended.gr_frame
    if frame is None or frame.f_code.co_name not in ("await_", "await_only"):
        return False
    caller = frame.f_back
    for _ in range(_DEPTH):
        if caller is None:
            return False
        module = str(caller.f_globals.get("__name__", ""))
        if not module.startswith(_MACHINERY):
            break
        caller = caller.f_back
    else:
        return False
    if module.startswith("sqlalchemy.connectors."):
        # The shared adapter base classes: the dialect is the one of the object they serve.
        owner = caller.f_locals.get("self")
        module = type(owner).__module__ if owner is not None else module
    return module.startswith(_ADAPTERS) and not module.startswith(_NOT_A_SERVER)


class Watchdog:
    """Bounds the database awaits of one run to ``bound`` seconds; see the module doc."""

    def __init__(self, bound: float) -> None:
        self.bound = bound
        #: Set once the bound expired: the error the run ends with.
        self.error: DeadConnection | None = None
        self._pending: dict[greenlet.greenlet, _Await] = {}
        self._exempt: set[greenlet.greenlet] = set()
        self._previous: Callable[[str, Any], Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def fired(self) -> bool:
        return self.error is not None

    @contextmanager
    def exempt(self) -> Iterator[None]:
        """Awaits of the current greenlet are not bounded here (connecting has its own bound)."""
        current = greenlet.getcurrent()
        self._exempt.add(current)
        try:
            yield
        finally:
            self._exempt.discard(current)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Watch this thread's switches and check them on ``loop`` (the run's own loop)."""
        self._loop = loop
        self._previous = greenlet.settrace(self._trace)
        self._timer = loop.call_later(TICK, self._tick)

    def stop(self) -> None:
        greenlet.settrace(self._previous)
        self._previous = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()

    # -- internals ------------------------------------------------------------------------
    def _trace(self, event: str, args: tuple[greenlet.greenlet, greenlet.greenlet]) -> None:
        # Called after each switch, in the target greenlet; it must never raise.
        origin, target = args
        try:
            self._pending.pop(target, None)
            if (
                getattr(origin, "__sqlalchemy_greenlet_provider__", False)
                and not origin.dead
                and origin.parent is target
                and origin not in self._exempt
                and _database_await(origin)
            ):
                self._pending[origin] = _Await(time.monotonic(), asyncio.current_task())
        except Exception:  # a trace function that raises is removed by greenlet
            pass
        if self._previous is not None:
            self._previous(event, args)

    def _tick(self) -> None:
        now = time.monotonic()
        limit = GRACE if self.fired else self.bound
        for suspended, pending in list(self._pending.items()):
            if suspended.dead:
                del self._pending[suspended]
            elif now - pending.since >= limit:
                if self.error is None:
                    self.error = DeadConnection(f"no answer from the database for {self.bound:g} s")
                pending.since = now  # cancelled again after GRACE if still waiting
                if pending.task is not None:
                    pending.task.cancel()
        if self._loop is not None and self._timer is not None:
            self._timer = self._loop.call_later(TICK, self._tick)
