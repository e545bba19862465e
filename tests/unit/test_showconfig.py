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

import pytest
from support.projects import Project, make_project
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


def key(name: str, arg: str, value: Any, source: str, status: str = "used", **kw: Any) -> dict:
    """One ``keys[]`` member of the JSON report."""
    item = {"key": name, "engine_arg": arg, "value": value, "source": source, "status": status}
    return {**item, "reason": kw.get("reason"), "suggestion": kw.get("suggestion")}


INI = "alembic.ini:[alembic]"


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
    dropped = key(
        "sqlalchemy.pool_size",
        "pool_size",
        5,
        INI,
        "dropped",
        reason="NullPool takes no pool_size argument",
    )
    assert report == {
        "config_file": str(tmp_path / "alembic.ini"),
        "toml_file": None,
        "section": "alembic",
        "connect": {
            "host": "db.internal",
            "port": 5433,
            "user": "app",
            "password": "***",
            "database": "app",
        },
        "notes": [],
        "engine": {
            "url": masked,
            "echo": True,
            "pool_pre_ping": True,
            "pool_recycle": 3600,
            "connect_args": {},
            "echo_pool": "debug",
            "poolclass": "NullPool",
        },
        "keys": [
            key("sqlalchemy.url", "url", masked, "--url"),
            key("sqlalchemy.echo", "echo", True, INI),
            key("sqlalchemy.pool_pre_ping", "pool_pre_ping", True, INI),
            key("sqlalchemy.pool_recycle", "pool_recycle", 3600, INI),
            key("sqlalchemy.connect_args", "connect_args", {}, INI),
            key("sqlalchemy.echo_pool", "echo_pool", "debug", "env ASYNCMIG_SQLALCHEMY_ECHO_POOL"),
            dropped,
        ],
        "dropped": [dropped],
        "alembic": {
            "script_location": {"value": str(tmp_path / "migrations"), "source": INI},
            "prepend_sys_path": {"value": str(tmp_path), "source": INI},
            "path_separator": {"value": "os", "source": INI},
        },
        "warnings": [],
        "asyncmig": {
            "wait_timeout": 5.0,
            "lock_timeout": 300.0,
            "statement_timeout": None,
            "pg_lock_timeout": None,
            "application_name": "asyncmig",
            "history": True,
            "deploy_id": None,
        },
        "pooler": None,
    }


POOLER_HANDLING = (
    "asyncmig checks on connecting; through a transaction-mode pooler it takes the migration "
    "lock and timeouts inside each migration transaction and refuses transaction_per_migration "
    "and autocommit_block(); prepared statements are never cached. Better: use the database's "
    "direct or session-mode URL for migrations"
)


@pytest.mark.parametrize(
    ("where", "hint"),
    [
        (
            "aws-0-eu-central-1.pooler.supabase.com:6543",
            "Supabase's pooler in transaction mode (port 6543)",
        ),
        (
            "aws-0-eu-central-1.pooler.supabase.com:5432",
            "Supabase's pooler (session mode on port 5432, transaction mode on 6543)",
        ),
        ("db.example.com:6543", "port 6543 (Supabase's transaction-mode pooler port)"),
        (
            "ep-cool-darkness-123456-pooler.eu-central-1.aws.neon.tech",
            "a Neon '-pooler' host (PgBouncer in transaction mode)",
        ),
        ("pgbouncer.internal:5432", "a pgbouncer host (PgBouncer's usual)"),
        ("db.internal:6432", "port 6432 (PgBouncer's usual)"),
    ],
)
def test_a_url_that_looks_like_a_pooler_is_named(
    cli: Cli, project: Project, where: str, hint: str
) -> None:
    url = f"postgresql+asyncpg://app:pw@{where}/app"
    report = json.loads(cli("--url", url, "show-config", "--json").stdout)
    assert report["pooler"] == {"hint": hint, "handling": POOLER_HANDLING}
    text = cli("--url", url, "show-config").stdout.splitlines()
    notes = [line for line in text if line.startswith("Note:")]
    assert notes == [
        f"Note: the URL looks like a connection pooler, {hint}.",
        f"Note: {POOLER_HANDLING}.",
    ]


