"""The async API inside a running event loop: options, connections, errors, the process lock.

Driver coverage lives in tests/e2e/test_drivers.py; here SQLite is used wherever the backend
does not matter, PostgreSQL where transactional DDL does.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from support.projects import Project, make_project

import asyncmig
from asyncmig import process_lock
from asyncmig.results import Step


class Recorder:
    """An ``events=`` sink that records every step with a label."""

    def __init__(self, label: str, log: list[tuple[str, str]]) -> None:
        self.label = label
        self.log = log
        self.notices: list[str] = []

    def notice(self, message: str) -> None:
        self.notices.append(message)

    def step(self, step: Step, index: int, total: int | None) -> None:
        self.log.append((self.label, f"{index}/{total} {step.revision}"))


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


# -- options ------------------------------------------------------------------------------
async def test_config_path_default_url_and_no_output(project, capsys):
    project.revisions(2)
    result = await asyncmig.upgrade(config=project.ini)
    assert result.to_revisions == ("0002aa",)
    assert (project.path / "app.db").is_file()  # the ini's default URL
    assert await asyncmig.current(config=str(project.ini)) == ["0002aa"]
    assert capsys.readouterr().out == ""  # the API prints nothing to stdout


async def test_config_found_from_cwd(project, tmp_path):
    project.revisions(1)
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert (await asyncmig.upgrade(cwd=project.path)).to_revisions == ("0001aa",)
    assert await asyncmig.current(cwd=project.path) == ["0001aa"]


async def test_alembic_config_object(project, tmp_path):
    project.revisions(2)
    config = Config(str(project.ini))
    url = _sqlite_url(tmp_path / "other.db")
    assert (await asyncmig.upgrade("0001aa", config=config, url=url)).to_revisions == ("0001aa",)
    assert await asyncmig.current(config=config, url=url) == ["0001aa"]
    assert await asyncmig.current(config=config) == []  # the ini's own database is untouched


async def test_url_precedence_environ(project, tmp_path):
    project.revisions(1)
    env_url = _sqlite_url(tmp_path / "env.db")
    flag_url = _sqlite_url(tmp_path / "flag.db")
    await asyncmig.upgrade(config=project.ini, environ={"DATABASE_URL": env_url})
    assert (tmp_path / "env.db").is_file()
    assert (
        await asyncmig.current(config=project.ini, url=flag_url, environ={"DATABASE_URL": env_url})
        == []
    )
    assert await asyncmig.current(config=project.ini, environ={"ASYNCMIG_URL": env_url}) == [
        "0001aa"
    ]


async def test_section(project, tmp_path):
    project.revisions(1)
    url = _sqlite_url(tmp_path / "second.db")
    ini = project.ini.read_text()
    extra = f"\n[second]\nscript_location = migrations\nsqlalchemy.url = {url}\n"
    project.ini.write_text(ini + extra)
    await asyncmig.upgrade(config=project.ini, section="second")
    assert (tmp_path / "second.db").is_file()
    with pytest.raises(asyncmig.ConfigError, match=r"^no section \[third\] in alembic.ini"):
        await asyncmig.current(config=project.ini, section="third")


async def test_x_arguments_reach_the_revisions(project):
    check = "assert context.get_x_argument(as_dictionary=True).get('who') == 'api'"
    project.revisions(1, body=lambda i: f"from alembic import context; {check}")
    with pytest.raises(
        asyncmig.MigrationError,
        match=r"^revision 0001aa \(create table t0001\) "
        r"failed: AssertionError",
    ):
        await asyncmig.upgrade(config=project.ini)
    assert (await asyncmig.upgrade(config=project.ini, x=["who=api"])).to_revisions == ("0001aa",)


async def test_set_options_reach_the_engine(project):
    project.revisions(1)
    with pytest.raises(asyncmig.ConfigError, match=r"^--set cannot set sqlalchemy.url: use --url$"):
        await asyncmig.upgrade(config=project.ini, set_options=["sqlalchemy.url=sqlite://"])
    # pool_size is dropped (migrations run on NullPool), echo reaches the engine
    result = await asyncmig.upgrade(
        config=project.ini, set_options=["sqlalchemy.pool_size=5", "sqlalchemy.echo=false"]
    )
    assert result.to_revisions == ("0001aa",)


async def test_heads_needs_no_database(project):
    project.revisions(3)
    unreachable = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    assert await asyncmig.heads(config=project.ini, url=unreachable) == ["0003aa"]


async def test_unreachable_database(project):
    project.revisions(1)
    with pytest.raises(asyncmig.DatabaseUnreachable) as excinfo:
        await asyncmig.upgrade(
            config=project.ini, url="postgresql+asyncpg://nobody@127.0.0.1:1/none", wait_timeout=0
        )
    assert excinfo.value.exit_code == 3


async def test_unknown_revision_is_a_config_error(project):
    project.revisions(1)
    with pytest.raises(asyncmig.ConfigError, match="nope"):
        await asyncmig.upgrade("nope", config=project.ini)


async def test_plan_check_ensure_version(project):
    project.revisions(2)
    await asyncmig.ensure_version(config=project.ini)
    assert await asyncmig.current(config=project.ini) == []
    with pytest.raises(asyncmig.PendingMigrations) as excinfo:
        await asyncmig.check(config=project.ini)
    assert excinfo.value.exit_code == 4

    await asyncmig.upgrade("0001aa", config=project.ini)
    plan = await asyncmig.plan(config=project.ini)
    assert plan.current == ("0001aa",)
    assert plan.target == "head"
    assert [step.revision for step in plan.steps] == ["0002aa"]
    assert "CREATE TABLE t0002" in plan.sql
    assert "t0001" not in plan.sql
    assert await asyncmig.current(config=project.ini) == ["0001aa"]  # plan changed nothing


async def test_offline_sql(project):
    project.revisions(2)
    result = await asyncmig.upgrade(config=project.ini, sql=True)
    assert [step.revision for step in result.steps] == ["0001aa", "0002aa"]
    assert "CREATE TABLE t0002" in (result.steps[1].sql or "")
    assert not (project.path / "app.db").exists()


async def test_events_receive_each_step(project):
    project.revisions(2)
    log: list[tuple[str, str]] = []
    await asyncmig.upgrade(config=project.ini, events=Recorder("a", log))
    assert log == [("a", "1/2 0001aa"), ("a", "2/2 0002aa")]


# -- connections and transactions --------------------------------------------------------
@pytest.mark.postgres
async def test_caller_transaction_is_left_to_the_caller(project, pg_url):
    """An open transaction is external to Alembic: nothing is committed until the caller does."""
    project.revisions(2)
    engine = create_async_engine(pg_url)
    try:
        async with engine.connect() as conn:
            await conn.begin()
            result = await asyncmig.upgrade(config=project.ini, connection=conn)
            assert result.to_revisions == ("0002aa",)
            assert conn.in_transaction()
            assert await asyncmig.current(config=project.ini, connection=conn) == ["0002aa"]
            assert await asyncmig.current(config=project.ini, url=pg_url) == []  # not committed
            await conn.rollback()
            assert await asyncmig.current(config=project.ini, connection=conn) == []

            async with conn.begin():
                await conn.execute(text("CREATE TABLE app_data (id int)"))
                await asyncmig.upgrade(config=project.ini, connection=conn)
            # the caller committed: both its own work and the migrations persist
        assert await asyncmig.current(config=project.ini, url=pg_url) == ["0002aa"]
    finally:
        await engine.dispose()


async def test_reads_leave_no_transaction_open(project, tmp_path):
    """current() on a caller connection must not swallow the next upgrade into its read."""
    project.revisions(1)
    engine = create_async_engine(_sqlite_url(tmp_path / "conn.db"))
    try:
        async with engine.connect() as conn:
            assert await asyncmig.current(config=project.ini, connection=conn) == []
            assert not conn.in_transaction()
            await asyncmig.upgrade(config=project.ini, connection=conn)
            assert not conn.in_transaction()
    finally:
        await engine.dispose()
    url = _sqlite_url(tmp_path / "conn.db")
    assert await asyncmig.current(config=project.ini, url=url) == ["0001aa"]


# -- errors -------------------------------------------------------------------------------
async def test_error_reaches_gather_and_tasks(project, tmp_path):
    """Errors surface in whoever awaits: a task, gather, or the caller; never lost."""
    project.revisions(2, fail_at=2)
    task = asyncio.create_task(asyncmig.upgrade(config=project.ini))
    with pytest.raises(asyncmig.MigrationError) as excinfo:
        await task
    assert str(excinfo.value) == (
        "revision 0002aa (create table t0002) failed: no such table: no_such_table_anywhere"
    )
    good = make_project(tmp_path / "good")
    good.revisions(1)
    results = await asyncio.gather(
        asyncmig.upgrade(config=project.ini),
        asyncmig.upgrade(config=good.ini),
        return_exceptions=True,
    )
    assert isinstance(results[0], asyncmig.MigrationError)
    assert str(results[0]).startswith("revision 0002aa (create table t0002) failed: ")
    assert isinstance(results[1], asyncmig.RunResult)
    assert not process_lock.locked()


# -- the process-wide lock ----------------------------------------------------------------
def _slow(i: int) -> str:
    return (
        "import time; time.sleep(0.05); "
        f"op.create_table('t{i:04d}', sa.Column('id', sa.Integer, primary_key=True))"
    )


async def test_concurrent_calls_are_serialised(tmp_path):
    """Two projects, two databases, one process: the runs never interleave, both succeed."""
    first: Project = make_project(tmp_path / "first")
    second: Project = make_project(tmp_path / "second")
    first.revisions(3, body=_slow)
    second.revisions(3, body=_slow)
    log: list[tuple[str, str]] = []
    a, b = await asyncio.gather(
        asyncmig.upgrade(config=first.ini, events=Recorder("first", log)),
        asyncmig.upgrade(config=second.ini, events=Recorder("second", log)),
    )
    assert a.to_revisions == b.to_revisions == ("0003aa",)
    labels = [label for label, _ in log]
    assert labels in (["first"] * 3 + ["second"] * 3, ["second"] * 3 + ["first"] * 3), log
    assert await asyncmig.current(config=first.ini) == ["0003aa"]
    assert await asyncmig.current(config=second.ini) == ["0003aa"]


async def test_calls_wait_for_the_process_lock(project, tmp_path):
    project.revisions(1)
    engine = create_async_engine(_sqlite_url(tmp_path / "conn.db"))
    await process_lock.acquire()
    try:
        threaded = asyncio.create_task(asyncmig.upgrade(config=project.ini))
        shared = asyncio.create_task(_upgrade_on(engine, project))
        await asyncio.sleep(0.2)
        assert not threaded.done()
        assert not shared.done()
    finally:
        process_lock.release()
    try:
        assert (await threaded).to_revisions == ("0001aa",)
        assert (await shared).to_revisions == ("0001aa",)
    finally:
        await engine.dispose()
    assert not process_lock.locked()


async def _upgrade_on(engine, project: Project) -> asyncmig.RunResult:
    async with engine.connect() as conn:
        return await asyncmig.upgrade(config=project.ini, connection=conn)


async def test_cancelled_call_keeps_the_lock_until_its_thread_ends(project):
    """A worker thread cannot be stopped: its run finishes, and holds the lock until then."""
    project.revisions(2, body=lambda i: "import time; time.sleep(0.3)")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncmig.upgrade(config=project.ini), 0.1)
    assert process_lock.locked()
    started = time.monotonic()
    assert await asyncmig.current(config=project.ini) == ["0002aa"]
    assert time.monotonic() - started > 0.2  # it waited for the abandoned run to end
    assert not process_lock.locked()


@pytest.mark.postgres
async def test_cancelled_call_on_a_connection_stays_a_cancellation(project, pg_url):
    project.revisions(1, body=lambda i: "op.execute('SELECT pg_sleep(5)')")
    engine = create_async_engine(pg_url)
    try:
        async with engine.connect() as conn:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncmig.upgrade(config=project.ini, connection=conn), 0.3)
            assert time.monotonic() - started < 3
        assert not process_lock.locked()
        assert await asyncmig.current(config=project.ini, connection=engine) == []
    finally:
        await engine.dispose()


# -- a plain `alembic init -t async` env.py -----------------------------------------------
async def test_plain_alembic_async_env_runs_in_a_thread(tmp_path):
    """Its env.py calls asyncio.run(): the API runs it in a worker thread, so it works here."""
    plain = make_project(tmp_path / "plain", template="async")
    assert "asyncio.run(" in (plain.path / "migrations" / "env.py").read_text()
    plain.revisions(2)
    url = _sqlite_url(tmp_path / "plain.db")
    log: list[tuple[str, str]] = []
    result = await asyncmig.upgrade(config=plain.ini, url=url, events=Recorder("plain", log))
    assert result.to_revisions == ("0002aa",)
    assert log == [("plain", "1/2 0001aa"), ("plain", "2/2 0002aa")]
    assert await asyncmig.current(config=plain.ini, url=url) == ["0002aa"]
    assert (await asyncmig.downgrade("base", config=plain.ini, url=url)).to_revisions == ()


@pytest.mark.filterwarnings("ignore:coroutine 'run_async_migrations' was never awaited")
async def test_plain_alembic_async_env_with_a_connection_runs(tmp_path):
    """Its asyncio.run() inside run_sync is awaited on the caller's running loop."""
    plain = make_project(tmp_path / "plain", template="async")
    plain.revisions(1)
    url = _sqlite_url(tmp_path / "plain.db")
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            # url= only because the template's ini holds a placeholder URL
            result = await asyncmig.upgrade(config=plain.ini, url=url, connection=conn)
    finally:
        await engine.dispose()
    assert result.to_revisions == ("0001aa",)
    assert await asyncmig.current(config=plain.ini, url=url) == ["0001aa"]
