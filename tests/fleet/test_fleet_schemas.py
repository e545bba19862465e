"""asyncmig fleet on PostgreSQL schemas (schema-per-tenant), on a real server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support.databases import pg_fetch
from support.projects import Project
from typer.testing import Result

pytestmark = pytest.mark.postgres


def write_targets(path: Path, names: list[str]) -> Path:
    path.write_text("".join(f"schema={name}\n" for name in names))
    return path


def version_tables(url: str) -> dict[str, str]:
    """Each tenant schema's version: read from the version table in that schema."""
    schemas = [
        row[0]
        for row in pg_fetch(
            url,
            "select table_schema from information_schema.tables "
            "where table_name = 'alembic_version' order by 1",
        )
    ]
    found = {}
    for schema in schemas:
        (row,) = pg_fetch(url, f'select version_num from "{schema}".alembic_version')
        found[str(schema)] = str(row[0])
    return found


def test_200_schemas_jobs_8_one_failing_tenant_then_a_rerun(
    cli: Callable[..., Result], project: Project, pg_url: str, tmp_path: Path
) -> None:
    """200 tenants, one of which fails its second revision: the others are migrated, the
    fleet exits 1 naming it; once fixed, a rerun migrates that tenant only."""
    body = (
        "op.execute('SELECT * FROM no_such_table_anywhere') "
        "if op.get_context().connection.dialect.default_schema_name == 'tenant_123' "
        "else op.create_table('t0002', sa.Column('id', sa.Integer, primary_key=True))"
    )
    ids = project.revisions(2, body=lambda i: body if i == 2 else
                            "op.create_table('t0001', sa.Column('id', sa.Integer))")  # fmt: skip
    names = [f"tenant_{i:03d}" for i in range(200)]
    targets = write_targets(tmp_path / "targets.txt", names)

    result = cli("--url", pg_url, "fleet", "upgrade", "head", "--targets", str(targets),
                 "--jobs", "8")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "fleet upgrade: 200 targets (199 changed, 1 failed)" in result.stdout
    assert "failed: tenant_123" in result.stdout
    assert "no_such_table_anywhere" in result.stdout
    versions = version_tables(pg_url)
    # PostgreSQL rolled the failed tenant's transaction back: no version row (at base).
    assert "tenant_123" not in versions
    assert versions == dict.fromkeys([n for n in names if n != "tenant_123"], ids[-1])

    # Fixed: a rerun migrates only the tenant that is behind.
    path = next(project.versions.glob("0002aa_*.py"))
    path.write_text(path.read_text().replace("== 'tenant_123'", "== 'no tenant'"))
    result = cli("--url", pg_url, "--quiet", "fleet", "upgrade", "--targets", str(targets),
                 "--jobs", "8", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 200
    changed = {line["name"]: line["steps"] for line in lines if line["steps"]}
    assert changed == {"tenant_123": ids}
    # All at head, each version table in its own schema, each tenant's tables too.
    assert version_tables(pg_url) == dict.fromkeys(names, ids[-1])
    assert pg_fetch(
        pg_url, "select count(*) from information_schema.tables where table_name = 't0002'"
    ) == [(200,)]
    assert pg_fetch(
        pg_url, "select count(*) from information_schema.tables where table_schema = 'public'"
    ) == [(0,)]


def test_each_schema_target_keeps_its_own_history(
    cli: Callable[..., Result], project: Project, pg_url: str, tmp_path: Path
) -> None:
    """The schema history (docs/history.md) is per target: asyncmig_history sits beside
    each tenant's version table, with that tenant's steps and the fleet's deploy id."""
    ids = project.revisions(2)
    targets = write_targets(tmp_path / "targets.txt", ["tenant_a", "tenant_b"])

    result = cli("--url", pg_url, "--deploy-id", "release-7", "fleet", "upgrade", "head",
                 "--targets", str(targets), "--jobs", "2")  # fmt: skip
    assert result.exit_code == 0, result.output
    result = cli("--url", pg_url, "fleet", "downgrade", "-1", "--targets", str(targets),
                 "--jobs", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    for schema in ("tenant_a", "tenant_b"):
        rows = pg_fetch(
            pg_url,
            f'select revision, direction, deploy_id from "{schema}".asyncmig_history order by id',
        )
        assert rows == [
            (ids[0], "upgrade", "release-7"),
            (ids[1], "upgrade", "release-7"),
            (ids[1], "downgrade", None),
        ]
    assert pg_fetch(
        pg_url, "select count(*) from information_schema.tables where table_schema = 'public'"
    ) == [(0,)]
