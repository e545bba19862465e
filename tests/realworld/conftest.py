"""Fixtures of the real-world suite: throwaway databases of each dialect, ``alembic init``
output cached per session, and :class:`~realworld.harness.Comparison` factories."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from support.databases import MARIADB_HOST, PG_HOST, mariadb_admin, pg_admin, server_missing

from .builders import alembic_init
from .harness import ALEMBIC, CLI, Comparison, Configure, Database, Side

NewDatabase = Callable[[str], Database]
Compare = Callable[..., Comparison]


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``generated(template)``: the directory ``alembic init -t TEMPLATE migrations`` made
    (once per session and template; copy it, never change it)."""
    cache: dict[str, Path] = {}

    def get(template: str) -> Path:
        if template not in cache:
            cache[template] = alembic_init(template, tmp_path_factory.mktemp(f"init_{template}"))
        return cache[template]

    return get


@pytest.fixture
def new_database(tmp_path: Path) -> Iterator[NewDatabase]:
    """``new_database(dialect)``: a fresh, empty database (postgresql, mysql or sqlite),
    dropped after the test."""
    made: list[Database] = []

    def make(dialect: str) -> Database:
        name = f"asyncmig_rw_{uuid.uuid4().hex[:12]}"
        if dialect == "postgresql":
            try:
                pg_admin(f'CREATE DATABASE "{name}"')
            except OSError as exc:
                server_missing("PostgreSQL", exc)
            db = Database("postgresql", PG_HOST.split("://", 1)[1], name)
        elif dialect == "mysql":
            try:
                mariadb_admin(f"CREATE DATABASE `{name}`")
            except Exception as exc:
                server_missing("MariaDB", exc)
            db = Database("mysql", MARIADB_HOST.split("://", 1)[1], name)
        else:
            folder = tmp_path / "sqlite"
            folder.mkdir(exist_ok=True)
            db = Database("sqlite", "", str(folder / f"{name}.db"))
        made.append(db)
        return db

    yield make
    for db in made:
        if db.dialect == "postgresql":
            pg_admin(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
        elif db.dialect == "mysql":
            mariadb_admin(f"DROP DATABASE IF EXISTS `{db.name}`")


@pytest.fixture
def compare(tmp_path: Path, new_database: NewDatabase) -> Compare:
    """``compare(build, configure, dialect=..., databases=("main",), runners=(ALEMBIC, CLI))``.

    ``build(path)`` writes the project once; each runner gets its own copy and its own
    fresh databases (one per label in ``databases``); ``configure(side)`` then says where
    that side's URLs go (the ini for plain alembic, ``DATABASE_URL`` for asyncmig ...).
    ``runners=RUNNERS`` adds the installed ``asyncmig`` script (a subprocess per command)
    to the in-process CLI.
    """

    def make(
        build: Callable[[Path], object],
        configure: Configure,
        *,
        dialect: str = "postgresql",
        databases: Sequence[str] = ("main",),
        runners: Sequence[str] = (ALEMBIC, CLI),
    ) -> Comparison:
        assert runners[0] == ALEMBIC
        source = tmp_path / "source"
        build(source)
        sides = []
        for runner in runners:
            project = tmp_path / runner
            shutil.copytree(source, project)
            dbs = {label: new_database(dialect) for label in databases}
            side = Side(runner, project, dbs)
            configure(side)
            sides.append(side)
        return Comparison(sides)

    return make
