"""The no-op fast path (asyncmig.fastpath): the same answers as the full path, taken
only when everything env.py depended on is unchanged, and never in the way of a run
that has something to apply."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.databases import pg_fetch
from support.projects import Project, make_project
from support.scripts import run_script
from support.sessions import PG_KEY, pg_session
from typer.testing import Result

from asyncmig import fastpath
from asyncmig.fastpath import CACHE_NAME, Request, eligible

Cli = Callable[..., Result]

COMMANDS = (
    ("upgrade", "head"),
    ("upgrade", "heads"),
    ("status",),
    ("current",),
    ("current", "--check-heads"),
    ("current", "-v"),
    ("-q", "upgrade", "head"),
    ("status", "--json"),
    ("current", "--json"),
)


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Whether each command was answered by the fast path (True) or ran in full."""
    taken: list[bool] = []
    original = fastpath.consult

    def spy(request: Request) -> fastpath.Consulted:
        found = original(request)
        taken.append(found.answer is not None)
        return found

    monkeypatch.setattr(fastpath, "consult", spy)
    yield taken


def outcome(result: Result) -> tuple[int, str, str]:
    return result.exit_code, result.stdout, result.stderr


def recorded(project: Project) -> dict[str, object]:
    path = project.path / "migrations" / "__pycache__" / CACHE_NAME
    data: dict[str, object] = json.loads(path.read_text()) if path.is_file() else {}
    return data


def test_the_single_predicate() -> None:
    def ok(command: str, **arguments: object) -> bool:
        return eligible(Request(command, arguments, {}))

    assert ok("upgrade", revision="head", sql=False, tag=None, lint=False)
    assert ok("upgrade", revision="heads", sql=False, tag=None, lint=False)
    assert ok("status") and ok("current")
    assert not ok("upgrade", revision="+1", sql=False, tag=None, lint=False)
    assert not ok("upgrade", revision="head", sql=True, tag=None, lint=False)
    assert not ok("upgrade", revision="head", sql=False, tag="x", lint=False)
    assert not ok("upgrade", revision="head", sql=False, tag=None, lint=True)
    assert not ok("downgrade", revision="base") and not ok("history")


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_same_output_and_exit_code_with_and_without(
    project: Project, pg_url: str, cli: Cli, answers: list[bool], args: tuple[str, ...]
) -> None:
    project.revisions(3)
    assert cli("--url", pg_url, "upgrade", "head").exit_code == 0  # records
    full = outcome(cli("--url", pg_url, *args, env={"ASYNCMIG_FAST_PATH": "false"}))
    cli("--url", pg_url, *args)  # the first run of this command records it
    answers.clear()
    fast = outcome(cli("--url", pg_url, *args))
    assert answers == [True]
    if "--json" in args:
        assert json.loads(fast[1]) == json.loads(full[1])
        assert fast[0] == full[0] and fast[2] == full[2]
    else:
        assert fast == full
    assert full[0] == 0
    assert "Context impl PostgresqlImpl." in full[2] or "-q" in args or "--json" in args


def test_the_recording_holds_no_password(
    tmp_path: Path, pg_url: str, cli: Cli, answers: list[bool]
) -> None:
    project = make_project(tmp_path)
    project.revisions(1)
    url = pg_url.replace("postgres@", "postgres:s3cr%40t-pw@", 1)  # trust auth ignores it
    assert cli("--url", url, "upgrade", "head").exit_code == 0
    text = json.dumps(recorded(project))
    assert "secret_check" in text and "s3cr" not in text
    # The password comes from the URL again, checked against the hash.
    assert cli("--url", url, "upgrade", "head").exit_code == 0
    other = pg_url.replace("postgres@", "postgres:another@", 1)
    assert cli("--url", other, "upgrade", "head").exit_code == 0
    assert answers == [False, True, False]


@pytest.mark.parametrize("change", ["env.py", "revision", "ini", "environment", "url"])
def test_any_changed_input_falls_back(
    project: Project,
    pg_url: str,
    cli: Cli,
    answers: list[bool],
    change: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env_py = project.path / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text().replace(
            "run_migrations(target_metadata=target_metadata)",
            "import os\nrun_migrations(target_metadata=target_metadata, "
            "version_table=os.environ.get('FASTPATH_TABLE', 'alembic_version'))",
        )
    )
    project.revisions(2)
    assert cli("--url", pg_url, "upgrade", "head").exit_code == 0
    assert cli("--url", pg_url, "upgrade", "head").exit_code == 0
    answers.clear()
    url = pg_url
    if change == "env.py":
        env_py.write_text(env_py.read_text() + "\n# edited\n")
    elif change == "revision":
        project.revisions(1, start=2)
    elif change == "ini":
        project.ini.write_text(project.ini.read_text() + "\n# edited\n")
    elif change == "environment":
        monkeypatch.setenv("FASTPATH_TABLE", "other_version")
    else:
        url = pg_url + "?application_name=other"
    result = cli("--url", url, "upgrade", "head")
    assert answers == [False]
    if change == "environment":
        # env.py now reads another version table, which is empty: Alembic starts from base
        assert result.exit_code == 1
        assert 'relation "t0001" already exists' in result.stderr
        return
    assert result.exit_code == 0, result.output
    if change == "revision":
        assert result.stdout.startswith("Applying 1/1 0002aa → 0003aa")
    answers.clear()
    assert cli("--url", url, "upgrade", "head").exit_code == 0
    assert answers == [True]  # recorded again


def test_off_by_variable_and_ini(
    project: Project, pg_url: str, cli: Cli, answers: list[bool]
) -> None:
    project.revisions(1)
    for _ in range(2):
        assert cli("--url", pg_url, "upgrade", "head").exit_code == 0
    answers.clear()
    cli("--url", pg_url, "upgrade", "head", env={"ASYNCMIG_FAST_PATH": "false"})
    project.ini.write_text(
        project.ini.read_text().replace("[alembic]\n", "[alembic]\nasyncmig.fast_path = false\n")
    )
    cli("--url", pg_url, "upgrade", "head")
    cli("--url", pg_url, "upgrade", "head")
    assert answers == [False, False, False]


def test_no_lock_taken_when_nothing_is_pending(
    project: Project, pg_url: str, cli: Cli, answers: list[bool]
) -> None:
    project.revisions(2)
    for _ in range(2):
        assert cli("--url", pg_url, "--lock-timeout", "1", "upgrade", "head").exit_code == 0
    with pg_session(pg_url) as s:
        s.run(s.conn.fetchval("SELECT pg_advisory_lock($1)", PG_KEY))
        started = time.monotonic()
        fast = cli("--url", pg_url, "--lock-timeout", "1", "upgrade", "head")
        assert fast.exit_code == 0, fast.output
        assert time.monotonic() - started < 1
        full = cli(
            "--url",
            pg_url,
            "--lock-timeout",
            "1",
            "upgrade",
            "head",
            env={"ASYNCMIG_FAST_PATH": "false"},
        )
        assert full.exit_code == 5, full.output  # the full path waits for the lock
    assert answers[-2:] == [True, False]


def test_a_pending_revision_is_applied_under_the_lock(
    project: Project, pg_url: str, cli: Cli, answers: list[bool]
) -> None:
    project.revisions(3)
    for _ in range(2):
        assert cli("--url", pg_url, "upgrade", "head").exit_code == 0
    assert cli("--url", pg_url, "downgrade", "-1").exit_code == 0  # no longer at the head
    answers.clear()
    with pg_session(pg_url) as s:
        s.run(s.conn.fetchval("SELECT pg_advisory_lock($1)", PG_KEY))
        blocked = cli("--url", pg_url, "--lock-timeout", "1", "upgrade", "head")
    assert blocked.exit_code == 5, blocked.output  # it went for the lock
    result = cli("--url", pg_url, "upgrade", "head")
    assert result.exit_code == 0, result.output
    assert "0002aa → 0003aa" in result.stdout
    assert answers == [False, False]
    assert cli("--url", pg_url, "status").exit_code == 0


