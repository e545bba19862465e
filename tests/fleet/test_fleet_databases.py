"""asyncmig fleet on a database per tenant (PostgreSQL and MariaDB), and shards."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.databases import MARIADB_HOST, PG_HOST, mariadb_admin, pg_admin
from support.projects import Project
from typer.testing import Result


def _pg_admin_all(statements: list[str]) -> None:
    """Run statements each on its own connection, at once (a DROP DATABASE waits for a
    checkpoint: twenty in a row take seconds)."""
    import asyncio

    import asyncpg

    async def one(sql: str) -> None:
        conn = await asyncpg.connect(PG_HOST + "/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def go() -> None:
        await asyncio.gather(*(one(sql) for sql in statements))

    asyncio.run(go())


@pytest.fixture
def pg_databases() -> Iterator[list[str]]:
    """20 fresh PostgreSQL databases (asyncpg URLs); dropped afterwards."""
    names = [f"asyncmig_fleet_{uuid.uuid4().hex[:10]}" for _ in range(20)]
    try:
        pg_admin(f'CREATE DATABASE "{names[0]}"')
    except OSError as exc:
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    _pg_admin_all([f'CREATE DATABASE "{name}"' for name in names[1:]])
    base = PG_HOST.replace("postgresql://", "postgresql+asyncpg://", 1)
    yield [f"{base}/{name}" for name in names]
    _pg_admin_all([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names])


@pytest.fixture
def mariadb_databases() -> Iterator[list[str]]:
    names = [f"asyncmig_fleet_{uuid.uuid4().hex[:10]}" for _ in range(5)]
    try:
        mariadb_admin(f"CREATE DATABASE `{names[0]}`")
    except Exception as exc:
        pytest.skip(f"MariaDB is not reachable: {exc}")
    for name in names[1:]:
        mariadb_admin(f"CREATE DATABASE `{name}`")
    base = MARIADB_HOST.replace("mysql://", "mysql+asyncmy://", 1)
    yield [f"{base}/{name}" for name in names]
    for name in names:
        mariadb_admin(f"DROP DATABASE IF EXISTS `{name}`")


def json_lines(result: Result) -> dict[str, dict[str, object]]:
    found = {}
    for line in result.stdout.splitlines():
        data = json.loads(line)
        assert data["name"] not in found
        found[data["name"]] = data
    return found


@pytest.mark.postgres
def test_20_postgres_databases_then_shards(
    cli: Callable[..., Result], project: Project, pg_databases: list[str], tmp_path: Path
) -> None:
    ids = project.revisions(3)
    targets = tmp_path / "tenants.txt"
    lines = [json.dumps({"url": url, "name": f"db{i:02d}"}) for i, url in enumerate(pg_databases)]
    targets.write_text("# one tenant database per line\n" + "\n".join(lines) + "\n")

    result = cli("fleet", "upgrade", "--targets", str(targets), "--jobs", "4", "--json")
    assert result.exit_code == 0, result.output
    found = json_lines(result)
    assert sorted(found) == [f"db{i:02d}" for i in range(20)]
    for data in found.values():
        assert data["from"] == [] and data["to"] == [ids[-1]]
        assert data["steps"] == ids and data["error"] is None and data["exit_code"] == 0
        assert str(data["url"]).startswith("postgresql+asyncpg://postgres@127.0.0.1")

    status = cli("fleet", "status", "--targets", str(targets), "--json")
    assert status.exit_code == 0, status.output
    assert {d["state"] for d in json_lines(status).values()} == {"ok"}

    # Shards 0/4..3/4: every target exactly once.
    seen: list[str] = []
    for index in range(4):
        shard = cli("fleet", "current", "--targets", str(targets), "--shard", f"{index}/4",
                    "--json")  # fmt: skip
        assert shard.exit_code == 0, shard.output
        part = json_lines(shard)
        assert all(d["from"] == [ids[-1]] for d in part.values())
        seen += part
    assert sorted(seen) == sorted(found)
    # A Kubernetes Indexed Job's pod: JOB_COMPLETION_INDEX with --shard-count.
    pod = cli("fleet", "current", "--targets", str(targets), "--shard-count", "4", "--json",
              env={"JOB_COMPLETION_INDEX": "2"})  # fmt: skip
    assert pod.exit_code == 0, pod.output
    second = cli("fleet", "current", "--targets", str(targets), "--shard", "2/4", "--json")
    assert sorted(json_lines(pod)) == sorted(json_lines(second))

    # Downgrade one step everywhere, then status says each is behind (exit 4).
    down = cli("fleet", "downgrade", "-1", "--targets", str(targets), "-j", "4")
    assert down.exit_code == 0, down.output
    behind = cli("fleet", "status", "--targets", str(targets))
    assert behind.exit_code == 4, behind.output
    assert "fleet status: 20 targets (20 pending)" in behind.stdout


@pytest.mark.mariadb
def test_5_mariadb_databases(
    cli: Callable[..., Result], project: Project, mariadb_databases: list[str], tmp_path: Path
) -> None:
    ids = project.revisions(2)
    targets = tmp_path / "tenants.txt"
    targets.write_text("\n".join(mariadb_databases) + "\n")
    result = cli("fleet", "upgrade", "--targets", str(targets), "--jobs", "3")
    assert result.exit_code == 0, result.output
    assert "fleet upgrade: 5 targets (5 changed)" in result.stdout
    current = cli("fleet", "current", "--targets", str(targets), "--json")
    assert current.exit_code == 0, current.output
    found = json_lines(current)
    assert sorted(found) == sorted(url.rsplit("/", 1)[1] for url in mariadb_databases)
    assert {tuple(d["from"]) for d in found.values()} == {(ids[-1],)}  # type: ignore[arg-type]


@pytest.mark.mariadb
def test_a_schema_target_on_mariadb_is_refused(
    cli: Callable[..., Result], project: Project, mariadb_url: str, tmp_path: Path
) -> None:
    project.revisions(1)
    targets = tmp_path / "tenants.txt"
    targets.write_text("schema=tenant_a\n")
    result = cli("--url", mariadb_url, "fleet", "upgrade", "--targets", str(targets))
    assert result.exit_code == 2, result.output
    assert "schema targets need PostgreSQL" in result.output
