"""Eight ``asyncmig upgrade head`` processes at once through PgBouncer (issue 17).

Each revision must be applied exactly once, and every run must exit 0 (or 5 with the
lock-timeout line, never 1). A separate file from test_pooler.py so that xdist runs the
two on different workers (each starts its own pair of PgBouncers).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.projects import Project, make_project

from .pgbouncer import PooledDatabase, advisory_locks, tables, versions

SCRIPT = str(Path(sys.executable).with_name("asyncmig"))
RUNS = 8
REVISIONS = 60
LOCK_TIMEOUT = 60
LOCK_ERROR = (
    f"Error: migration lock not acquired within {LOCK_TIMEOUT} s: another run is migrating "
    "this database (raise --lock-timeout to wait longer)"
)


def per_migration(project: Project) -> None:
    """Switch the project's env.py to one transaction per revision."""
    env = project.path / "migrations" / "env.py"
    old = "run_migrations(target_metadata=target_metadata)"
    assert old in env.read_text()
    env.write_text(
        env.read_text().replace(
            old, "run_migrations(target_metadata=None, transaction_per_migration=True)"
        )
    )


def run_concurrently(db: PooledDatabase, cwd: Path) -> list[tuple[int, str, str]]:
    """Start RUNS upgrades together; (exit code, stdout, stderr) of each. All are killed if
    any is still running after LOCK_TIMEOUT + 60 s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNCMIG_", "DATABASE_URL"))}
    args = [SCRIPT, "--url", db.url, "--lock-timeout", str(LOCK_TIMEOUT), "upgrade", "head"]
    procs = [
        subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(RUNS)
    ]
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=LOCK_TIMEOUT + 60)
            results.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return results


def assert_each_revision_once(db: PooledDatabase, ids: list[str], results: list) -> None:
    for code, out, err in results:
        assert code in (0, 5), f"exit {code}\n{out}{err}"
        if code == 5:
            assert LOCK_ERROR in err.splitlines(), err
    assert 0 in [code for code, _, _ in results]
    applied = [
        line.split()[4]
        for code, out, _ in results
        if code == 0
        for line in out.splitlines()
        if line.startswith("Applying ")
    ]
    assert sorted(applied) == ids  # every revision once, none twice
    assert versions(db) == [ids[-1]]
    assert tables(db) == len(ids)
    assert advisory_locks(db) == []


def test_eight_concurrent_upgrades(tmp_path: Path, pooled: PooledDatabase) -> None:
    project = make_project(tmp_path / "proj")
    ids = project.revisions(REVISIONS)
    assert_each_revision_once(pooled, ids, run_concurrently(pooled, project.path))


def test_eight_concurrent_upgrades_one_transaction_per_revision(
    tmp_path: Path, pooled_asyncpg: PooledDatabase
) -> None:
    """``transaction_per_migration=True``: each revision commits on its own, so a lock held
    by one transaction cannot cover the whole run. In session mode the session lock covers
    it; through a transaction-mode pooler every run is refused (exit 2) before it reads or
    writes anything, with a line that says which URL to use instead."""
    project = make_project(tmp_path / "proj")
    ids = project.revisions(REVISIONS)
    per_migration(project)
    results = run_concurrently(pooled_asyncpg, project.path)
    if pooled_asyncpg.mode == "session":
        assert_each_revision_once(pooled_asyncpg, ids, results)
        return
    refusal = (
        "Error: transaction_per_migration=True cannot keep the migration lock through a "
        f"transaction-mode connection pooler (127.0.0.1:{pooled_asyncpg.bouncer.port}): use the "
        "database's direct or session-mode URL for migrations"
    )
    for code, out, err in results:
        assert code == 2, f"exit {code}\n{out}{err}"
        assert err.splitlines()[-1] == refusal, err
        assert out == ""
    assert versions(pooled_asyncpg) == []
    assert tables(pooled_asyncpg) == 0
    assert advisory_locks(pooled_asyncpg) == []
