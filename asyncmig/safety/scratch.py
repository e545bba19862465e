"""Throwaway databases for ``verify`` and the pytest plugin.

* a URL given (``--scratch-url``): used as it is, never created or dropped;
* the project on SQLite, or with no usable URL: a fresh SQLite file in a temporary
  directory;
* the project on PostgreSQL or MariaDB/MySQL: a database created on the same server
  with the same credentials (``asyncmig_verify_<hex>``), dropped afterwards.

Server statements run inside :func:`asyncmig.runner.execute`, so the connection
gets what every asyncmig connection gets (waiting for the server, URL parameters
translated for the driver).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, replace
from typing import Any

from ..configfiles import Setting
from ..errors import AsyncmigError, ConfigError
from ..runner import Runtime, execute
from ..settings import URL_KEY, Settings
from ..urls import DatabaseURL

_SERVERS = ("postgresql", "mysql", "mariadb")


@dataclass
class Scratch:
    """A scratch database: its URL, and whether asyncmig made it (and so removes it)."""

    url: DatabaseURL
    #: How to remove it; None for a database the caller gave.
    _remove: Any = None

    @property
    def created(self) -> bool:
        return self._remove is not None

    @property
    def masked(self) -> str:
        return self.url.masked

    def remove(self) -> None:
        remove, self._remove = self._remove, None
        if remove is not None:
            remove()


def make(rt: Runtime, given: str | None = None, *, directory: str | None = None) -> Scratch:
    """A scratch database for the project of ``rt`` (see the module's docstring).

    ``directory``: where a SQLite file goes (default: a new temporary directory).
    """
    if given is not None:
        url = DatabaseURL.parse(given)
        rt.secrets.update(url.secrets)
        return Scratch(url)
    target = rt.settings.database_url
    backend = target.url.get_backend_name() if target is not None else "sqlite"
    if backend == "sqlite":
        return _sqlite(directory)
    if backend not in _SERVERS:
        raise ConfigError(
            f"asyncmig makes scratch databases on SQLite, PostgreSQL and MariaDB/MySQL, "
            f"not {backend}: pass --scratch-url"
        )
    assert target is not None
    return _on_server(rt, target)


def _sqlite(directory: str | None) -> Scratch:
    made = directory is None
    folder = directory or tempfile.mkdtemp(prefix="asyncmig-scratch-")
    path = os.path.join(folder, f"scratch-{uuid.uuid4().hex[:8]}.db")

    def remove() -> None:
        if made:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for suffix in ("", "-journal", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path + suffix)

    return Scratch(DatabaseURL.parse(f"sqlite+aiosqlite:///{path}"), remove)


def _on_server(rt: Runtime, target: DatabaseURL) -> Scratch:
    name = f"asyncmig_verify_{uuid.uuid4().hex[:12]}"
    postgres = target.url.get_backend_name() == "postgresql"
    quoted = f'"{name}"' if postgres else f"`{name}`"
    # The server's own database to connect to while the new one does not exist yet.
    admin = target.url.set(database="postgres" if postgres else None)
    try:
        _run_sql(rt, admin, [f"CREATE DATABASE {quoted}"])
    except AsyncmigError as exc:
        where = DatabaseURL.from_url(admin).masked
        raise ConfigError(
            f"cannot create a scratch database on {where} ({exc}): pass --scratch-url"
        ) from None

    def remove() -> None:
        if postgres:
            try:  # FORCE (PostgreSQL 13+) ends sessions a failed env.py left behind
                _run_sql(rt, admin, [f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"])
                return
            except AsyncmigError:
                pass
        _run_sql(rt, admin, [f"DROP DATABASE IF EXISTS {quoted}"])

    return Scratch(DatabaseURL.from_url(target.url.set(database=name)), remove)


def _run_sql(rt: Runtime, url: Any, statements: list[str]) -> None:
    """Run statements with autocommit on ``url`` (an async driver, from sync code)."""

    def call(config: Any) -> None:
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                for statement in statements:
                    connection.execute(text(statement))
        finally:
            engine.dispose()

    execute(rt, "verify", call, alembic="current", arguments={})


def with_url(settings: Settings, url: DatabaseURL) -> Settings:
    """``settings`` with ``url`` in place of the configured database URL."""
    sqlalchemy = dict(settings.sqlalchemy)
    sqlalchemy[URL_KEY] = Setting(URL_KEY, url.render(), "scratch database")
    secrets = tuple(sorted(set(settings.secrets) | url.secrets))
    return replace(
        settings,
        sqlalchemy=sqlalchemy,
        database_url=url,
        url_error=None,
        secrets=secrets,
        url_notes=(),
    )


def runtime_on(rt: Runtime, scratch: Scratch) -> Runtime:
    """``rt`` pointed at the scratch database."""
    rt.secrets.update(scratch.url.secrets)
    return replace(rt, settings=with_url(rt.settings, scratch.url))


def same_database(found: Any, scratch: DatabaseURL) -> bool:
    """Whether the URL env.py connected with names the scratch database."""
    expected = scratch.url
    if found is None or found.get_backend_name() != expected.get_backend_name():
        return False
    if expected.get_backend_name() == "sqlite":
        return os.path.realpath(str(found.database or "")) == os.path.realpath(
            str(expected.database or "")
        )
    return (found.host, found.port, found.database) == (
        expected.host,
        expected.port,
        expected.database,
    )


def shown_path(path: str) -> str:
    """A revision file's path as a user (and GitHub) names it: relative to here if inside."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative
