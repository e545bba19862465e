"""Start-up cost and the migration path: what a command imports, how often it connects.

``--help``, ``--version`` and shell completion are typed by hand and run in every CI job,
so they must not pay for SQLAlchemy, Alembic or a driver; ``show-config`` must not load a
driver or ``alembic.command``. Each check runs the CLI in a fresh interpreter, because
this test process has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from support.projects import Project, make_project
from typer.testing import Result

Cli = Callable[..., Result]

DRIVERS = ("asyncpg", "aiosqlite", "psycopg", "asyncmy", "pymysql", "sqlite3")
HEAVY = ("sqlalchemy", "alembic", "pydantic", *DRIVERS)

_PROBE = """
import json, sys
out, *args = sys.argv[1:]
sys.argv = ["asyncmig", *args]
code = 0
try:
    from asyncmig.cli import main
    main()
except SystemExit as exc:
    code = exc.code
with open(out, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def imported(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[Any, set[str]]:
    """Run ``asyncmig *args`` in a fresh interpreter; its exit code and every module it loaded."""
    report = cwd / "modules.json"
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ASYNCMIG_", "DATABASE_URL", "_ASYNCMIG"))
    }
    full_env.update(env or {})
    subprocess.run(
        [sys.executable, "-c", _PROBE, str(report), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    data = json.loads(report.read_text())
    return data["code"], set(data["modules"])


def heavy(modules: set[str], roots: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in roots)


@pytest.mark.parametrize("args", [("--help",), ("-h",), (), ("--version",), ("upgrade", "--help")])
def test_help_and_version_import_no_database_stack(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, modules = imported(tmp_path, *args)
    assert code in (0, 2, None)
    assert heavy(modules) == []


def test_shell_completion_imports_no_database_stack(tmp_path: Path) -> None:
    env = {"_ASYNCMIG_COMPLETE": "complete_bash", "COMP_WORDS": "asyncmig upg", "COMP_CWORD": "1"}
    code, modules = imported(tmp_path, env=env)
    assert code in (0, None)
    assert heavy(modules) == []


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:pw@db.invalid:5432/app",
        "postgresql+psycopg://user@db.invalid/app",
        "mysql://root@db.invalid/app",
        None,  # the template's default SQLite file
    ],
)
def test_show_config_imports_no_driver_and_no_alembic_command(
    tmp_path: Path, url: str | None
) -> None:
    make_project(tmp_path)
    code, modules = imported(tmp_path, *(("--url", url) if url else ()), "show-config")
    assert code == 0
    assert heavy(modules, DRIVERS) == []
    assert not {m for m in modules if m == "alembic.command" or m.startswith("alembic.runtime")}
    assert "pydantic" not in modules


def test_a_command_imports_no_pydantic(tmp_path: Path) -> None:
    """Typer coerces options through Pydantic; asyncmig's plain string options skip it."""
    make_project(tmp_path)
    code, modules = imported(
        tmp_path, "-q", "--wait-timeout", "1", "--set", "sqlalchemy.echo=false", "upgrade", "head"
    )
    assert code == 0
    assert heavy(modules, ("pydantic", "dotenv")) == []


def test_bad_option_values_are_still_usage_errors(cli: Cli, project: Project) -> None:
    result = cli("--wait-timeout", "soon", "current")
    assert result.exit_code == 2, result.output
    assert (
        result.stderr
        == "Error: --wait-timeout: 'soon' is not a duration (use 30, 2.5s, 500ms or 5min)\n"
    )


# -- the migration path ----------------------------------------------------------------------
@pytest.fixture
def connects() -> Iterator[list[object]]:
    """Every DBAPI connection any engine opens while the test runs."""
    opened: list[object] = []

    def on_connect(dbapi_connection: object, record: object) -> None:
        opened.append(dbapi_connection)

    event.listen(Engine, "connect", on_connect)
    yield opened
    event.remove(Engine, "connect", on_connect)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Python file Alembic loads (env.py and each revision file)."""
    from alembic.util import pyfiles

    loaded: list[str] = []
    original = pyfiles.load_python_file

    def counting(dir_: str, filename: str) -> Any:
        loaded.append(filename)
        return original(dir_, filename)

    monkeypatch.setattr("alembic.util.load_python_file", counting)
    return loaded


def test_postgres_migration_commands_connect_once_and_read_scripts_once(
    cli: Cli, project: Project, pg_url: str, connects: list[object], loads: list[str]
) -> None:
    project.revisions(3)
    every = ["0001aa_create_t0001.py", "0002aa_create_t0002.py", "0003aa_create_t0003.py"]
    # The first run reads every file once (and indexes it); later runs read a revision
    # file only to run it (asyncmig.revindex). The full path each time: the no-op fast
    # path (tests/test_fastpath.py) would answer the later ones without env.py.
    for args, files in (
        (("upgrade", "head"), every),
        (("upgrade", "head"), []),
        (("current",), []),
        (("status",), []),
        (("downgrade", "base"), every),
    ):
        connects.clear()
        loads.clear()
        result = cli("-q", "--url", pg_url, *args, env={"ASYNCMIG_FAST_PATH": "false"})
        assert result.exit_code in (0, 4), result.output
        assert len(connects) == 1, args
        assert sorted(loads) == [*files, "env.py"], args


def test_sqlite_upgrade_connects_once_with_lock_and_progress(
    cli: Cli, project: Project, connects: list[object], loads: list[str]
) -> None:
    project.revisions(2)
    result = cli("upgrade", "head")
    assert result.exit_code == 0, result.output
    assert "Applying 2/2" in result.output
    assert len(connects) == 1
    assert sorted(loads) == ["0001aa_create_t0001.py", "0002aa_create_t0002.py", "env.py"]


def test_the_app_for_a_command_holds_that_command_only() -> None:
    """Typer builds every command it has before parsing: a run builds the one it runs."""
    from asyncmig.cli import app, app_for

    lean = app_for(["-q", "--url", "sqlite://", "-x", "a=b", "upgrade", "head"])
    assert [info.name for info in lean.registered_commands] == ["upgrade"]
    assert app_for(["-c", "x.ini", "ensure_version", "--sql"]).registered_commands[0].name == (
        "ensure_version"
    )
    for argv in (["--help"], ["--version"], [], ["nosuch"], ["--bogus", "current"]):
        assert app_for(argv) is app, argv
