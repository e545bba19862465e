"""squawk on PostgreSQL: each revision's SQL linted, findings mapped onto the revision files.

Offline ranges need no database: the URL only names the dialect.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.lint_revisions import UPGRADE_LINE, write
from support.projects import Project
from typer.testing import Result

FIRST = UPGRADE_LINE + 1
#: Never connected to: ``lint A:B`` renders SQL offline.
PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/asyncmig_never_connected"

CREATE = """\
op.create_table("users", sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
                sa.Column("name", sa.Text), sa.Column("email", sa.Text))
"""


def lint(cli: Callable[..., Result], *args: str) -> tuple[Result, dict[str, Any]]:
    result = cli("--url", PG, *args, "lint", "base:head", "--json")
    return result, json.loads(result.stdout)


def found(report: dict[str, Any]) -> list[tuple[str, str, str, int, str]]:
    return [
        (f["source"], f["revision"], f["rule"], f["line"], f["path"]) for f in report["findings"]
    ]


def test_findings_are_mapped_onto_revision_lines(
    project: Project, cli: Callable[..., Result]
) -> None:
    write(project.versions, "r01", None, CREATE, 'op.drop_table("users")')
    write(project.versions, "r02", "r01",
          'op.add_column("users", sa.Column("age", sa.BigInteger))\n'
          'op.create_index("ix_users_name", "users", ["name"])\n'
          'op.execute("ALTER TABLE users ADD CONSTRAINT name_len CHECK (length(name) < 200)")',
          'op.execute("ALTER TABLE users DROP CONSTRAINT name_len")\n'
          'op.drop_index("ix_users_name", table_name="users")\n'
          'op.drop_column("users", "age")')  # fmt: skip
    result, report = lint(cli)
    assert result.exit_code == 0, result.output
    assert report["squawk"].startswith("squawk ")
    path = "migrations/versions/r02_r02.py"
    assert found(report) == [
        ("squawk", "r02", "require-lock-timeout", FIRST, path),
        ("squawk", "r02", "require-statement-timeout", FIRST, path),
        ("squawk", "r02", "require-concurrent-index-creation", FIRST + 1, path),
        ("squawk", "r02", "constraint-missing-not-valid", FIRST + 2, path),
    ]
    index = report["findings"][2]
    assert index["level"] == "warning"
    assert index["docs"] == "https://squawkhq.com/docs/require-concurrent-index-creation"
    assert index["message"] == (
        "During normal index creation, table updates are blocked, but reads are still allowed."
    )
    assert index["explanation"] == "Use `concurrently` to avoid blocking writes."


def test_what_asyncmig_guarantees_is_not_flagged(
    project: Project, cli: Callable[..., Result]
) -> None:
    """Timeouts set by asyncmig, the transaction each revision runs in, and drops that
    asyncmig's own rules report."""
    write(project.versions, "r01", None, CREATE, 'op.drop_table("users")')
    write(project.versions, "r02", "r01",
          'op.drop_column("users", "email")\n'
          'op.create_index("ix1", "users", ["name"], postgresql_concurrently=True)',
          'op.add_column("users", sa.Column("email", sa.Text))')  # fmt: skip
    result, report = lint(cli, "--pg-lock-timeout", "5s", "--statement-timeout", "1min")
    assert result.exit_code == 4, result.output
    path = "migrations/versions/r02_r02.py"
    # No require-*-timeout; no prefer-robust-stmts on the DROP (it runs in a transaction);
    # no ban-drop-column (asyncmig's drop-column says it); and squawk knows that
    # CONCURRENTLY cannot run in the transaction each revision runs in.
    assert found(report) == [
        ("asyncmig", "r02", "drop-column", FIRST, path),
        ("squawk", "r02", "prefer-robust-stmts", FIRST + 1, path),
        ("squawk", "r02", "ban-concurrent-index-creation-in-transaction", FIRST + 1, path),
    ]


def test_squawk_reports_a_drop_when_asyncmig_s_rule_is_off(
    project: Project, cli: Callable[..., Result]
) -> None:
    write(project.versions, "r01", None, CREATE, 'op.drop_table("users")')
    write(project.versions, "r02", "r01", 'op.drop_column("users", "email")',
          'op.add_column("users", sa.Column("email", sa.Text))')  # fmt: skip
    Path("pyproject.toml").write_text('[tool.asyncmig.lint]\ndisable = ["drop-column"]\n')
    result, report = lint(cli, "--pg-lock-timeout", "5s", "--statement-timeout", "5s")
    assert result.exit_code == 0, result.output
    assert found(report) == [
        ("squawk", "r02", "ban-drop-column", FIRST, "migrations/versions/r02_r02.py")
    ]


def test_without_squawk_a_note_says_so(
    project: Project, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    from asyncmig.safety import squawk

    monkeypatch.setattr(squawk, "find", lambda: None)
    write(project.versions, "r01", None, CREATE, 'op.drop_table("users")')
    result, report = lint(cli)
    assert result.exit_code == 0, result.output
    assert report["squawk"] is None
    assert report["notes"] == [
        "squawk is not installed (pip install 'asyncmig[lint]'): only asyncmig's rules ran"
    ]
    assert result.stderr.splitlines()[-1] == (
        "asyncmig: squawk is not installed (pip install 'asyncmig[lint]'): only asyncmig's "
        "rules ran"
    )


@pytest.mark.postgres
def test_lint_from_the_live_database(
    project: Project, cli: Callable[..., Result], pg_url: str
) -> None:
    write(project.versions, "r01", None, CREATE, 'op.drop_table("users")')
    write(project.versions, "r02", "r01", 'op.create_index("ix1", "users", ["name"])',
          'op.drop_index("ix1", table_name="users")')  # fmt: skip
    assert cli("-q", "--url", pg_url, "upgrade", "r01").exit_code == 0
    result = cli("--url", pg_url, "--pg-lock-timeout", "5s", "--statement-timeout", "5s",
                 "lint")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"migrations/versions/r02_r02.py:{FIRST}: warning: During normal index creation, table "
        "updates are blocked, but reads are still allowed. [require-concurrent-index-creation]"
    )
    assert result.stdout.splitlines()[-1].startswith(
        "Linted 1 revision (r02 … r02) for postgresql with asyncmig's rules and squawk "
    )
