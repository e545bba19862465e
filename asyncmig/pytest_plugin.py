"""asyncmig's pytest plugin (entry point ``pytest11``): fixtures to test migrations.

* ``asyncmig_config``: the options every other fixture resolves the project from
  (:class:`asyncmig.options.Options`, as the async API takes them); by default the
  project at pytest's rootdir. Override it to point elsewhere::

      @pytest.fixture
      def asyncmig_config():
          return {"config": "backend/alembic.ini"}

* ``asyncmig_scratch_url``: None, so the runner makes a scratch database (a SQLite
  file, or a temporary database beside the project's PostgreSQL/MariaDB one);
  override it to return a URL of an empty database of your own.
* ``asyncmig_runner``: an :class:`asyncmig.testing.Runner` on that scratch database.
* ``migrated_db`` (async, needs pytest-asyncio): an ``AsyncEngine`` on the scratch
  database upgraded to head.

Loaded in every pytest run where asyncmig is installed, so it imports nothing heavy
until a fixture is used.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from .testing import Runner


@pytest.fixture
def asyncmig_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The options the project is resolved from (default: the project at the rootdir)."""
    return {"cwd": str(request.config.rootpath)}


@pytest.fixture
def asyncmig_scratch_url() -> str | None:
    """An empty database to run on; None makes a scratch database per test."""
    return None


@pytest.fixture
def asyncmig_runner(
    asyncmig_config: dict[str, Any],
    asyncmig_scratch_url: str | None,
    tmp_path: Any,
) -> Iterator[Runner]:
    """The project's migrations on a scratch database, removed after the test."""
    from .testing import Runner

    runner = Runner(asyncmig_config, scratch_url=asyncmig_scratch_url, directory=str(tmp_path))  # type: ignore[arg-type]
    try:
        yield runner
    finally:
        runner.close()


async def _migrated_db(asyncmig_runner: Runner) -> AsyncIterator[AsyncEngine]:
    """An AsyncEngine on the scratch database, upgraded to head, disposed after."""
    await asyncmig_runner.upgrade("heads")
    engine = asyncmig_runner.engine()
    try:
        yield engine
    finally:
        await engine.dispose()


def _needs_pytest_asyncio() -> None:
    pytest.fail("the migrated_db fixture needs pytest-asyncio (pip install pytest-asyncio)")


migrated_db: Any
if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    migrated_db = pytest_asyncio.fixture(_migrated_db, name="migrated_db")
else:  # pragma: no cover
    migrated_db = pytest.fixture(_needs_pytest_asyncio, name="migrated_db")