def test_concurrent_runs_apply_each_revision_once(project: Project, pg_url: str) -> None:
    counted = "op.execute(\"INSERT INTO applied VALUES ('{i}')\")"
    project.revisions(1, body=lambda i: "op.execute('CREATE TABLE applied (rev text)')")
    for _ in range(2):
        assert run_script("--url", pg_url, "upgrade", "head", cwd=project.path).returncode == 0
    project.revisions(4, start=1, body=lambda i: counted.format(i=i))
    exe = str(Path(sys.executable).with_name("asyncmig"))
    procs = [
        subprocess.Popen(
            [exe, "--url", pg_url, "upgrade", "head"],
            cwd=project.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    rows = sorted(pg_fetch(pg_url, "SELECT rev FROM applied"))
    assert rows == [("2",), ("3",), ("4",), ("5",)]


def test_sqlite_is_never_recorded(project: Project, cli: Cli, answers: list[bool]) -> None:
    project.revisions(1)
    for _ in range(2):
        assert cli("upgrade", "head").exit_code == 0
    assert answers == [False, False]
    assert not recorded(project).get("recordings")


def test_env_py_that_writes_a_file_is_not_recorded(
    project: Project, pg_url: str, cli: Cli, answers: list[bool]
) -> None:
    env_py = project.path / "migrations" / "env.py"
    env_py.write_text("open('env-ran.log', 'a').write('ran\\n')\n" + env_py.read_text())
    project.revisions(1)
    for _ in range(3):
        assert cli("--url", pg_url, "upgrade", "head").exit_code == 0
    assert answers == [False, False, False]
    assert (project.path / "env-ran.log").read_text() == "ran\n" * 3


# -- the console script: answered before the command line is built (asyncmig.entry) ------
ARGVS = [
    ["upgrade", "head"],
    ["upgrade"],
    ["--url", "sqlite+aiosqlite:///other.db", "upgrade", "heads", "--json"],
    ["-x", "a=1", "-x", "b=2", "--wait-timeout", "10s", "status", "--json"],
    ["--lock-timeout=1min", "-q", "current", "-v", "-c"],
    ["--set", "sqlalchemy.echo=false", "--statement-timeout", "30", "current", "--check-heads"],
    ["-c", "alembic.ini", "--env-file", ".env", "--traceback", "status"],
    ["--no-history", "--deploy-id", "r7", "upgrade", "head"],
]


@pytest.mark.parametrize("argv", ARGVS, ids=" ".join)
def test_the_entry_reads_the_command_line_as_typer_does(
    project: Project, cli: Cli, argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from asyncmig import entry

    (project.path / ".env").write_text("")
    seen: list[Request] = []

    def capture(request: Request) -> fastpath.Consulted:
        seen.append(request)
        return fastpath.Consulted(None)

    monkeypatch.setattr(fastpath, "consult", capture)
    cli(*argv)
    parsed = entry.parse(argv)
    assert parsed is not None and seen == [parsed[0]]


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["upgrade", "--help"],
        ["upgrade", "--sql"],
        ["upgrade", "+1"],
        ["upgrade", "head", "--tag", "t"],
        ["upgrade", "head", "--lint"],
        ["upgrade", "head", "--validate"],
        ["--no-history", "--no-history", "upgrade"],
        ["history"],
        ["-xa=1", "status"],
        ["--url"],
        ["--url", "a", "--url", "b", "status"],
        ["current", "-cv"],
        [],
    ],
    ids=" ".join,
)
def test_the_entry_leaves_everything_else_to_the_command_line(argv: list[str]) -> None:
    from asyncmig import entry

    assert entry.parse(argv) is None


def test_the_console_script_answers_without_typer_or_sqlalchemy(
    project: Project, pg_url: str
) -> None:
    project.revisions(3)
    for _ in range(2):
        assert run_script("--url", pg_url, "upgrade", "head", cwd=project.path).returncode == 0
    for args in (("upgrade", "head"), ("status",), ("current", "-v"), ("current", "-c")):
        run_script("--url", pg_url, *args, cwd=project.path)  # records this command
        fast = run_script("--url", pg_url, *args, cwd=project.path)
        full = run_script(
            "--url", pg_url, *args, cwd=project.path, env={"ASYNCMIG_FAST_PATH": "false"}
        )
        assert (fast.returncode, fast.stdout, fast.stderr) == (
            full.returncode,
            full.stdout,
            full.stderr,
        )
        traced = run_script(
            "--url", pg_url, *args, cwd=project.path, env={"PYTHONPROFILEIMPORTTIME": "1"}
        )
        imported = {line.rsplit("|", 1)[-1].strip() for line in traced.stderr.splitlines()}
        assert "asyncpg" in imported
        assert not {name for name in imported if name.startswith(("typer", "sqlalchemy"))}


def test_env_py_that_sets_search_path_is_never_answered_from_another_schema(
    tmp_path: Path, pg_url: str, cli: Cli, answers: list[bool]
) -> None:
    """Alembic's async template, with env.py moving the session to another schema before
    ``configure()``: the version table there is the one that counts."""
    project = make_project(tmp_path, "async")
    env_py = project.path / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text().replace(
            "    context.configure(connection=connection, target_metadata=target_metadata)",
            "    connection.exec_driver_sql('CREATE SCHEMA IF NOT EXISTS fp_other')\n"
            "    connection.exec_driver_sql('SET search_path TO fp_other')\n"
            "    connection.commit()\n"
            "    context.configure(connection=connection, target_metadata=target_metadata)",
        )
    )
    project.revisions(2)
    for _ in range(3):
        result = cli("--url", pg_url, "upgrade", "head")
        assert result.exit_code == 0, result.output
    assert answers == [False, False, False]
    assert pg_fetch(pg_url, "SELECT version_num FROM fp_other.alembic_version") == [("0002aa",)]
    # A version table in the default schema that says otherwise changes nothing.
    with pg_session(pg_url) as s:
        s.run(s.conn.execute("CREATE TABLE public.alembic_version (version_num varchar(32))"))
        s.run(s.conn.execute("INSERT INTO public.alembic_version VALUES ('0001aa')"))
    status = cli("--url", pg_url, "status")
    assert status.exit_code == 0 and "Up to date." in status.stdout


