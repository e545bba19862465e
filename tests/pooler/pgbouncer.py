"""PgBouncer in front of the local PostgreSQL, in transaction and in session mode.

One pair of PgBouncer processes per test session (per xdist worker): each gets a config
written here, listens on a free 127.0.0.1 port and forwards every database name
(``* = host=127.0.0.1 port=5432``, the server of tests/support/databases.py's ``PG_HOST``) with
trust authentication towards the client. Databases are created and dropped on the direct
port (tests/conftest.py's ``pg_database``).

Only ``extra_float_digits`` is ignored among startup parameters: like the hosted poolers,
these PgBouncers refuse ``options`` and ``statement_timeout``/``lock_timeout`` given at
connect time ("unsupported startup parameter"), rather than silently dropping them.
As root (CI), PgBouncer refuses to run, so it is started as ``postgres`` (or ``nobody``).

With ``CI`` set, a missing ``pgbouncer`` binary or one that does not come up fails the
tests; otherwise they are skipped.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg
import pytest
from support.databases import PG_HOST, pg_fetch

MODES = ("transaction", "session")
DRIVERS = ("asyncpg", "psycopg")
_SERVER = urlsplit(PG_HOST)
PG_ADDRESS = _SERVER.hostname or "127.0.0.1"
PG_PORT = _SERVER.port or 5432
PG_USER = unquote(_SERVER.username or "postgres")
PG_PASSWORD = unquote(_SERVER.password or "")
#: How long a PgBouncer gets to start accepting connections.
START_TIMEOUT = 15.0

_CONFIG = """\
[databases]
* = host={pg_address} port={pg_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
logfile =
pidfile =
auth_type = trust
auth_file = {userlist}
admin_users = {user}
pool_mode = {mode}
max_client_conn = 200
default_pool_size = 12
max_db_connections = 12
server_idle_timeout = 10
ignore_startup_parameters = extra_float_digits
server_login_retry = 1
"""


def unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


try:  # resolved here, not in the forked child
    _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def _die_with_parent() -> None:
    """Runs in the child after the user switch: SIGTERM it when the test process dies
    (PR_SET_PDEATHSIG), so a killed pytest leaves no PgBouncer behind."""
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)


def _accepts(port: int) -> bool:
    """True once PgBouncer answers a query (it forwards to the server on demand)."""

    async def go() -> bool:
        conn = await asyncpg.connect(
            host="127.0.0.1", port=port, user=PG_USER, database="postgres", timeout=2
        )
        try:
            return bool(await conn.fetchval("SELECT 1", timeout=2))
        finally:
            await conn.close(timeout=2)

    try:
        return asyncio.run(go())
    except Exception:  # not listening yet, or the server behind it not reachable yet
        return False


@dataclass
class PgBouncer:
    """One running PgBouncer: its pool mode, port, and log (stderr) for diagnostics."""

    mode: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> str:
        path = self.workdir / f"{self.mode}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def url(self, database: str, driver: str = "asyncpg") -> str:
        """A SQLAlchemy URL to ``database`` through this PgBouncer."""
        return f"postgresql+{driver}://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: PgBouncer's fast exit
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_pgbouncer(binary: str, mode: str, workdir: Path, run_as: Any) -> PgBouncer:
    """Start one PgBouncer; retry on another port if the chosen one was taken meanwhile."""
    last = "(no output)"
    for _ in range(3):
        port = free_port()
        ini = workdir / f"{mode}.ini"
        ini.write_text(
            _CONFIG.format(
                pg_address=PG_ADDRESS,
                pg_port=PG_PORT,
                port=port,
                mode=mode,
                user=PG_USER,
                userlist=workdir / "userlist.txt",
            )
        )
        log = open(workdir / f"{mode}.log", "wb")  # noqa: SIM115 - owned by the child
        try:
            process = subprocess.Popen(
                [binary, str(ini)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # PgBouncer refuses to run as root; as root, drop to an ordinary user first.
                user=run_as.pw_uid if run_as else None,
                group=run_as.pw_gid if run_as else None,
                extra_groups=[] if run_as else None,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()
        bouncer = PgBouncer(mode, port, workdir, process)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if _accepts(port):
                return bouncer
            time.sleep(0.1)
        bouncer.stop()
        last = (bouncer.log.strip().splitlines() or [last])[-1]
    raise RuntimeError(f"PgBouncer ({mode} mode) did not start: {last}")


@dataclass
class PooledDatabase:
    """A fresh database reached through one PgBouncer with one driver.

    ``url`` goes through the pooler; ``direct`` is an asyncpg URL to the same database on
    the server's own port, for the test's assertions.
    """

    mode: str
    driver: str
    database: str
    url: str
    direct: str
    bouncer: PgBouncer


def pooled_database(
    bouncers: dict[str, PgBouncer], database: str, mode: str, driver: str
) -> PooledDatabase:
    bouncer = bouncers[mode]
    return PooledDatabase(
        mode=mode,
        driver=driver,
        database=database,
        url=bouncer.url(database, driver),
        direct=f"{PG_HOST.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{database}",
        bouncer=bouncer,
    )


# -- reading the database on the server's own port ----------------------------------------
# One reader for every suite: the same rows as support.databases.pg_fetch.
fetch = pg_fetch


def versions(db: PooledDatabase) -> list[str]:
    """The revisions in alembic_version; [] when the table does not exist."""
    if not fetch(db.direct, "SELECT to_regclass('alembic_version') IS NOT NULL")[0][0]:
        return []
    return sorted(r[0] for r in fetch(db.direct, "SELECT version_num FROM alembic_version"))


def tables(db: PooledDatabase) -> int:
    """How many of the test revisions' tables (t0001 ...) exist."""
    rows = fetch(db.direct, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 't0%'")
    return int(rows[0][0])


def advisory_locks(db: PooledDatabase) -> list[tuple[Any, ...]]:
    """Advisory locks held on the database by any backend (the pooler's included)."""
    return fetch(
        db.direct,
        "SELECT l.pid, l.objid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        f"WHERE l.locktype = 'advisory' AND d.datname = '{db.database}'",
    )
