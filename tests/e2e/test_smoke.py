"""A first end-to-end check on SQLite and PostgreSQL."""

from __future__ import annotations


def test_sqlite_upgrade_head(cli, project):
    ids = project.revisions(3)
    result = cli("upgrade", "head")
    assert result.exit_code == 0, result.output
    assert "Applying 3/3 0002aa → 0003aa create table t0003 …" in result.stdout
    assert cli("current").stdout.strip() == f"{ids[-1]} (head)"


def test_postgres_upgrade_head(cli, project, pg_url):
    project.revisions(3)
    result = cli("--url", pg_url, "upgrade", "head")
    assert result.exit_code == 0, result.output
    result = cli("--url", pg_url, "status", "--json")
    assert result.exit_code == 0, result.output


def test_mariadb_upgrade_head(cli, project, mariadb_url):
    project.revisions(2)
    result = cli("--url", mariadb_url, "upgrade", "head")
    assert result.exit_code == 0, result.output