def test_a_direct_url_names_no_pooler(cli: Cli, project: Project) -> None:
    for url in ("postgresql+asyncpg://app@db.example.com:5432/app", "mysql+asyncmy://r@h:6543/a"):
        report = json.loads(cli("--url", url, "show-config", "--json").stdout)
        assert report["pooler"] is None
        assert "pooler" not in cli("--url", url, "show-config").stdout


def test_engine_member_is_what_the_engine_gets(cli: Cli, project: Project) -> None:
    """SQLAlchemy's own engine_from_config coercion, plus the bools/ints it leaves as text."""
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
        ["key", "status", "value", "source", "reason"],
        ["sqlalchemy.url", "used", "mysql+asyncmy://root:***@db/app", "env DATABASE_URL"],
        ["sqlalchemy.pool_recycle", "used", "3600", INI],
        ["sqlalchemy.echo", "used", "True", "--set"],
        ["sqlalchemy.pool_size", "dropped", "5", INI, "NullPool takes no pool_size argument"],
        ["Alembic"],
        ["key", "value", "source"],
        ["script_location", f"{tmp_path}/migrations", INI],
        ["prepend_sys_path", str(tmp_path), INI],
        ["path_separator", "os", INI],
        ["asyncmig"],
        ["setting", "value"],
        ["wait_timeout", "5"],
        ["lock_timeout", "300"],
        ["statement_timeout", "-"],
        ["pg_lock_timeout", "-"],
        ["application_name", "asyncmig"],
        ["history", "True"],
        ["deploy_id", "-"],
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
    from support.scripts import run_script

    done = run_script(
        "show-config", cwd=tmp_path, env={"DATABASE_URL": "postgres://u:pw12345@h/db"}
    )
    assert done.returncode == 0, done.stderr
    row = ["sqlalchemy.url", "used", "postgresql+asyncpg://u:***@h/db", "env DATABASE_URL"]
    assert row in rows(done.stdout)
    assert "pw12345" not in done.stdout + done.stderr
    assert "\x1b[" not in done.stdout


def test_json_members_are_documented(cli: Cli, project: Project) -> None:
    """docs/configuration.md has a row for every member show-config --json prints."""
    add_ini(project, "sqlalchemy.pool_size = 5", "version_path_separator = os")
    report = json.loads(cli("show-config", "--json").stdout)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    members = [
        *report,
        *(f"keys[].{m}" for m in report["keys"][0]),
        *report["asyncmig"],
        *(m for m in report["alembic"]["version_path_separator"] if m not in ("value", "source")),
    ]
    rows_text = "\n".join(line for line in doc.splitlines() if line.startswith("| `"))
    missing = [m for m in members if f"`{m}`" not in rows_text]
    assert missing == []
    assert report["dropped"] == [k for k in report["keys"] if k["status"] == "dropped"]


# -- issue 18: a true verdict for every key ---------------------------------------------------
TUTORIAL = """\
[alembic]
script_location = %(here)s/migrations
prepend_sys_path = .
version_path_separator = os
sqlalchemy.url = postgresql://scott:tiger@localhost/test
sqlalchemy.echo = True
sqlalchemy.pool_size = 5
sqlalchemy.poolclass = QueuePool
"""
DEPRECATED = (
    "version_path_separator from alembic.ini:[alembic] is deprecated since Alembic 1.16: "
    "rename it path_separator (which also splits prepend_sys_path)"
)
NO_LOGGING = (
    "alembic.ini has no [loggers], [handlers] or [formatters] section, which env.py's "
    "logging.config.fileConfig(config.config_file_name) needs: copy the logging sections "
    "that 'alembic init' writes, or remove that call from env.py"
)
ECHOO = (
    "sqlalchemy.echoo from alembic.ini:[alembic] is not an engine argument for "
    "postgresql+asyncpg (did you mean sqlalchemy.echo?)"
)
BAD_DICT = 'not a valid dict: use JSON or a Python dict literal, e.g. {"timeout": 3}'


