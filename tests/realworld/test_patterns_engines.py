"""env.py files that find their URL and build their engine their own way (catalogue:
docs in the test names' docstrings), compared with plain alembic on fresh databases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .builders import pattern_project
from .harness import RUNNERS, Comparison, Side, same_env, url_in_ini

Compare = Callable[..., Comparison]
Generated = Callable[[str], Path]


def pattern(generated: Generated, name: str, **history: object) -> Callable[[Path], Path]:
    return lambda path: pattern_project(generated("generic"), path, name, **history)


def test_settings_url_escaped_for_configparser(compare: Compare, generated: Generated) -> None:
    """URL from the app's settings, ``%`` doubled before ``set_main_option`` (Mealie
    mealie/alembic/env.py, Polar server/migrations/env.py, Redash migrations/env.py);
    the password is URL-encoded (``p%40ss%25w0rd``) and the env.py uses a sync driver."""
    cmp = compare(
        pattern(generated, "settings_escaped"),
        same_env(form="provider", password="p%40ss%25w0rd"),
        runners=RUNNERS,
    )
    cmp.step("upgrade", "head")
    cmp.assert_same_stdout(cmp.run("current"), "of current")


def test_settings_url_unescaped(compare: Compare, generated: Generated) -> None:
    """``set_main_option`` with the settings' URL as it is (Netflix Dispatch
    src/dispatch/database/revisions/core/env.py)."""
    cmp = compare(
        pattern(generated, "settings_unescaped"), same_env(form="provider", password="s3cret")
    )
    cmp.step("upgrade", "head")


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_env_py_converts_provider_url_to_async(
    dialect: str, compare: Compare, generated: Generated
) -> None:
    """env.py swaps ``postgres://`` for ``postgresql+asyncpg://`` itself and calls
    ``create_async_engine`` + ``asyncio.run`` (Litestar fullstack src/app/db/migrations/env.py,
    Polar; the Heroku ``postgres://`` fix-up in many apps' settings)."""
    cmp = compare(pattern(generated, "settings_async"), same_env(form="provider"), dialect=dialect)
    cmp.step("upgrade", "head")
    cmp.step("downgrade", "base")


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_create_engine_from_config_url(
    dialect: str, compare: Compare, generated: Generated
) -> None:
    """A sync env.py calling ``create_engine(config.get_main_option("sqlalchemy.url"))``
    (SQLModel-style apps; full-stack-fastapi-template backend/app/alembic/env.py uses
    ``engine_from_config`` the same way): asyncmig gets only ``DATABASE_URL``."""
    cmp = compare(pattern(generated, "create_engine"), url_in_ini("sync"), dialect=dialect)
    cmp.step("upgrade", "head")


def _sync_driver_in_config(side: Side) -> None:
    """The ini names a sync driver on every side; no DATABASE_URL. psycopg2 is not
    installed here: plain alembic uses psycopg 3 (sync), asyncmig gets the psycopg2
    spelling users paste, which it is to move to an async driver with a notice."""
    db = side.db
    if db.dialect == "postgresql":
        scheme = "postgresql+psycopg" if side.plain else "postgresql+psycopg2"
        side.set_ini("sqlalchemy.url", db.url(scheme=scheme))
    else:
        side.set_ini("sqlalchemy.url", db.url("sync"))


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_sync_driver_in_config_used_by_env_py(
    dialect: str, compare: Compare, generated: Generated
) -> None:
    """``postgresql+psycopg2://`` / ``mysql+pymysql://`` in alembic.ini, used by env.py's
    own ``create_engine``: asyncmig runs it as plain alembic does."""
    cmp = compare(pattern(generated, "create_engine"), _sync_driver_in_config, dialect=dialect)
    cmp.step("upgrade", "head")


def test_get_event_loop_run_until_complete(compare: Compare, generated: Generated) -> None:
    """``asyncio.get_event_loop().run_until_complete(...)`` in an async env.py (older
    async tutorials and env.py files)."""
    cmp = compare(pattern(generated, "get_event_loop"), url_in_ini("async"))
    cmp.step("upgrade", "head")


def test_running_loop_branch(compare: Compare, generated: Generated) -> None:
    """``get_running_loop()`` -> ``create_task`` else ``asyncio.run`` (a guard copied across
    many FastAPI projects): whatever asyncmig runs env.py in, the migrations must run
    before the command ends."""
    cmp = compare(pattern(generated, "running_loop"), url_in_ini("async"), runners=RUNNERS)
    cmp.step("upgrade", "head")
    cmp.assert_same_stdout(cmp.run("current"), "of current")


def test_attributes_connection_cookbook(compare: Compare, generated: Generated) -> None:
    """Alembic's cookbook "sharing a connection": ``config.attributes.get("connection")``
    else an engine of its own (Apache Airflow airflow-core/src/airflow/migrations/env.py)."""
    cmp = compare(pattern(generated, "attributes_connection"), url_in_ini("async"))
    cmp.step("upgrade", "head")
