"""asyncmig as a deploy step (issue 4): concurrent replicas, the migration lock, waiting for
the database, exit codes, safety timeouts, ``plan``, and the recipes in docs/ci.md.

Real servers throughout: the lock is held from another session, the timeouts are real
PostgreSQL ``SET`` values, and the docs' entrypoint and YAML commands are run.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.engine import make_url
from support.projects import Project, make_project
from support.scripts import run_script
from support.sessions import PG_KEY, Session, pg_session

from asyncmig import locks
from asyncmig.errors import ExitCode

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SCRIPT = Path(sys.executable).with_name("asyncmig")
LOCK_MESSAGE = (
    "Error: migration lock not acquired within {t} s: another run is migrating this database "
    "(raise --lock-timeout to wait longer)"
)
LOCK_WAIT = "asyncmig: waiting for the migration lock: another run is migrating this database"
#: The lock-timeout line names the session holding the lock, as the server describes it.
PG_HOLDER = (
    r"held by PostgreSQL backend pid \d+ \(no application_name, client 127\.0\.0\.1, "
    r"connected since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, [a-z ()]+\)"
)
MARIADB_HOLDER = (
    r"held by connection \d+ \(user 'root' from [\w.:]+, Sleep, for \d+ s in that state\)"
)


def lock_message(timeout: str, holder: str) -> str:
    """The exit-5 line, as a regular expression."""
    return (
        rf"Error: migration lock not acquired within {re.escape(timeout)} s: {holder} "
        r"\(raise --lock-timeout to wait longer\)"
    )


def pg_fetch(url: str, sql: str) -> list[Any]:
    with pg_session(url) as s:
        return [tuple(row) for row in s.run(s.conn.fetch(sql))]


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sleepy(i: int, at: int) -> str:
    """Revision ``at`` creates its table, then sleeps 3 s: a statement_timeout must stop it."""
    create = f"op.create_table('t{i:04d}', sa.Column('id', sa.Integer, primary_key=True))"
    return f"{create}; op.execute('SELECT pg_sleep(3)')" if i == at else create


def err_lines(text: str) -> list[str]:
    """stderr without Alembic's INFO logging (which -q turns off)."""
    return [line for line in text.splitlines() if not line.startswith("INFO ")]