def tutorial_project(tmp_path: Path, *extra: str) -> Project:
    """Alembic's ``async`` template with the [alembic] block users copy from tutorials."""
    proj = make_project(tmp_path, template="async")
    proj.ini.write_text(TUTORIAL + "".join(f"{line}\n" for line in extra))
    return proj


def test_tutorial_example_round_trips(cli: Cli, tmp_path: Path) -> None:
    tutorial_project(tmp_path)
    for args in (("show-config",), ("show-config", "--check")):
        result = cli(*args)
        assert result.exit_code == 0, result.output
        assert "tiger" not in result.output
        assert rows(result.stdout)[:6] == [
            [f"Engine (config: {tmp_path}/alembic.ini, section [alembic], poolclass=NullPool)"],
            ["key", "status", "value", "source", "reason"],
            ["sqlalchemy.url", "used", "postgresql+asyncpg://scott:***@localhost/test", INI],
            ["sqlalchemy.echo", "used", "True", INI],
            [
                "sqlalchemy.poolclass",
                "overridden",
                "QueuePool",
                INI,
                "overridden by poolclass=NullPool",
            ],
            ["sqlalchemy.pool_size", "dropped", "5", INI, "NullPool takes no pool_size argument"],
        ]
        assert rows(result.stdout)[6:11] == [
            ["Alembic"],
            ["key", "value", "source", "note"],
            ["script_location", f"{tmp_path}/migrations", INI],
            ["prepend_sys_path", ".", INI],
            ["version_path_separator", "os", INI, "renamed path_separator"],
        ]
        assert result.stderr == f"Warning: {DEPRECATED}\nWarning: {NO_LOGGING}\n"

    result = cli("show-config", "--check", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    url = "postgresql+asyncpg://scott:***@localhost/test"
    assert report["engine"] == {"url": url, "echo": True, "poolclass": "NullPool"}
    assert [(k["key"], k["status"], k["value"], k["reason"]) for k in report["keys"]] == [
        ("sqlalchemy.url", "used", url, None),
        ("sqlalchemy.echo", "used", True, None),
        ("sqlalchemy.poolclass", "overridden", "QueuePool", "overridden by poolclass=NullPool"),
        ("sqlalchemy.pool_size", "dropped", 5, "NullPool takes no pool_size argument"),
    ]
    assert report["alembic"]["version_path_separator"] == {
        "value": "os",
        "source": INI,
        "replaced_by": "path_separator",
    }
    assert report["warnings"] == [DEPRECATED, NO_LOGGING]


def test_typo_is_unusable_with_a_suggestion(cli: Cli, tmp_path: Path) -> None:
    tutorial_project(tmp_path, "sqlalchemy.echoo = true")
    result = cli("show-config")
    assert result.exit_code == 0, result.output
    reason = "not an engine argument for postgresql+asyncpg (did you mean sqlalchemy.echo?)"
    assert ["sqlalchemy.echoo", "unusable", "true", INI, reason] in rows(result.stdout)

    result = cli("show-config", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (
        key(
            "sqlalchemy.echoo",
            "echoo",
            "true",
            INI,
            "unusable",
            reason=reason,
            suggestion="sqlalchemy.echo",
        )
        in report["keys"]
    )
    assert "echoo" not in report["engine"]

    result = cli("show-config", "--check")
    assert result.exit_code == 2
    assert rows(result.stdout)[0][0].startswith("Engine (config: ")  # the report comes first
    assert result.stderr.splitlines()[-1] == f"Error: {ECHOO}"
    result = cli("show-config", "--check", "--json")
    assert result.exit_code == 2
    statuses = {k["key"]: k["status"] for k in json.loads(result.stdout)["keys"]}
    assert statuses["sqlalchemy.echoo"] == "unusable"
    assert result.stderr.splitlines()[-1] == f"Error: {ECHOO}"


def test_check_names_the_source_of_the_key(cli: Cli, project: Project) -> None:
    url = {"DATABASE_URL": "postgres://u@h/db"}
    result = cli("show-config", "--check", env={**url, "ASYNCMIG_SQLALCHEMY_POOL_PRE_PIGN": "1"})
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: sqlalchemy.pool_pre_pign from env ASYNCMIG_SQLALCHEMY_POOL_PRE_PIGN is not an "
        "engine argument for postgresql+asyncpg (did you mean sqlalchemy.pool_pre_ping?)\n"
    )
    result = cli("--set", "sqlalchemy.timeout=3", "show-config", "--check", env=url)
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: sqlalchemy.timeout from --set is not an engine argument for postgresql+asyncpg "
        "(arguments of the driver's connect() go in sqlalchemy.connect_args)\n"
    )
    result = cli("--set", "sqlalchemy.pool_recycle=soon", "show-config", "--check", env=url)
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: sqlalchemy.pool_recycle from --set is not a valid integer: 'soon'\n"
    )


