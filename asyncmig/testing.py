"""Testing migrations with pytest: a runner on a scratch database, and ready-made tests.

The fixtures (``asyncmig_config``, ``asyncmig_runner``, ``migrated_db``) come from
asyncmig's pytest plugin (:mod:`asyncmig.pytest_plugin`, loaded by pytest on its own).
Import the tests into a test module to run them::

    from asyncmig.testing import test_model_match, test_single_head, test_stairway

They are async and await the runner, so they run inside pytest-asyncio's event loop;
each runs Alembic in a worker thread, as the async API does.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

from . import process_lock
from .results import RunResult
from .runner import Runtime
from .safety import scratch, stairway
from .safety.report import Problem
from .settings import resolve

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from .options import Options

T = TypeVar("T")

_F = TypeVar("_F", bound=Callable[..., Any])


def _asyncio(fn: _F) -> _F:
    """pytest-asyncio's mark (strict mode needs it); without pytest-asyncio, pytest skips
    async tests itself."""
    if importlib.util.find_spec("pytest_asyncio") is None:  # pragma: no cover
        return fn
    return cast(_F, pytest.mark.asyncio(fn))


class Runner:
    """The project's migrations on a scratch database of their own.

    The database is made as ``asyncmig verify`` makes one (a SQLite file, or a
    temporary database beside the project's PostgreSQL/MariaDB database), or is
    ``scratch_url``; :meth:`close` removes what it made. Make it outside a running
    event loop (a sync fixture); its methods are awaited.
    """

    def __init__(
        self,
        options: Options | None = None,
        *,
        scratch_url: str | None = None,
        directory: str | None = None,
    ) -> None:
        settings = resolve(options or {})
        made = scratch.make(Runtime(settings), scratch_url, directory=directory)
        self.scratch = made
        self._rt = scratch.runtime_on(Runtime(settings, locked=True), made)

    @property
    def url(self) -> str:
        """The scratch database's URL, password included (for engines)."""
        return self.scratch.url.render()

    def engine(self, **kwargs: Any) -> AsyncEngine:
        """An AsyncEngine on the scratch database (URL parameters translated as asyncmig does)."""
        from sqlalchemy import event
        from sqlalchemy.ext.asyncio import create_async_engine

        from .connparams import do_connect_listener

        engine = create_async_engine(self.scratch.url.url, **kwargs)
        event.listen(engine.sync_engine, "do_connect", do_connect_listener)
        return engine

    async def _call(self, fn: Callable[[Runtime], T]) -> T:
        await process_lock.acquire()
        return await process_lock.run_in_thread(lambda: fn(self._rt))

    async def upgrade(self, revision: str = "heads") -> RunResult:
        from . import commands

        return await self._call(lambda rt: commands.upgrade(rt, revision))

    async def downgrade(self, revision: str) -> RunResult:
        from . import commands

        return await self._call(lambda rt: commands.downgrade(rt, revision))

    async def current(self) -> tuple[str, ...]:
        from . import commands

        return (await self._call(commands.current)).current

    async def stairway(self) -> stairway.Stairway:
        """Every revision up, down and up again (the database must be empty)."""

        def run(rt: Runtime) -> stairway.Stairway:
            stairway.probe(rt, self.scratch)
            return stairway.stairway(rt, self.scratch)

        return await self._call(run)

    async def model_diff(self) -> tuple[str, ...] | None:
        """What autogenerate would write against the database as it is (None: env.py gives
        no target_metadata)."""
        return await self._call(stairway.model_diff)

    def close(self) -> None:
        self.scratch.remove()


def _fail(problem: Problem) -> None:
    details = "".join(f"\n    {line}" for line in problem.details)
    pytest.fail(f"{problem.message}{details}", pytrace=False)


@_asyncio
async def test_stairway(asyncmig_runner: Runner) -> None:
    """Every revision upgrades, downgrades and upgrades again, base first."""
    result = await asyncmig_runner.stairway()
    if result.problem is not None:
        _fail(result.problem)


@_asyncio
async def test_model_match(asyncmig_runner: Runner) -> None:
    """At head, autogenerate finds no difference between the models and the schema."""
    await asyncmig_runner.upgrade("heads")
    diff = await asyncmig_runner.model_diff()
    if diff is None:
        pytest.skip("env.py gives no target_metadata: nothing to compare")
    if diff:
        _fail(Problem("model-match", "the models differ from the migrated schema", details=diff))


@_asyncio
async def test_single_head(asyncmig_runner: Runner) -> None:
    """The history has one head (no unmerged branches)."""
    from . import commands

    heads = [script.revision for script in await asyncmig_runner._call(commands.heads)]
    if len(heads) > 1:
        pytest.fail(f"the history has {len(heads)} heads ({', '.join(heads)}): merge them",
                    pytrace=False)  # fmt: skip