# -- concurrent replicas --------------------------------------------------------------------
def test_eight_concurrent_upgrades_apply_each_revision_once(project: Project, pg_url: str) -> None:
    ids = project.revisions(120)
    procs = [
        subprocess.Popen(
            [str(SCRIPT), "--url", pg_url, "--lock-timeout", "120", "upgrade", "head"],
            cwd=project.path,
            env={
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("ASYNCMIG_", "DATABASE_URL"))
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [(p.communicate(timeout=120), p.returncode) for p in procs]
    for (out, err), code in outputs:
        assert code == 0, out + err
    applied = [
        line.split()[4]
        for (out, _), _ in outputs
        for line in out.splitlines()
        if line.startswith("Applying ")
    ]
    assert sorted(applied) == ids  # every revision once, none twice
    summaries = sorted(out.splitlines()[-1] for (out, _), _ in outputs)
    assert summaries[:7] == ["Nothing to do: the database is at 0120aa."] * 7
    assert re.fullmatch(
        r"Upgraded 120 revisions in \d+\.\d\d s; the database is at 0120aa\.", summaries[7]
    )
    assert pg_fetch(pg_url, "SELECT version_num FROM alembic_version") == [("0120aa",)]
    tables = pg_fetch(
        pg_url, "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 't0%'"
    )
    assert tables == [(120,)]


def start_waiting_upgrade(
    project: Project, pg_url: str, *, lock_timeout: int
) -> subprocess.Popen[str]:
    """An ``upgrade head`` process, returned once it says it waits for the migration lock."""
    proc = subprocess.Popen(
        [str(SCRIPT), "--url", pg_url, "--lock-timeout", str(lock_timeout), "upgrade", "head"],
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    assert proc.stderr.readline().rstrip("\n") == LOCK_WAIT
    return proc


def test_replica_that_waited_finds_head_and_applies_nothing(
    project: Project, pg_url: str, cli
) -> None:
    project.revisions(5)
    sql = cli("--url", pg_url, "upgrade", "head", "--sql").stdout
    with pg_session(pg_url) as s:
        s.run(s.conn.fetchval("SELECT pg_advisory_lock($1)", PG_KEY))
        proc = start_waiting_upgrade(project, pg_url, lock_timeout=60)
        # Meanwhile "another replica" (this session, holding the lock) migrates everything.
        s.run(s.conn.execute(sql))
        s.run(s.conn.fetchval("SELECT pg_advisory_unlock($1)", PG_KEY))
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert out == "Nothing to do: the database is at 0005aa.\n"


# -- the lock held by someone else: exit 5 after --lock-timeout -----------------------------
@pytest.mark.parametrize("template", ["asyncmig", "async"])
def test_postgres_lock_held_elsewhere_exits_5(
    tmp_path: Path, pg_url: str, cli, template: str
) -> None:
    """Also for a plain ``alembic init -t async`` env.py: the hook, not the template, locks."""
    make_project(tmp_path, template).revisions(2)
    with pg_session(pg_url) as s:
        s.run(s.conn.fetchval("SELECT pg_advisory_lock($1)", PG_KEY))
        started = time.monotonic()
        result = cli("--url", pg_url, "--lock-timeout", "1", "upgrade", "head")
        elapsed = time.monotonic() - started
    assert result.exit_code == ExitCode.LOCKED == 5, result.output
    assert 1.0 <= elapsed < 4.0
    wait, line = err_lines(result.stderr)
    assert wait == LOCK_WAIT
    assert re.fullmatch(lock_message("1", PG_HOLDER), line), line
    assert result.stdout == ""
    assert pg_fetch(pg_url, "SELECT to_regclass('alembic_version')") == [(None,)]


def test_postgres_lock_released_in_time_is_taken(project: Project, pg_url: str) -> None:
    project.revisions(2)
    with pg_session(pg_url) as s:
        s.run(s.conn.fetchval("SELECT pg_advisory_lock($1)", PG_KEY))
        proc = start_waiting_upgrade(project, pg_url, lock_timeout=30)
    # Closing the session dropped its lock, as a killed replica's would be.
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert out.splitlines()[-1].startswith("Upgraded 2 revisions in ")


def test_read_only_commands_do_not_take_the_lock(project: Project, pg_url: str, cli) -> None:
    project.revisions(2)
    with pg_session(pg_url) as s:
        s.run(s.conn.fetchval("SELECT pg_advisory_lock($1)", PG_KEY))
        for args in (("current",), ("status",), ("plan",), ("history", "-i")):
            result = cli("--url", pg_url, "--lock-timeout", "0", *args)
            assert result.exit_code in (0, 4), (args, result.output)
        result = cli("-q", "--url", pg_url, "--lock-timeout", "0", "stamp", "0001aa")
        assert result.exit_code == 5, result.output
        (line,) = result.stderr.splitlines()
        assert re.fullmatch(lock_message("0", PG_HOLDER), line), line


def test_sqlite_lock_file_held_elsewhere_exits_5(project: Project, cli) -> None:
    project.revisions(2)
    fd = os.open(project.path / "app.db-asyncmig.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        started = time.monotonic()
        result = cli("--lock-timeout", "0.5", "upgrade", "head")
        elapsed = time.monotonic() - started
    finally:
        os.close(fd)
    assert result.exit_code == 5, result.output
    assert 0.5 <= elapsed < 3.5
    assert err_lines(result.stderr) == [LOCK_WAIT, LOCK_MESSAGE.format(t="0.5")]
    # The flock died with its descriptor: the next run goes through.
    result = cli("-q", "--lock-timeout", "0", "upgrade", "head")
    assert result.exit_code == 0, result.output


def test_mariadb_lock_held_elsewhere_exits_5(project: Project, mariadb_url: str, cli) -> None:
    import asyncmy

    project.revisions(2)
    url = make_url(mariadb_url)
    name = locks.mysql_lock_name(locks.lock_name("alembic_version", None), url.database)
    session = Session(
        lambda: asyncmy.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password or "",
            db=url.database,
        )
    )

    async def get_lock() -> Any:
        async with session.conn.cursor() as cur:
            await cur.execute("SELECT GET_LOCK(%s, 0)", (name,))
            return (await cur.fetchone())[0]

    try:
        assert session.run(get_lock()) == 1
        started = time.monotonic()
        result = cli("--url", mariadb_url, "--lock-timeout", "1", "upgrade", "head")
        elapsed = time.monotonic() - started
    finally:
        session.close()
    assert result.exit_code == 5, result.output
    assert 1.0 <= elapsed < 4.0
    wait, line = err_lines(result.stderr)
    assert wait == LOCK_WAIT
    assert re.fullmatch(lock_message("1", MARIADB_HOLDER), line), line
    result = cli("-q", "--url", mariadb_url, "--lock-timeout", "5", "upgrade", "head")
    assert result.exit_code == 0, result.output


# -- waiting for the database: exit 3 -------------------------------------------------------
def test_unreachable_port_waits_then_exits_3(project: Project, pg_database: str, cli) -> None:
    port = free_port()
    url = f"postgresql://postgres@127.0.0.1:{port}/{pg_database}"
    started = time.monotonic()
    result = cli("--url", url, "--wait-timeout", "1.5", "upgrade", "head")
    elapsed = time.monotonic() - started
    assert result.exit_code == ExitCode.UNREACHABLE == 3, result.output
    assert 1.5 <= elapsed < 4.5
    target = f"postgresql server 127.0.0.1:{port} database {pg_database}"
    reason = f"[Errno 111] Connect call failed ('127.0.0.1', {port})"
    *waits, last = result.stderr.splitlines()
    assert len(waits) >= 3
    for line in waits:
        assert re.fullmatch(
            re.escape(f"asyncmig: waiting for the database at {target}: {reason}; retrying in ")
            + r"\d\.\d s",
            line,
        ), line
    assert last == f"Error: cannot connect to {target}: {reason} (gave up after 1.5 s)"
    assert result.stdout == ""


def test_wait_timeout_zero_tries_once(project: Project, cli) -> None:
    port = free_port()
    started = time.monotonic()
    result = cli(
        "--url", f"postgresql://postgres@127.0.0.1:{port}/x", "--wait-timeout", "0", "status"
    )
    assert time.monotonic() - started < 2.0  # no backoff sleep at all
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines() == [
        f"Error: cannot connect to postgresql server 127.0.0.1:{port} database x: "
        f"[Errno 111] Connect call failed ('127.0.0.1', {port})"
    ]


def test_wait_timeout_from_the_environment(project: Project, cli) -> None:
    port = free_port()
    started = time.monotonic()
    result = cli(
        "--url",
        f"postgresql://postgres@127.0.0.1:{port}/x",
        "status",
        env={"ASYNCMIG_WAIT_TIMEOUT": "0.5"},
    )
    assert 0.5 <= time.monotonic() - started < 3.5
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines()[-1].endswith("(gave up after 0.5 s)")


def test_missing_role_fails_at_once_without_retrying(project: Project, pg_url: str, cli) -> None:
    url = make_url(pg_url).set(username="asyncmig_no_such_role")
    started = time.monotonic()
    result = cli(
        "--url", url.render_as_string(hide_password=False), "--wait-timeout", "30", "status"
    )
    assert time.monotonic() - started < 5.0  # far from --wait-timeout 30
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines() == [
        f"Error: cannot connect to postgresql server {url.host}:{url.port} "
        f"database {url.database}: "
        'role "asyncmig_no_such_role" does not exist'
    ]


def test_missing_database_is_waited_for(project: Project, cli) -> None:
    """A database not yet created (a compose stack starting) heals: it is retried."""
    result = cli(
        "--url",
        "postgresql://postgres@127.0.0.1:5432/asyncmig_not_created_yet",
        "--wait-timeout",
        "0.5",
        "status",
    )
    assert result.exit_code == 3, result.output
    assert "asyncmig: waiting for the database at" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "Error: cannot connect to postgresql server 127.0.0.1:5432 database "
        'asyncmig_not_created_yet: database "asyncmig_not_created_yet" does not exist '
        "(gave up after 0.5 s)"
    )


# -- status / check / current --check-heads: exit 4 -----------------------------------------
def test_status_check_and_check_heads_exit_4_until_upgraded(
    tmp_path: Path, pg_url: str, cli
) -> None:
    project = make_project(tmp_path)
    env_py = project.path / "migrations" / "env.py"
    # `check` compares models too: give it (empty) metadata so only "behind head" counts.
    env_py.write_text(
        env_py.read_text().replace(
            "target_metadata = None", "import sqlalchemy\ntarget_metadata = sqlalchemy.MetaData()"
        )
    )
    project.revisions(3, body=lambda i: "op.execute('SELECT 1')")  # no tables: no drift
    base = ("-q", "--url", pg_url)

    result = cli(*base, "status")
    assert result.exit_code == ExitCode.PENDING == 4, result.output
    result = cli("--url", pg_url, "status")
    assert result.stdout.splitlines() == [
        "Current: base",
        "Heads:   0003aa",
        "Pending: 3",
        "revision  from    message",
        "0001aa    base    create table t0001",
        "0002aa    0001aa  create table t0002",
        "0003aa    0002aa  create table t0003",
    ]
    assert cli(*base, "upgrade", "0002aa").exit_code == 0

    result = cli(*base, "check")
    assert result.exit_code == 4, result.output
    assert result.stderr == "Error: Target database is not up to date\n"
    result = cli(*base, "current", "--check-heads")
    assert result.exit_code == 4, result.output
    assert result.stderr == "Error: Database is not on all head revisions\n"
    result = cli(*base, "current", "--check-heads", "--json")
    assert result.exit_code == 4, result.output
    assert json.loads(result.stdout) == {"current": ["0002aa"], "heads": ["0003aa"]}

    assert cli(*base, "upgrade", "head").exit_code == 0
    for args in (("status",), ("check",), ("current", "--check-heads")):
        result = cli(*base, *args)
        assert result.exit_code == 0, (args, result.output)
    assert cli("--url", pg_url, "status").stdout.splitlines()[-1] == "Up to date."

    # At head, `check` still exits 4 when the models drifted from the database.
    env_py.write_text(
        env_py.read_text().replace(
            "sqlalchemy.MetaData()",
            "sqlalchemy.MetaData()\nsqlalchemy.Table('t_new', target_metadata, "
            "sqlalchemy.Column('id', sqlalchemy.Integer, primary_key=True))",
        )
    )
    result = cli(*base, "check")
    assert result.exit_code == 4, result.output
    assert result.stderr.startswith(
        "Error: model drift: New upgrade operations detected: [('add_table'"
    )
    assert len(result.stderr.splitlines()) == 1


# -- PostgreSQL safety timeouts: exit 1, rolled back ----------------------------------------
@pytest.mark.parametrize("how", ["flag", "env"])
def test_statement_timeout_fails_the_revision_and_rolls_back(
    project: Project, pg_url: str, cli, how: str
) -> None:
    project.revisions(4, body=lambda i: sleepy(i, at=3))
    assert cli("-q", "--url", pg_url, "upgrade", "0002aa").exit_code == 0
    if how == "flag":
        result = cli("--url", pg_url, "--statement-timeout", "1s", "upgrade", "head")
    else:
        result = cli("--url", pg_url, "upgrade", "head", env={"ASYNCMIG_STATEMENT_TIMEOUT": "1s"})
    assert result.exit_code == ExitCode.FAILED == 1, result.output
    assert err_lines(result.stderr) == [
        "Error: revision 0003aa (create table t0003) failed: "
        "canceling statement due to statement timeout"
    ]
    assert "Traceback" not in result.output
    # Transactional DDL: the version table and the schema are where they were.
    assert pg_fetch(pg_url, "SELECT version_num FROM alembic_version") == [("0002aa",)]
    assert pg_fetch(pg_url, "SELECT to_regclass('t0003')") == [(None,)]


def test_pg_lock_timeout_stops_a_blocked_alter(project: Project, pg_url: str, cli) -> None:
    project.revisions(
        2,
        body=lambda i: (
            "op.add_column('t0001', sa.Column('x', sa.Integer))"
            if i == 2
            else "op.create_table('t0001', sa.Column('id', sa.Integer, primary_key=True))"
        ),
    )
    assert cli("-q", "--url", pg_url, "upgrade", "0001aa").exit_code == 0
    with pg_session(pg_url) as s:
        tx = s.conn.transaction()
        s.run(tx.start())
        s.run(s.conn.execute("LOCK TABLE t0001 IN ACCESS SHARE MODE"))  # a long read
        started = time.monotonic()
        result = cli("-q", "--url", pg_url, "--pg-lock-timeout", "500ms", "upgrade", "head")
        elapsed = time.monotonic() - started
        s.run(tx.rollback())
    assert result.exit_code == 1, result.output
    assert elapsed < 4.0
    assert result.stderr == (
        "Error: revision 0002aa (create table t0002) failed: "
        "canceling statement due to lock timeout\n"
    )
    assert pg_fetch(pg_url, "SELECT version_num FROM alembic_version") == [("0001aa",)]


# -- plan -----------------------------------------------------------------------------------
def test_plan_prints_the_sql_from_the_current_revision_to_head(
    project: Project, pg_url: str, cli
) -> None:
    project.revisions(5)
    assert cli("-q", "--url", pg_url, "upgrade", "0002aa").exit_code == 0
    result = cli("-q", "--url", pg_url, "plan")
    assert result.exit_code == 0, result.output
    offline = cli("-q", "--url", pg_url, "upgrade", "0002aa:head", "--sql")
    assert result.stdout == offline.stdout
    assert "CREATE TABLE t0003" in result.stdout and "CREATE TABLE t0002" not in result.stdout
    assert "UPDATE alembic_version SET version_num='0005aa' WHERE" in result.stdout

    data = json.loads(cli("--url", pg_url, "plan", "--json").stdout)
    assert data["current"] == ["0002aa"] and data["target"] == "head"
    assert [s["revision"] for s in data["steps"]] == ["0003aa", "0004aa", "0005aa"]
    assert [s["from_revisions"] for s in data["steps"]] == [["0002aa"], ["0003aa"], ["0004aa"]]
    assert "CREATE TABLE t0004" in data["steps"][1]["sql"]
    assert data["sql"] == result.stdout

    partial = json.loads(cli("--url", pg_url, "plan", "0003aa", "--json").stdout)
    assert [s["revision"] for s in partial["steps"]] == ["0003aa"]
    # plan reads only: the database has not moved.
    assert pg_fetch(pg_url, "SELECT version_num FROM alembic_version") == [("0002aa",)]
    assert cli("-q", "--url", pg_url, "upgrade", "head").exit_code == 0
    result = cli("--url", pg_url, "plan")
    assert result.stdout == "Nothing to do: the database is at 0005aa.\n"


# -- docs/ci.md and its recipes -------------------------------------------------------------
def test_exit_code_table_matches_the_code() -> None:
    text = (DOCS / "ci.md").read_text()
    table = dict(re.findall(r"^\| (\d+) \| `(\w+)` \|", text, re.MULTILINE))
    assert table == {str(int(code)): code.name for code in ExitCode}


def test_docs_embed_the_recipe_files_verbatim() -> None:
    text = (DOCS / "ci.md").read_text()
    for name in ("entrypoint.sh", "github-actions.yml", "k8s-job.yaml"):
        block = re.search(
            rf"<!-- file: docs/ci/{re.escape(name)} -->\n```\w*\n(.*?)```", text, re.DOTALL
        )
        assert block is not None, name
        assert block.group(1) == (DOCS / "ci" / name).read_text(), name


def _entrypoint(project: Project, database_url: str, wait: str) -> subprocess.CompletedProcess[str]:
    env = {
        "DATABASE_URL": database_url,
        "ASYNCMIG_WAIT_TIMEOUT": wait,
        "PATH": f"{SCRIPT.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    app = [sys.executable, "-c", "print('app started')"]
    return subprocess.run(
        ["sh", str(DOCS / "ci" / "entrypoint.sh"), *app],
        cwd=project.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_docker_entrypoint_migrates_then_starts_the_app(project: Project, pg_url: str) -> None:
    project.revisions(3)
    plain_url = pg_url.replace("+asyncpg", "", 1)  # what a platform injects
    done = _entrypoint(project, plain_url, "10")
    assert done.returncode == 0, done.stdout + done.stderr
    *progress, summary, started = done.stdout.splitlines()
    assert len(progress) == 3 and started == "app started"
    assert summary.startswith("Upgraded 3 revisions in ")
    assert pg_fetch(pg_url, "SELECT version_num FROM alembic_version") == [("0003aa",)]
    # A restart finds the database at head.
    again = _entrypoint(project, plain_url, "10")
    assert again.stdout == "Nothing to do: the database is at 0003aa.\napp started\n"
    # An unreachable database stops the container before the app starts.
    failed = _entrypoint(project, f"postgresql://postgres@127.0.0.1:{free_port()}/x", "0")
    assert failed.returncode == 3
    assert "app started" not in failed.stdout


def _yaml_commands(name: str) -> list[list[str]]:
    """asyncmig invocations in a recipe: ``run:`` lines and ``command: [...]`` lists."""
    commands = []
    for raw in (DOCS / "ci" / name).read_text().splitlines():
        line = raw.strip()
        if "\t" in raw:
            raise AssertionError(f"tab in {name}: {raw!r}")
        flow = re.match(r"command: (\[.*\])$", line)
        if flow:
            argv = json.loads(flow.group(1))
        else:
            line = re.sub(r"^(- )?(run: )?", "", line)
            argv = shlex.split(line) if line.startswith("asyncmig ") else []
        if argv and argv[0] == "asyncmig":
            commands.append(argv[1:])
    return commands


@pytest.mark.parametrize(
    "name, expected",
    [
        ("github-actions.yml", 5),
        ("k8s-job.yaml", 2),
    ],
)
def test_recipe_commands_run_against_postgres(
    project: Project, pg_url: str, cli, name: str, expected: int
) -> None:
    """Each asyncmig command of the YAML recipes runs here, with the recipe's variables."""
    project.revisions(3)
    commands = _yaml_commands(name)
    assert len(commands) == expected
    text = (DOCS / "ci" / name).read_text()
    env: dict[str, str | None] = {"DATABASE_URL": pg_url.replace("+asyncpg", "", 1)}
    for key, value in re.findall(r"(ASYNCMIG_\w+):\s*\"?([\w.]+)\"?", text):
        env[key] = value
    for value in re.findall(r"name: (ASYNCMIG_\w+)\n\s+value: \"([\w.]+)\"", text):
        env[value[0]] = value[1]
    for argv in commands:
        result = cli(*argv, env=env)
        assert result.exit_code == 0, (argv, result.output)
    assert pg_fetch(pg_url, "SELECT version_num FROM alembic_version") == [("0003aa",)]


def test_help_lists_the_exit_codes() -> None:
    done = run_script("--help", cwd=ROOT)
    assert done.returncode == 0
    flat = " ".join(done.stdout.split())
    for code in ("0 success", "2 usage", "3 database unreachable", "4 pending", "5 migration lock"):
        assert code in flat


@pytest.mark.parametrize("spelling", ["symlink", "uri"])
def test_sqlite_lock_is_keyed_on_the_real_file(project: Project, spelling: str) -> None:
    """Runs reaching one SQLite file by different paths share one lock: each revision once."""
    ids = project.revisions(30)
    real = project.path / "data" / "app.db"
    real.parent.mkdir()
    (project.path / "link").symlink_to(real.parent)
    other = (
        f"sqlite+aiosqlite:///{project.path}/link/app.db"
        if spelling == "symlink"
        else f"sqlite+aiosqlite:///file:{real}?mode=rwc&uri=true"
    )
    urls = [f"sqlite+aiosqlite:///{real}", other] * 3
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNCMIG_", "DATABASE_URL"))}
    procs = [
        subprocess.Popen(
            [str(SCRIPT), "--url", url, "--lock-timeout", "60", "upgrade", "head"],
            cwd=project.path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for url in urls
    ]
    outputs = [(p.communicate(timeout=120), p.returncode) for p in procs]
    for (out, err), code in outputs:
        assert code == 0, out + err
    applied = [
        line.split()[4]
        for (out, _), _ in outputs
        for line in out.splitlines()
        if line.startswith("Applying ")
    ]
    assert sorted(applied) == ids


@pytest.mark.parametrize(
    ("args", "url_query", "expected"),
    [
        ((), "", "asyncmig"),
        (("--application-name", "deploy-42"), "", "deploy-42"),
        (("--application-name", "deploy-42"), "?application_name=mine", "mine"),
    ],
    ids=["default", "flag", "url-wins"],
)
def test_application_name_of_our_sessions(
    project: Project, pg_url: str, cli, args: tuple[str, ...], url_query: str, expected: str
) -> None:
    """What pg_stat_activity (and another run's lock-timeout line) shows for asyncmig."""
    body = "op.execute(\"CREATE TABLE seen AS SELECT current_setting('application_name') AS name\")"
    project.revisions(1, body=lambda i: body)
    result = cli(*args, "--url", pg_url + url_query, "upgrade", "head")
    assert result.exit_code == 0, result.output
    assert pg_fetch(pg_url, "SELECT name FROM seen") == [(expected,)]
