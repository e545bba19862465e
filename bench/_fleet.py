"""``bench.py --only fleet``: T tenant schemas × N revisions, ``asyncmig fleet upgrade`` with
``--jobs 1,4,8`` against the way people script it today: a serial shell loop running one
``alembic -x tenant=NAME upgrade head`` process per tenant, with an env.py written per
Alembic's cookbook recipe (search_path set from ``-x tenant``) on psycopg.

Each run gets its own database with the T empty schemas made beforehand (untimed), so every
run migrates every tenant from base to head. Timing is the wall clock of the whole loop or
the whole ``asyncmig fleet`` process.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

FLEET_START, FLEET_END = "<!-- bench:fleet:start -->", "<!-- bench:fleet:end -->"
#: The fleet issue's target: ``--jobs 8`` at least this many times faster than the loop.
FLEET_TARGET = 5.0

COOKBOOK_ENV = textwrap.dedent('''\
    """Alembic's cookbook recipe: schema-level multi-tenancy with -x tenant=NAME."""
    from alembic import context
    from sqlalchemy import engine_from_config, pool, text

    config = context.config
    target_metadata = None


    def run_migrations_online():
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        current_tenant = context.get_x_argument(as_dictionary=True).get("tenant")
        with connectable.connect() as connection:
            connection.execute(text('set search_path to "%s"' % current_tenant))
            connection.commit()
            connection.dialect.default_schema_name = current_tenant
            context.configure(connection=connection, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()


    run_migrations_online()
    ''')


@dataclass
class FleetRow:
    label: str
    seconds: float | None = None
    failed: str | None = None
    samples: list[float] = field(default_factory=list)


def _tenants(count: int) -> list[str]:
    return [f"tenant_{i:04d}" for i in range(count)]


def _make_projects(
    work: Path, n: int, revision_source: Callable[[int], str], asyncmig: str, alembic: str,
    env: dict[str, str],
) -> tuple[Path, Path]:  # fmt: skip
    mig, plain = work / "fleet-asyncmig", work / "fleet-alembic"
    for path, cmd in ((mig, [asyncmig, "init", "migrations"]),
                      (plain, [alembic, "init", "migrations"])):  # fmt: skip
        path.mkdir(parents=True)
        subprocess.run(cmd, cwd=path, env=env, check=True, capture_output=True)
        versions = path / "migrations" / "versions"
        versions.mkdir(exist_ok=True)
        for i in range(1, n + 1):
            (versions / f"{i:04d}bb_create_t{i:04d}.py").write_text(revision_source(i))
    (plain / "migrations" / "env.py").write_text(COOKBOOK_ENV)
    return mig, plain


def _set_url(project: Path, url: str) -> None:
    ini = project / "alembic.ini"
    ini.write_text(
        re.sub(r"(?m)^sqlalchemy\.url\s*=.*$", lambda _: f"sqlalchemy.url = {url}", ini.read_text())
    )


def bench_fleet(
    args: argparse.Namespace,
    work: Path,
    log: Callable[[str], None],
    *,
    pg_admin: Callable[[str, str], None],
    revision_source: Callable[[int], str],
    clean_env: Callable[[], dict[str, str]],
    asyncmig: str,
    alembic: str,
) -> list[FleetRow]:
    tenants = _tenants(args.fleet_tenants)
    n = args.fleet_n
    jobs = [int(x) for x in args.fleet_jobs.split(",") if x.strip()]
    env = clean_env()
    mig, plain = _make_projects(work, n, revision_source, asyncmig, alembic, env)
    (mig / "tenants.txt").write_text("".join(f"schema={t}\n" for t in tenants))
    base = args.pg
    databases: list[str] = []

    def fresh_database(label: str) -> str:
        name = f"asyncmig_bench_fleet_{label}_{os.getpid()}"
        pg_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        pg_admin(base, f'CREATE DATABASE "{name}"')
        databases.append(name)
        _schemas(base, name, tenants)
        return name

    rows = [FleetRow("serial loop: alembic -x tenant=NAME upgrade head, one process per tenant")]
    rows += [FleetRow(f"asyncmig fleet upgrade head --jobs {j}") for j in jobs]
    try:
        # Compile both projects' bytecode once (untimed), as an installed app would have.
        subprocess.run([asyncmig, "heads"], cwd=mig, env=env, capture_output=True)
        subprocess.run([alembic, "heads"], cwd=plain, env=env, capture_output=True)
        for r in range(args.fleet_repeat):
            db = fresh_database(f"alembic{r}")
            _set_url(plain, f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{db}")
            log(f"fleet: serial alembic loop over {len(tenants)} tenants × {n} revisions ...")
            started = time.perf_counter()
            for tenant in tenants:
                done = subprocess.run(
                    [alembic, "-x", f"tenant={tenant}", "upgrade", "head"],
                    cwd=plain, env=env, capture_output=True, text=True,
                )  # fmt: skip
                if done.returncode:
                    rows[0].failed = (done.stderr.strip().splitlines() or ["?"])[-1]
                    break
            rows[0].samples.append(time.perf_counter() - started)
            for row, j in zip(rows[1:], jobs, strict=True):
                db = fresh_database(f"j{j}r{r}")
                url = f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{db}"
                log(f"fleet: asyncmig fleet upgrade --jobs {j} ...")
                started = time.perf_counter()
                done = subprocess.run(
                    [asyncmig, "-q", "--url", url, "fleet", "upgrade", "head",
                     "--targets", "tenants.txt", "--jobs", str(j)],
                    cwd=mig, env=env, capture_output=True, text=True,
                )  # fmt: skip
                row.samples.append(time.perf_counter() - started)
                if done.returncode:
                    row.failed = (done.stderr.strip().splitlines() or ["?"])[-1]
            _check_heads(base, databases[-1], tenants, f"{n:04d}bb")
    finally:
        for name in databases:
            pg_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for row in rows:
        row.seconds = min(row.samples) if row.samples else None
    return rows


def _schemas(base: str, database: str, tenants: list[str]) -> None:
    import asyncio

    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(f"{base}/{database}")
        try:
            await conn.execute("; ".join(f'CREATE SCHEMA "{t}"' for t in tenants))
        finally:
            await conn.close()

    asyncio.run(go())


def _check_heads(base: str, database: str, tenants: list[str], head: str) -> None:
    """The last fleet run left every tenant at head (a benchmark of a broken run is void)."""
    import asyncio

    import asyncpg

    async def go() -> list[str]:
        conn = await asyncpg.connect(f"{base}/{database}")
        try:
            sql = " union all ".join(
                f'select version_num from "{t}".alembic_version' for t in tenants
            )
            rows = await conn.fetch(sql)
            return [row[0] for row in rows]
        finally:
            await conn.close()

    found = asyncio.run(go())
    assert found == [head] * len(tenants), f"not every tenant is at {head}"


def fleet_report(rows: list[FleetRow], args: argparse.Namespace, environment: str) -> str:
    loop = rows[0].seconds
    lines = [
        FLEET_START,
        f"Measured {date.today().isoformat()} with `python bench/bench.py --only fleet "
        f"--fleet-tenants {args.fleet_tenants} --fleet-n {args.fleet_n} --fleet-jobs "
        f"{args.fleet_jobs}` ({args.fleet_repeat} run{'s' if args.fleet_repeat > 1 else ''}, "
        "best reported). "
        f"{args.fleet_tenants} PostgreSQL schemas × {args.fleet_n} revisions (each a table "
        "with a foreign key, an index and an added column), every tenant from base to head; "
        "each run on its own database with the empty schemas made beforehand (untimed).",
        "",
        environment,
        "",
        "| run | wall time | per tenant | speed-up vs the serial loop |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        if row.seconds is None or row.failed:
            lines.append(f"| {row.label} | failed: {row.failed} | | |")
            continue
        per = row.seconds / args.fleet_tenants * 1000
        ratio = f"{loop / row.seconds:.1f}×" if loop else "—"
        lines.append(f"| {row.label} | {row.seconds:.1f} s | {per:.0f} ms | {ratio} |")
    best = next((r for r in rows if r.label.endswith("--jobs 8")), None)
    if loop and best is not None and best.seconds:
        ratio = loop / best.seconds
        verdict = "met" if ratio >= FLEET_TARGET else "NOT met"
        lines += [
            "",
            f"Target: `--jobs 8` at least {FLEET_TARGET:.0f}× faster than the serial loop: "
            f"{ratio:.1f}× ({verdict}).",
        ]
    lines.append(FLEET_END)
    return "\n".join(lines)