def test_connect_args_is_read_as_json_or_a_python_literal(cli: Cli, project: Project) -> None:
    add_ini(
        project,
        'sqlalchemy.connect_args = {"timeout": 3, "password": "hunter22"}',
        "sqlalchemy.execution_options = {'isolation_level': 'SERIALIZABLE'}",
    )
    result = cli("show-config", "--check", "--json")
    assert result.exit_code == 0, result.output
    assert "hunter22" not in result.output
    engine = json.loads(result.stdout)["engine"]
    assert engine["connect_args"] == {"timeout": 3, "password": "***"}
    assert engine["execution_options"] == {"isolation_level": "SERIALIZABLE"}
    result = cli("show-config")
    assert "{'timeout': 3, 'password': '***'}" in result.stdout


def test_connect_args_that_is_no_dict_is_refused(cli: Cli, project: Project) -> None:
    add_ini(project, "sqlalchemy.connect_args = timeout=3")
    result = cli("show-config", "--json")
    assert result.exit_code == 0, result.output
    item = json.loads(result.stdout)["keys"][1]
    assert (item["status"], item["value"], item["reason"]) == ("unusable", "timeout=3", BAD_DICT)
    result = cli("show-config", "--check")
    assert result.exit_code == 2
    assert result.stderr == f"Error: sqlalchemy.connect_args from {INI} is {BAD_DICT}\n"


def test_version_path_separator_beside_path_separator_is_ignored(
    cli: Cli, project: Project
) -> None:
    add_ini(project, "version_path_separator = space")
    result = cli("show-config", "--check")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "Warning: version_path_separator from alembic.ini:[alembic] is ignored: path_separator "
        "is set (Alembic 1.16 renamed version_path_separator to path_separator); remove "
        "version_path_separator\n"
    )


def test_logging_warning_only_when_env_py_calls_fileconfig(cli: Cli, tmp_path: Path) -> None:
    """asyncmig's env.py skips fileConfig without [formatters]; Alembic's templates call it."""
    ours = make_project(tmp_path / "ours")
    text = ours.ini.read_text()
    ours.ini.write_text(text[: text.index("[loggers]")])
    result = cli("-c", str(ours.ini), "show-config")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""

    theirs = make_project(tmp_path / "theirs", template="async")
    text = theirs.ini.read_text().replace("driver://user:pass@localhost/dbname", "sqlite://")
    theirs.ini.write_text(text[: text.index("[post_write_hooks]")])
    result = cli("-c", str(theirs.ini), "show-config")
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Warning: {NO_LOGGING}\n"
    theirs.ini.write_text(text)
    assert cli("-c", str(theirs.ini), "show-config").stderr == ""