def test_a_changed_password_in_the_environment_falls_back(
    project: Project, pg_url: str, cli: Cli, answers: list[bool]
) -> None:
    """The key holds no secret: the same key, and the secret check sees the change."""
    project.revisions(1)
    first = {"DATABASE_URL": pg_url.replace("postgres@", "postgres:first-pw@", 1)}
    second = {"DATABASE_URL": pg_url.replace("postgres@", "postgres:second-pw@", 1)}
    for env in (first, first, second, second, first):
        assert cli("upgrade", "head", env=env).exit_code == 0  # type: ignore[arg-type]
    assert answers == [False, True, False, True, False]
    text = json.dumps(recorded(project))
    assert "first-pw" not in text and "second-pw" not in text


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql+asyncpg://app:pw@db/app?options=-c%20x@y", "pw"),
        ("postgresql://app:Pw@Secret@db/app", "Pw@Secret"),
        ("postgresql://app:p%40ss@db/app", "p@ss"),
        ("postgresql://app@db/app", None),
        ("postgresql://db/app", None),
    ],
)
def test_the_password_is_read_where_the_settings_read_it(url: str, password: str | None) -> None:
    """An ``@`` in the query is not the end of the password (else the secret check never
    matches, and every run records again)."""
    from asyncmig.fastpath_store import password_from

    assert password_from(url) == password
