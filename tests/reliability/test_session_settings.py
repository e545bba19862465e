"""What asyncmig sets on its migration session so that the server, too, bounds every wait.

A revision copies the session's settings into a table while it runs, so the test reads
what the migration connection really had (not what a new connection of the test gets).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.databases import mariadb_fetch, pg_fetch
from typer.testing import Result

PG_NAMES = (
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "idle_session_timeout",
    "tcp_keepalives_idle",
    "tcp_keepalives_interval",
    "tcp_keepalives_count",
    "tcp_user_timeout",
    "client_connection_check_interval",
)


def pg_copy_settings(i: int) -> str:
    names = ", ".join(f"'{name}'" for name in PG_NAMES)
    return (
        'op.execute("CREATE TABLE seen AS SELECT name, setting FROM pg_settings '
        f'WHERE name IN ({names})")'
    )


def pg_seen(url: str) -> dict[str, str]:
    return dict(pg_fetch(url, "SELECT name, setting FROM seen"))  # type: ignore[arg-type]


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
def test_postgresql_session_with_a_statement_timeout(
    cli: Callable[..., Result], project, pg_url: str, driver: str
) -> None:
    project.revisions(1, body=pg_copy_settings)
    url = pg_url.replace("+asyncpg://", f"+{driver}://", 1)
    args = ("--statement-timeout", "5s", "--pg-lock-timeout", "3s", "upgrade", "head")
    result = cli("-q", "--url", url, *args)
    assert result.exit_code == 0, result.output
    assert pg_seen(pg_url) == {
        "statement_timeout": "5000",
        "lock_timeout": "3000",
        # a client gone silent: its transaction, or (14+) its whole session, ends after 5 s
        "idle_in_transaction_session_timeout": "5000",
        "idle_session_timeout": "5000",
        # a dead network found in ~25 s, and (14+) a running statement's client checked
        "tcp_keepalives_idle": "10",
        "tcp_keepalives_interval": "5",
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": "25000",
        "client_connection_check_interval": "5000",
    }


def test_postgresql_session_without_timeouts_keeps_idle_sessions(
    cli: Callable[..., Result], project, pg_url: str
) -> None:
    """No statement timeout: no idle timeouts either (a revision may compute for hours)."""
    project.revisions(1, body=pg_copy_settings)
    result = cli("-q", "--url", pg_url, "upgrade", "head")
    assert result.exit_code == 0, result.output
    seen = pg_seen(pg_url)
    assert {name: seen[name] for name in PG_NAMES[:4]} == dict.fromkeys(PG_NAMES[:4], "0")
    assert seen["tcp_user_timeout"] == "25000"


def mariadb_copy_settings(i: int) -> str:
    return (
        'op.execute("CREATE TABLE seen AS SELECT @@session.max_statement_time AS statement, '
        '@@session.wait_timeout AS idle")'
    )


def test_mariadb_statement_timeout(cli: Callable[..., Result], project, mariadb_url: str) -> None:
    """--statement-timeout applies to MariaDB: the server interrupts the statement (exit 1),
    and a session idle for longer is ended (wait_timeout, 8 hours by default)."""
    project.revisions(1, body=mariadb_copy_settings)
    result = cli("-q", "--url", mariadb_url, "--statement-timeout", "2.5s", "upgrade", "head")
    assert result.exit_code == 0, result.output
    assert mariadb_fetch(mariadb_url, "SELECT statement, idle FROM seen") == [(2.5, 3)]

    project.revisions(1, start=1, body=lambda i: "op.execute('SELECT SLEEP(5)')")
    result = cli("-q", "--url", mariadb_url, "--statement-timeout", "1s", "upgrade", "head")
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1] == (
        "Error: revision 0002aa (create table t0002) failed: (1969, 'Query execution was "
        "interrupted (max_statement_time exceeded)')"
    )
