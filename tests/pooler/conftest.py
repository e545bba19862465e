"""Fixtures of the pooler suite: a pair of PgBouncers per session (per xdist worker) and a
fresh database through each pool mode and driver. Used by tests/pooler only; the machinery
(starting PgBouncer, reading the database on the server's own port) is tests/pooler/pgbouncer.py.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .pgbouncer import (
    DRIVERS,
    MODES,
    PG_PASSWORD,
    PG_USER,
    PgBouncer,
    PooledDatabase,
    pooled_database,
    start_pgbouncer,
    unavailable,
)


@pytest.fixture(scope="session")
def pgbouncers() -> Iterator[dict[str, PgBouncer]]:
    """``{"transaction": PgBouncer, "session": PgBouncer}``, both running; stopped at the end."""
    binary = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )
    if binary is None:
        unavailable("pgbouncer is not installed (apt-get install -y pgbouncer)")
        return
    run_as = None
    if os.geteuid() == 0:
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                run_as = pwd.getpwnam(name)
                break
    workdir = Path(tempfile.mkdtemp(prefix="asyncmig-pgbouncer-"))
    # PgBouncer logs in to the server with the password it has here.
    quoted = [value.replace('"', '""') for value in (PG_USER, PG_PASSWORD)]
    (workdir / "userlist.txt").write_text(f'"{quoted[0]}" "{quoted[1]}"\n')
    if run_as is not None:
        for path in (workdir, workdir / "userlist.txt"):
            os.chown(path, run_as.pw_uid, run_as.pw_gid)
    started: dict[str, PgBouncer] = {}
    try:
        for mode in MODES:
            try:
                started[mode] = start_pgbouncer(binary, mode, workdir, run_as)
            except (RuntimeError, OSError) as exc:
                unavailable(str(exc))
        yield started
    finally:
        for bouncer in started.values():
            bouncer.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(params=[(m, d) for m in MODES for d in DRIVERS], ids=lambda p: f"{p[0]}-{p[1]}")
def pooled(
    request: pytest.FixtureRequest, pgbouncers: dict[str, PgBouncer], pg_database: str
) -> PooledDatabase:
    """A fresh database through each pooler mode and driver (4 parameters)."""
    mode, driver = request.param
    return pooled_database(pgbouncers, pg_database, mode, driver)


@pytest.fixture(params=MODES)
def pooled_asyncpg(
    request: pytest.FixtureRequest, pgbouncers: dict[str, PgBouncer], pg_database: str
) -> PooledDatabase:
    """A fresh database through each pooler mode on asyncpg (2 parameters)."""
    return pooled_database(pgbouncers, pg_database, request.param, "asyncpg")


@pytest.fixture
def transaction_pooled(pgbouncers: dict[str, PgBouncer], pg_database: str) -> PooledDatabase:
    """A fresh database through the transaction-mode PgBouncer on asyncpg."""
    return pooled_database(pgbouncers, pg_database, "transaction", "asyncpg")
