"""``asyncmig show-config``: the table, the JSON shape, and that it needs no database."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import Project
from typer.testing import Result

Cli = Callable[..., Result]

ENGINE_KEYS = (
    "sqlalchemy.echo = true",
    "sqlalchemy.pool_pre_ping = true",
    "sqlalchemy.pool_recycle = 3600",
    "sqlalchemy.pool_size = 5",
    "sqlalchemy.connect_args = {}",
)


def add_ini(project: Project, *lines: str) -> None:
    """Add ``lines`` right after the template's ``sqlalchemy.url`` line (keys keep file order)."""
    url_line = "sqlalchemy.url = sqlite+aiosqlite:///%(here)s/app.db\n"
    text = project.ini.read_text()
    assert url_line in text
    project.ini.write_text(text.replace(url_line, url_line + "".join(f"{x}\n" for x in lines), 1))


def rows(text: str) -> list[list[str]]:
    """The plain-text table output as cells (columns are separated by two or more spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


def test_json_shape(cli: Cli, project: Project, tmp_path: Path) -> None:
    add_ini(project, *ENGINE_KEYS)
    result = cli(
        "--url",
        "postgres://app:s3cr3tpw@db.internal:5433/app",
        "show-config",
        "--json",
        env={"ASYNCMIG_SQLALCHEMY_ECHO_POOL": "debug"},
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    report: dict[str, Any] = json.loads(result.stdout)
    masked = "postgresql+asyncpg://app:***@db.internal:5433/app"
    assert report == {
        "config_file": str(tmp_path / "alembic.ini"),
        "toml_file": None,
        "section": "alembic",
        "engine": {
            "url": masked,
            "echo": True,
            "pool_pre_ping": True,
            "pool_recycle": 3600,
            "connect_args": "{}",
            "echo_pool": "debug",
            "poolclass": "NullPool",
        },
        "keys": [
            {"key": "sqlalchemy.url", "engine_arg": "url", "value": masked, "source": "--url"},
            {
                "key": "sqlalchemy.echo",
                "engine_arg": "echo",
                "value": True,
                "source": "alembic.ini:[alembic]",
            },
            {
                "key": "sqlalchemy.pool_pre_ping",
                "engine_arg": "pool_pre_ping",
                "value": True,
                "source": "alembic.ini:[alembic]",
            },
            {
                "key": "sqlalchemy.pool_recycle",
                "engine_arg": "pool_recycle",
                "value": 3600,
                "source": "alembic.ini:[alembic]",
            },
            {
                "key": "sqlalchemy.connect_args",
                "engine_arg": "connect_args",
                "value": "{}",
                "source": "alembic.ini:[alembic]",
            },
            {
                "key": "sqlalchemy.echo_pool",
                "engine_arg": "echo_pool",
                "value": "debug",
                "source": "env ASYNCMIG_SQLALCHEMY_ECHO_POOL",
            },
        ],
        "dropped": [
            {
                "key": "sqlalchemy.pool_size",
                "engine_arg": "pool_size",
                "value": 5,
                "source": "alembic.ini:[alembic]",
                "reason": "not accepted by NullPool",
            },
        ],
        "alembic": {
            "script_location": {
                "value": str(tmp_path / "migrations"),
                "source": "alembic.ini:[alembic]",
            },
            "prepend_sys_path": {"value": str(tmp_path), "source": "alembic.ini:[alembic]"},
            "path_separator": {"value": "os", "source": "alembic.ini:[alembic]"},
        },
        "asyncmig": {
            "wait_timeout": 5.0,
            "lock_timeout": 300.0,
            "statement_timeout": None,
            "pg_lock_timeout": None,
        },
    }


def test_engine_member_is_what_the_engine_gets(cli: Cli, project: Project) -> None:
    """Same values as SQLAlchemy's own engine_from_config coercion, with the URL masked."""
    from sqlalchemy.engine import make_url

    add_ini(
        project,
        "sqlalchemy.echo = false",
        "sqlalchemy.pool_recycle = 10",
        "sqlalchemy.pool_pre_ping = 0",
        "sqlalchemy.query_cache_size = 50",
    )
    report = json.loads(cli("show-config", "--json").stdout)
    engine = dict(report["engine"])
    assert engine.pop("poolclass") == "NullPool"
    url = make_url(engine.pop("url"))
    coerced = {"echo": False, "pool_recycle": 10, "pool_pre_ping": False, "query_cache_size": 50}
    assert engine == coerced
    types = dict(url.get_dialect().engine_config_types)
    assert types["echo"]("false") is False and types["pool_recycle"]("10") == 10
    assert {item["engine_arg"] for item in report["keys"]} == {"url", *coerced}


def test_table(cli: Cli, project: Project, tmp_path: Path) -> None:
    add_ini(project, "sqlalchemy.pool_size = 5", "sqlalchemy.pool_recycle = 3600")
    result = cli(
        "--set",
        "sqlalchemy.echo=true",
        "show-config",
        env={"DATABASE_URL": "mysql://root:rootpw@db/app"},
    )
    assert result.exit_code == 0, result.output
    assert "rootpw" not in result.output
    assert rows(result.stdout) == [
        [f"Engine (config: {tmp_path}/alembic.ini, section [alembic], poolclass=NullPool)"],
        ["key", "engine argument", "value", "source"],
        ["sqlalchemy.url", "url", "mysql+asyncmy://root:***@db/app", "env DATABASE_URL"],
        ["sqlalchemy.pool_recycle", "pool_recycle", "3600", "alembic.ini:[alembic]"],
        ["sqlalchemy.echo", "echo", "True", "--set"],
        ["sqlalchemy.pool_size", "(dropped: NullPool)", "5", "alembic.ini:[alembic]"],
        ["Alembic"],
        ["key", "value", "source"],
        ["script_location", f"{tmp_path}/migrations", "alembic.ini:[alembic]"],
        ["prepend_sys_path", str(tmp_path), "alembic.ini:[alembic]"],
        ["path_separator", "os", "alembic.ini:[alembic]"],
        ["asyncmig"],
        ["setting", "seconds"],
        ["wait_timeout", "5"],
        ["lock_timeout", "300"],
        ["statement_timeout", "-"],
        ["pg_lock_timeout", "-"],
    ]


