"""Every wait is bounded: a server that never answers, a network that dies mid-migration.

The installed ``asyncmig`` script runs against the real servers through a local TCP fault
proxy (tests/support/tcpproxy.py) that the test switches to ``blackhole`` (accepts TCP,
never answers) or ``partition`` (open connections stay open, nothing moves). The proxy's
kernel ACKs everything, so TCP keepalives never fire through it: what ends these waits are
timers, the ones a deploy step is documented to have:

* ``--wait-timeout W`` bounds the TCP connect *and* the protocol handshake of every try:
  exit 3 within ``W + CONNECT_MARGIN`` plus the CLI's own start-up and exit time.
* ``--statement-timeout S`` makes the client give up on a connection that answers nothing
  for ``S`` plus a margin: exit 3 within ``S + PARTITION_MARGIN`` of the partition, and the
  server ends the abandoned session (and its lock) by itself within ``SERVER_MARGIN``.
* A duration the server would misread (below 1 ms: ``0``, which means "no limit") or reject
  (above 2147483647 ms) is exit 2 before connecting.

Every run is bounded by ``communicate(timeout=...)``: a hang fails the test, it never
blocks the suite.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.checks import assert_one_error, wait_for
from support.databases import (
    mariadb_fetch,
    mariadb_versions,
    pg_advisory_locks,
    pg_others,
    pg_versions,
)
from support.scripts import SCRIPT
from support.tcpproxy import Mode, TcpProxy

from .test_failing_revisions import per_migration

PG = ("127.0.0.1", 5432)
MARIADB = ("127.0.0.1", 3306)

#: Above the 2 s floor of one connect try, so the wait itself is what bounds it; short, so
#: the file stays fast (measured: exit 3 after 3.35-3.40 s on every driver).
WAIT = 3.0
#: The last try's bound overshooting the deadline, plus noise. Process start-up and exit are
#: measured separately (``overhead``): 0.6 s on an idle machine, 4 s beside test_deploy.
CONNECT_MARGIN = 2.0
#: Above the 1 s a revision below computes in Python between two statements (the server's
#: idle-in-transaction timeout equals it); short, so the file stays fast.
STATEMENT = 3.0
#: The client's own margin over the server's statement_timeout (2 s), closing without the
#: peer (0.5 s), process exit, and room for a loaded machine (measured: S + 1.8-2.3 s).
PARTITION_MARGIN = 5.0
#: After the client is gone: the server times out the idle, aborted transaction.
SERVER_MARGIN = STATEMENT + 5.0
#: How long a run may go on before the test kills it and fails (kept short: on 0.1.0 these
#: runs hang, and the suite must still finish in minutes).
CONNECT_LIMIT = WAIT + CONNECT_MARGIN + 10
PARTITION_LIMIT = 1 + STATEMENT + PARTITION_MARGIN + 5


def finish(proc: subprocess.Popen[str], limit: float) -> tuple[float, str, str]:
    """Wait at most ``limit`` s for ``proc``; (seconds it took, stdout, stderr). Kills on expiry."""
    started = time.monotonic()
    try:
        stdout, stderr = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate(timeout=10)
        pytest.fail(f"asyncmig still running after {limit:g} s (killed); stderr: {stderr!r}")
    return time.monotonic() - started, stdout, stderr


# -- a server that accepts TCP and never answers --------------------------------------------
BLACKHOLE_URLS = {
    "asyncpg": ("postgresql+asyncpg://postgres@{host}:{port}/app", "postgresql"),
    "psycopg": ("postgresql+psycopg://postgres@{host}:{port}/app", "postgresql"),
    "asyncmy": ("mysql+asyncmy://root@{host}:{port}/app", "mysql"),
}


def overhead(spawn, tcp_proxy: Callable[..., TcpProxy], template: str) -> float:
    """Seconds the CLI takes, right now, to start, be refused once and exit."""
    proxy = tcp_proxy(PG, mode=Mode.REFUSE)
    url = template.format(host=proxy.host, port=proxy.port)
    proc = spawn("--url", url, "--wait-timeout", "0", "upgrade", "head")
    elapsed, _, stderr = finish(proc, 30)
    assert proc.returncode == 3, stderr
    return elapsed


@pytest.mark.parametrize("driver", list(BLACKHOLE_URLS))
def test_wait_timeout_bounds_connect_and_handshake_of_a_black_hole(
    project, spawn, tcp_proxy: Callable[..., TcpProxy], driver: str
) -> None:
    """0.1.0 (with 5 s): 61 s on asyncpg (its own 60 s connect timeout), never on psycopg and
    asyncmy."""
    template, backend = BLACKHOLE_URLS[driver]
    startup = overhead(spawn, tcp_proxy, template)
    proxy = tcp_proxy(PG, mode=Mode.BLACKHOLE)
    url = template.format(host=proxy.host, port=proxy.port)
    proc = spawn("--url", url, "--wait-timeout", f"{WAIT:g}", "upgrade", "head")
    elapsed, stdout, stderr = finish(proc, CONNECT_LIMIT + startup)
    assert proc.returncode == 3, stderr
    assert WAIT <= elapsed <= WAIT + startup + CONNECT_MARGIN, (elapsed, startup, stderr)
    line = assert_one_error(stderr)
    target = re.escape(f"{backend} server {proxy.host}:{proxy.port} database app")
    gave_up = re.escape(f"(gave up after {WAIT:g} s)")
    assert re.fullmatch(rf"Error: cannot connect to {target}: .+ {gave_up}", line), line
    assert stdout == ""
    assert proxy.accepted >= 1  # it really reached the black hole


# -- the network dies mid-migration ---------------------------------------------------------
SLEEP_SQL = {
    "asyncpg": "SELECT pg_sleep(30)",
    "psycopg": "SELECT pg_sleep(30)",
    "asyncmy": "SELECT SLEEP(30)",
}


def slow_second(sql: str) -> Callable[[int], str]:
    def body(i: int) -> str:
        create = f"op.create_table('t{i:04d}', sa.Column('id', sa.Integer, primary_key=True))"
        return f"{create}; op.execute({sql!r})" if i == 2 else create

    return body


def python_pause_after_first(marker: Path) -> Callable[[int], str]:
    """Revision 1 creates its table, signals ``marker``, then computes (sleeps) 1 s in Python:
    the connection is idle in a transaction when the test cuts it."""

    def body(i: int) -> str:
        create = f"op.create_table('t{i:04d}', sa.Column('id', sa.Integer, primary_key=True))"
        if i != 1:
            return create
        touch = f"__import__('pathlib').Path({str(marker)!r}).touch()"
        return f"{create}; {touch}; __import__('time').sleep(1)"

    return body


def proxied_url(proxy: TcpProxy, driver: str, pg_url: str, mariadb_url: str | None) -> str:
    if driver == "asyncmy":
        assert mariadb_url is not None
        return proxy.url(mariadb_url)
    return proxy.url(pg_url.replace("+asyncpg://", f"+{driver}://", 1))


def pg_sleeping(url: str) -> bool:
    return any(
        state == "active" and "pg_sleep" in (query or "") for _, state, query in pg_others(url)
    )


def mariadb_sleeping(url: str) -> bool:
    """A session of this test's database is in SLEEP (other tests' sessions sleep too)."""
    database = url.rsplit("/", 1)[1]
    rows = mariadb_fetch(
        url,
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        f"WHERE INFO LIKE 'SELECT SLEEP%' AND DB = '{database}'",
    )
    return bool(rows[0][0])


def mariadb_session_gone(url: str) -> bool:
    """No session but this query's on the database: the migration's GET_LOCK died with it."""
    database = url.rsplit("/", 1)[1]
    rows = mariadb_fetch(
        url,
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        f"WHERE DB = '{database}' AND ID <> CONNECTION_ID()",
    )
    return not rows[0][0]


@pytest.fixture
def db_urls(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """(pg_url, mariadb_url or None): only the server the parametrized driver needs."""
    driver = request.node.callspec.params["driver"]
    if driver == "asyncmy":
        return "", request.getfixturevalue("mariadb_url")
    return request.getfixturevalue("pg_url"), None


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg", "asyncmy"])
def test_partition_during_a_statement_ends_in_exit_3(
    project, spawn, tcp_proxy: Callable[..., TcpProxy], db_urls, driver: str
) -> None:
    """0.1.0: hangs forever; the server session stays ``idle in transaction`` with the lock."""
    pg_url, mariadb_url = db_urls
    per_migration(project)
    project.revisions(3, body=slow_second(SLEEP_SQL[driver]))
    proxy = tcp_proxy(MARIADB if driver == "asyncmy" else PG)
    url = proxied_url(proxy, driver, pg_url, mariadb_url)
    proc = spawn("--url", url, "--statement-timeout", f"{STATEMENT:g}s", "upgrade", "head")
    if driver == "asyncmy":
        wait_for(lambda: mariadb_sleeping(mariadb_url), 15, "revision 0002aa to start sleeping")
    else:
        wait_for(lambda: pg_sleeping(pg_url), 15, "revision 0002aa to start sleeping")
    proxy.set_mode(Mode.PARTITION)
    elapsed, _, stderr = finish(proc, PARTITION_LIMIT)
    assert proc.returncode == 3, stderr
    assert STATEMENT - 1 <= elapsed <= STATEMENT + PARTITION_MARGIN, (elapsed, stderr)
    line = assert_one_error(stderr)
    assert line == (
        "Error: lost the database connection during revision 0002aa (create table t0002): "
        f"no answer from the database for {STATEMENT + 2:g} s"
    ), line
    # The client is gone but the proxy keeps the server's side open, as a dead network
    # would: the server must end the session (rolling 0002aa back, dropping the lock).
    if driver == "asyncmy":
        assert mariadb_url is not None
        wait_for(lambda: mariadb_session_gone(mariadb_url), SERVER_MARGIN, "the session to end")
        assert mariadb_versions(mariadb_url) == ["0001aa"]
    else:
        wait_for(lambda: not pg_advisory_locks(pg_url), SERVER_MARGIN, "the lock to be released")
        assert pg_versions(pg_url) == ["0001aa"]


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
def test_partition_between_statements_ends_in_exit_3(
    project, spawn, tcp_proxy: Callable[..., TcpProxy], pg_url: str, driver: str, tmp_path
) -> None:
    """Cut while the revision computes in Python: the next statement never gets an answer."""
    marker = tmp_path / "computing"
    per_migration(project)
    project.revisions(2, body=python_pause_after_first(marker))
    proxy = tcp_proxy(PG)
    url = proxied_url(proxy, driver, pg_url, None)
    proc = spawn("--url", url, "--statement-timeout", f"{STATEMENT:g}s", "upgrade", "head")
    wait_for(marker.exists, 15, "revision 0001aa to start computing")
    proxy.set_mode(Mode.PARTITION)
    elapsed, _, stderr = finish(proc, PARTITION_LIMIT)
    assert proc.returncode == 3, stderr
    assert elapsed <= 1 + STATEMENT + PARTITION_MARGIN, (elapsed, stderr)
    line = assert_one_error(stderr)
    assert line == (
        "Error: lost the database connection during revision 0001aa (create table t0001): "
        f"no answer from the database for {STATEMENT + 2:g} s"
    ), line
    wait_for(lambda: not pg_advisory_locks(pg_url), SERVER_MARGIN, "the lock to be released")
    assert pg_versions(pg_url) == []


# -- durations the server would misread or reject: exit 2 before connecting -------------------
def reset_url(proxy: TcpProxy) -> str:
    """A URL whose server resets every connection: any try shows up in ``proxy.accepted``."""
    return f"postgresql+asyncpg://postgres@{proxy.host}:{proxy.port}/app"


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--pg-lock-timeout", "0.5ms"),  # 0.1.0: lock_timeout = 0, i.e. no limit
        ("--statement-timeout", "0.4ms"),
        ("--pg-lock-timeout", "0.0001"),  # seconds
        ("--statement-timeout", "100000min"),  # 0.1.0: exit 1 from the server
        ("--statement-timeout", "2147483648ms"),  # one past PostgreSQL's INT_MAX ms
        ("--pg-lock-timeout", "35792min"),  # 2147520000 ms
    ],
)
def test_duration_the_server_would_misread_is_exit_2_before_connecting(
    project, spawn, tcp_proxy: Callable[..., TcpProxy], flag: str, value: str
) -> None:
    proxy = tcp_proxy(PG, mode=Mode.RESET)
    proc = spawn("--url", reset_url(proxy), "--wait-timeout", "0", flag, value, "upgrade", "head")
    elapsed, stdout, stderr = finish(proc, 15)
    assert proc.returncode == 2, stderr
    line = assert_one_error(stderr)
    assert flag in line and value in line, line
    assert stdout == ""
    assert proxy.accepted == 0
    assert elapsed < 4.0


def test_duration_from_the_environment_is_checked_too(
    project, tcp_proxy: Callable[..., TcpProxy]
) -> None:
    proxy = tcp_proxy(PG, mode=Mode.RESET)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCMIG_")}
    env["ASYNCMIG_STATEMENT_TIMEOUT"] = "100000min"
    proc = subprocess.Popen(
        [SCRIPT, "--url", reset_url(proxy), "--wait-timeout", "0", "upgrade", "head"],
        cwd=project.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, _, stderr = finish(proc, 15)
    assert proc.returncode == 2, stderr
    line = assert_one_error(stderr)
    assert "ASYNCMIG_STATEMENT_TIMEOUT" in line and "100000min" in line, line
    assert proxy.accepted == 0


def test_largest_durations_the_server_accepts_still_work(cli, project, pg_url: str) -> None:
    project.revisions(1)
    result = cli(
        "-q",
        "--url",
        pg_url,
        "--statement-timeout",
        "2147483647ms",
        "--pg-lock-timeout",
        "1ms",
        "upgrade",
        "head",
    )
    assert result.exit_code == 0, result.output
    assert pg_versions(pg_url) == ["0001aa"]
