"""What env.py sees in a fleet run (the cookbook's -x tenant, current_target()), the API,
--targets-sql, --fail-fast and masking; on PostgreSQL."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.databases import pg_execute, pg_fetch
from support.projects import Project
from test_fleet_schemas import version_tables
from typer.testing import Result

import asyncmig.fleet
from asyncmig.fleet import Target

pytestmark = pytest.mark.postgres

#: Alembic's cookbook recipe ("Rudimental Schema-Level Multi Tenancy for PostgreSQL
#: Databases"), plus a look at asyncmig.env.current_target().
COOKBOOK_ENV = textwrap.dedent("""\
    from alembic import context
    from sqlalchemy import engine_from_config, pool, text

    from asyncmig.env import current_target

    config = context.config
    target_metadata = None


    def run_migrations_online():
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        current_tenant = context.get_x_argument(as_dictionary=True).get("tenant")
        target = current_target()
        assert target is not None and target.schema == current_tenant, (target, current_tenant)
        with connectable.connect() as connection:
            connection.execute(text('set search_path to "%s"' % current_tenant))
            connection.commit()
            connection.dialect.default_schema_name = current_tenant
            context.configure(connection=connection, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()


    run_migrations_online()
    """)


def test_an_env_py_written_for_the_cookbook_recipe(
    cli: Callable[..., Result], project: Project, pg_url: str, tmp_path: Path
) -> None:
    (project.path / "migrations" / "env.py").write_text(COOKBOOK_ENV)
    ids = project.revisions(2)
    for name in ("tenant_a", "tenant_b", "tenant_c"):
        pg_fetch(pg_url, f'create schema "{name}"')
    query = (
        "select schema_name from information_schema.schemata "
        "where schema_name like 'tenant%' order by 1"
    )
    result = cli("--url", pg_url, "fleet", "upgrade", "--targets-sql", query, "-j", "2")
    assert result.exit_code == 0, result.output
    assert version_tables(pg_url) == dict.fromkeys(["tenant_a", "tenant_b", "tenant_c"], ids[-1])
    assert "fleet upgrade: 3 targets (3 changed)" in result.stdout


async def test_the_python_api(project: Project, pg_url: str) -> None:
    ids = project.revisions(2)
    result = await asyncmig.fleet.upgrade(
        "head",
        targets=["schema=one", {"schema": "two"}, Target(name="three", schema="three")],
        jobs=2,
        url=pg_url,
    )
    assert result.exit_code == 0
    assert [(r.name, r.steps, r.to_revisions) for r in result.results] == [
        (name, tuple(ids), (ids[-1],)) for name in ("one", "two", "three")
    ]
    assert {r.url for r in result.results} == {pg_url}  # the main database, masked
    status = await asyncmig.fleet.status(targets=["schema=one", "schema=four"], url=pg_url)
    assert [(r.name, r.state) for r in status.results] == [("one", "ok"), ("four", "pending")]
    assert status.exit_code == 4


def test_fail_fast_starts_nothing_after_a_failure(
    cli: Callable[..., Result], project: Project, pg_url: str, tmp_path: Path
) -> None:
    project.revisions(1, fail_at=1)
    (tmp_path / "t.txt").write_text("schema=a\nschema=b\nschema=c\n")
    result = cli("--url", pg_url, "fleet", "upgrade", "--targets", "t.txt", "-j", "1",
                 "--fail-fast")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "fleet upgrade: 3 targets (1 failed, 2 skipped)" in result.stdout
    assert "failed: a" in result.stdout


def test_the_command_line_resolves_the_settings_once_for_the_fleet(
    cli: Callable[..., Result],
    project: Project,
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once for the fleet (the main database's secrets, the targets), then once per target."""
    import asyncmig.settings

    calls: list[object] = []
    resolve = asyncmig.settings.resolve

    def counting(options: Any) -> Any:
        calls.append(options)
        return resolve(options)

    monkeypatch.setattr(asyncmig.settings, "resolve", counting)
    (tmp_path / "t.txt").write_text("schema=a\nschema=b\n")
    result = cli("--url", pg_url, "fleet", "current", "--targets", "t.txt", "-j", "1")
    assert result.exit_code == 0, result.output
    assert len(calls) == 1 + 2


def test_passwords_are_masked_in_every_output(
    cli: Callable[..., Result], project: Project, pg_url: str, tmp_path: Path
) -> None:
    project.revisions(1)
    secret = "Sup3r-Secret-9"
    with_password = pg_url.replace("postgres@", f"postgres:{secret}@")
    missing = with_password.rsplit("/", 1)[0] + "/asyncmig_no_such_database_here"
    (tmp_path / "t.txt").write_text(
        json.dumps({"url": with_password, "name": "good"}) + "\n"
        + json.dumps({"url": missing, "name": "gone"}) + "\n"
    )  # fmt: skip
    for extra in ((), ("--json",)):
        result = cli("--wait-timeout", "0", "fleet", "upgrade", "--targets", "t.txt", *extra)
        assert result.exit_code == 3, result.output
        assert secret not in result.output
        assert "postgres:***@" in result.output


def test_stamp_plan_check_and_current_on_schemas(
    cli: Callable[..., Result], project: Project, pg_url: str, tmp_path: Path
) -> None:
    ids = project.revisions(2)
    (tmp_path / "t.txt").write_text("schema=a\nschema=b\n")
    base = ("--url", pg_url, "fleet")
    stamped = cli(*base, "stamp", ids[0], "--targets", "t.txt")
    assert stamped.exit_code == 0, stamped.output
    assert version_tables(pg_url) == {"a": ids[0], "b": ids[0]}

    plan = cli(*base, "plan", "--targets", "t.txt", "-j", "1")
    assert plan.exit_code == 0, plan.output
    assert plan.stdout.count("-- fleet target: ") == 2
    assert "CREATE TABLE t0002" in plan.stdout and "CREATE TABLE t0001" not in plan.stdout
    planned = cli(*base, "plan", "--targets", "t.txt", "-j", "1", "--json")
    scripts = {row["name"]: row["sql"] for row in map(json.loads, planned.stdout.splitlines())}
    assert scripts["a"].startswith('SET search_path TO "a";\n'), scripts["a"][:200]
    pg_execute(pg_url, scripts["a"])  # as psql -f would: the tenant's table lands in its schema
    assert version_tables(pg_url) == {"a": ids[1], "b": ids[0]}
    assert pg_fetch(pg_url, "select table_schema from information_schema.tables "
                   "where table_name = 't0002'") == [("a",)]  # fmt: skip
    back = cli(*base, "downgrade", ids[0], "--targets", "t.txt")  # a where the rest expects it
    assert back.exit_code == 0, back.output

    check = cli(*base, "check", "--targets", "t.txt")
    assert check.exit_code == 4, check.output
    heads = cli(*base, "current", "--check-heads", "--targets", "t.txt", "--json")
    assert heads.exit_code == 4, heads.output
    assert {json.loads(line)["state"] for line in heads.stdout.splitlines()} == {"pending"}

    assert cli(*base, "upgrade", "--targets", "t.txt").exit_code == 0
    current = cli(*base, "current", "--check-heads", "--targets", "t.txt", "--json")
    assert current.exit_code == 0, current.output
    assert [json.loads(line)["from"] for line in current.stdout.splitlines()] == [[ids[-1]]] * 2


#: Starts the command of its arguments with SIGINT ignored, as a script's background job is.
SIGINT_IGNORED = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_sigterm_stops_the_workers_and_rolls_back(
    project: Project, pg_url: str, tmp_path: Path, sigint: str
) -> None:
    """SIGTERM reaches only asyncmig (Kubernetes): its workers roll back and stop, exit 143;
    also when asyncmig was started with SIGINT ignored (the signal the workers are sent)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    project.revisions(1, body=lambda i: "op.execute('SELECT pg_sleep(60)')")
    (tmp_path / "t.txt").write_text("schema=a\nschema=b\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNCMIG_", "DATABASE"))}
    exe = Path(sys.executable).with_name("asyncmig")
    wrapper = [sys.executable, "-c", SIGINT_IGNORED] if sigint == "ignored" else []
    proc = subprocess.Popen(
        [*wrapper, str(exe), "--url", pg_url, "fleet", "upgrade", "--targets", "t.txt", "-j", "2"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # a signal to asyncmig only, not to a process group
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sleeping = pg_fetch(
            pg_url,
            "select count(*) from pg_stat_activity where query like '%pg_sleep(60)%' "
            "and pid <> pg_backend_pid()",
        )
        if sleeping == [(2,)]:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, out + err
    assert version_tables(pg_url) == {}
    assert pg_fetch(
        pg_url,
        "select count(*) from pg_stat_activity where query like '%pg_sleep(60)%' "
        "and pid <> pg_backend_pid()",
    ) == [(0,)]