def test_source_labels(cli: Cli, project: Project) -> None:
    """Every label form in one report."""
    Path(".env").write_text("ASYNCMIG_SQLALCHEMY_POOL_RECYCLE=5\n")
    Path("ci.env").write_text("ASYNCMIG_SQLALCHEMY_ECHO_POOL=true\n")
    add_ini(project, "sqlalchemy.pool_pre_ping = true")
    env = {"ASYNCMIG_SQLALCHEMY_ECHO": "debug", "ASYNCMIG_URL": "sqlite://"}
    result = cli(
        "--env-file",
        ".env",
        "--env-file",
        "ci.env",
        "--set",
        "sqlalchemy.hide_parameters=true",
        "show-config",
        "--json",
        env=env,
    )
    report = json.loads(result.stdout)
    assert {item["key"]: item["source"] for item in report["keys"]} == {
        "sqlalchemy.url": "env ASYNCMIG_URL",
        "sqlalchemy.pool_pre_ping": "alembic.ini:[alembic]",
        "sqlalchemy.pool_recycle": ".env ASYNCMIG_SQLALCHEMY_POOL_RECYCLE",
        "sqlalchemy.echo": "env ASYNCMIG_SQLALCHEMY_ECHO",
        "sqlalchemy.echo_pool": "ci.env ASYNCMIG_SQLALCHEMY_ECHO_POOL",
        "sqlalchemy.hide_parameters": "--set",
    }
    assert report["engine"]["hide_parameters"] is True
    report = json.loads(cli("--url", "sqlite://", "show-config", "--json").stdout)
    assert report["keys"][0]["source"] == "--url"


def test_works_without_a_reachable_database(cli: Cli, project: Project) -> None:
    started = time.monotonic()
    for url, masked in (
        ("postgresql://u:pw@127.0.0.1:1/nodb", "postgresql+asyncpg://u:***@127.0.0.1:1/nodb"),
        ("mysql://u:pw@no-such-host.invalid/db", "mysql+asyncmy://u:***@no-such-host.invalid/db"),
    ):
        result = cli("--url", url, "--wait-timeout", "30", "show-config", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["engine"]["url"] == masked
    assert time.monotonic() - started < 10  # no connection attempt, no wait


def test_imports_no_database_driver(project: Project, tmp_path: Path) -> None:
    """show-config (text and JSON) loads dialect classes only, never a driver module."""
    code = """
import json, sys
from typer.testing import CliRunner
from asyncmig.cli import app
for url in ["postgresql://u:pw@127.0.0.1:1/db", "postgresql+psycopg://u@h/db",
            "mysql://u:pw@h/db", "mariadb://u@h/db", "sqlite:///x.db"]:
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(app, ["--url", url, "show-config", *extra])
        assert result.exit_code == 0, result.output
drivers = {"asyncpg", "psycopg", "asyncmy", "aiosqlite", "aiomysql", "sqlite3", "psycopg2",
           "pymysql"}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in drivers)))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_pyproject_only(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.alembic]\nscript_location = "%(here)s/migrations"\npath_separator = "os"\n'
    )
    result = cli("--url", "sqlite:///app.db", "show-config")
    assert result.exit_code == 0, result.output
    table = rows(result.stdout)
    assert table[0] == [
        f"Engine (config: {tmp_path}/pyproject.toml, section [alembic], poolclass=NullPool)"
    ]
    assert ["script_location", f"{tmp_path}/migrations", "pyproject.toml:[tool.alembic]"] in table
    assert ["path_separator", "os", "pyproject.toml:[tool.alembic]"] in table


def test_quiet_still_prints_json(cli: Cli, project: Project) -> None:
    result = cli("-q", "show-config", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["section"] == "alembic"


def test_text_via_console_script(project: Project, tmp_path: Path) -> None:
    """The installed script prints the same table as the in-process CLI (no colour off a tty)."""
    from conftest import run_script

    done = run_script(
        "show-config", cwd=tmp_path, env={"DATABASE_URL": "postgres://u:pw12345@h/db"}
    )
    assert done.returncode == 0, done.stderr
    row = ["sqlalchemy.url", "url", "postgresql+asyncpg://u:***@h/db", "env DATABASE_URL"]
    assert row in rows(done.stdout)
    assert "pw12345" not in done.stdout + done.stderr
    assert "\x1b[" not in done.stdout


def test_json_members_are_documented(cli: Cli, project: Project) -> None:
    """docs/configuration.md has a row for every member show-config --json prints."""
    add_ini(project, "sqlalchemy.pool_size = 5")
    report = json.loads(cli("show-config", "--json").stdout)
    doc = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    members = [*report, *(f"keys[].{m}" for m in report["keys"][0]), *report["asyncmig"]]
    rows_text = "\n".join(line for line in doc.splitlines() if line.startswith("| `"))
    missing = [m for m in members if f"`{m}`" not in rows_text]
    assert missing == []
    assert set(report["dropped"][0]) == {*report["keys"][0], "reason"}
