"""engineargs: the argument sets are SQLAlchemy's, and the coerced values reach the engine.

The drift tests build real engines (no connection) with every argument
SQLAlchemy accepts for each driver asyncmig runs on, so a SQLAlchemy release
that adds or removes one fails here. The ``upgrade`` tests at the end need the
lead's integration (settings/runner run the check; env.py gets the coerced
section).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL, make_url
from support.projects import Project, make_project
from typer.testing import Result

from asyncmig import engine_values, engineargs
from asyncmig.engineargs import (
    KeyVerdict,
    check_engine_keys,
    engine_arguments,
    engine_key_verdicts,
    engine_section,
)
from asyncmig.errors import ConfigError
from asyncmig.settings import Setting
from asyncmig.showconfig import logging_sections_problem

Cli = Callable[..., Result]
INI = "alembic.ini:[alembic]"

DRIVERS = (
    "postgresql+asyncpg://u:pw@127.0.0.1:1/db",
    "postgresql+psycopg://u:pw@127.0.0.1:1/db",
    "sqlite+aiosqlite:///app.db",
    "mysql+asyncmy://root@127.0.0.1:1/db",
    "mariadb+asyncmy://root@127.0.0.1:1/db",
)
#: Names with their own verdict, not a value to coerce.
SPECIAL = {"poolclass", "strategy", "empty_in_strategy"}
#: A text each accepted argument takes (unlisted: by its kind).
SAMPLES = {
    "future": "true",
    "server_side_cursors": "false",
    "isolation_level": "SERIALIZABLE",
    "echo": "debug",
    "echo_pool": "debug",
    "paramstyle": "named",
}


def sample(arg: str, args: engineargs.EngineArguments) -> str:
    if arg in SAMPLES:
        return SAMPLES[arg]
    if arg in engine_values.BOOLS:
        return "false"
    if arg in engine_values.INTS:
        return "5"
    if arg in engine_values.DICTS:
        return "{}"
    if arg in engine_values.CHOICES:
        return engine_values.CHOICES[arg][0]
    return "x"


def verdicts(url: str | URL, **keys: str) -> list[KeyVerdict]:
    parsed = make_url(url)
    settings = [Setting("sqlalchemy.url", parsed.render_as_string(hide_password=False), INI)]
    settings += [Setting(f"sqlalchemy.{k}", v, INI) for k, v in keys.items()]
    return engine_key_verdicts(settings, parsed)


def build(section: dict[str, Any]) -> Any:
    """What env.py does with the section asyncmig hands it."""
    from sqlalchemy.ext.asyncio import async_engine_from_config
    from sqlalchemy.pool import NullPool

    return async_engine_from_config(section, prefix="sqlalchemy.", poolclass=NullPool)


@pytest.mark.filterwarnings("ignore:The create_engine.implicit_returning parameter is deprecated")
@pytest.mark.parametrize("url", DRIVERS)
def test_every_accepted_argument_builds_an_engine(url: str) -> None:
    """Each argument marked used, handed over as engine_section says, is taken by SQLAlchemy."""
    args = engine_arguments(make_url(url))
    names = args.accepted - SPECIAL - engine_values.INTERNAL - set(engine_values.OBJECTS)
    assert {"echo", "connect_args", "pool_pre_ping", "isolation_level"} <= names
    for name in sorted(names):
        found = verdicts(url, **{name: sample(name, args)})
        assert [v.status for v in found] == ["used", "used"], (name, found[1].reason)
        build(engine_section(found)).sync_engine.dispose()


@pytest.mark.parametrize("url", DRIVERS)
def test_refused_arguments_are_what_sqlalchemy_refuses(url: str) -> None:
    args = engine_arguments(make_url(url))
    assert args.pool_only == {"pool_size", "max_overflow", "pool_timeout", "pool_use_lifo"}
    for name in [*sorted(args.pool_only), "echoo", "pool_szie"]:
        section = {"sqlalchemy.url": url, f"sqlalchemy.{name}": "5"}
        with pytest.raises(TypeError, match=rf"Invalid argument\(s\) '{name}' sent"):
            build(section)
        status = verdicts(url, **{name: "5"})[1].status
        assert status == ("dropped" if name in args.pool_only else "unusable")


def test_every_accepted_argument_has_a_kind() -> None:
    """A new SQLAlchemy argument must be classified here, not silently passed as text."""
    known = (
        SPECIAL
        | engine_values.BOOLS
        | engine_values.INTS
        | engine_values.DICTS
        | engine_values.TEXTS
        | set(engine_values.CHOICES)
        | set(engine_values.OBJECTS)
        | engine_values.INTERNAL
    )
    for url in DRIVERS:
        args = engine_arguments(make_url(url))
        assert sorted(args.accepted - known - set(args.config_types)) == [], url


def test_the_engine_receives_the_coerced_values(tmp_path: Path) -> None:
    """The strings engine_from_config would pass on are wrong ("false" is truthy)."""
    keys = {
        "pool_pre_ping": "false",
        "hide_parameters": "false",
        "query_cache_size": "50",
        "enable_from_linting": "false",
        "echo": "false",
    }
    url = f"sqlite+aiosqlite:///{tmp_path}/app.db"
    found = verdicts(url, **keys)
    assert [v.value for v in found[1:]] == [False, False, 50, False, False]
    section = engine_section(found)
    assert section["sqlalchemy.echo"] == "false"  # SQLAlchemy coerces this one itself
    engine = build(section).sync_engine
    assert engine.pool._pre_ping is False
    assert engine.hide_parameters is False
    assert engine._compiled_cache.capacity == 50
    assert engine.dialect.compiler_linting == 0
    assert engine.echo is False
    raw = build({"sqlalchemy.url": url, **{f"sqlalchemy.{k}": v for k, v in keys.items()}})
    assert raw.sync_engine.pool._pre_ping == "false"  # what plain env.py gets today


async def test_connect_args_from_the_ini_reach_the_driver(pg_url: str) -> None:
    from sqlalchemy import text

    connect_args = '{"timeout": 3, "server_settings": {"application_name": "from-the-ini"}}'
    found = verdicts(pg_url, connect_args=connect_args)
    engine = build(engine_section(found))
    try:
        async with engine.connect() as conn:
            name = (await conn.execute(text("SHOW application_name"))).scalar()
    finally:
        await engine.dispose()
    assert name == "from-the-ini"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "echoo",
            "true",
            "is not an engine argument for postgresql+asyncpg (did you mean sqlalchemy.echo?)",
        ),
        ("pool_pre_ping", "maybe", "is not a valid boolean: 'maybe' (use true or false)"),
        ("echo", "info", "is not a valid value: 'info' (use true, false or debug)"),
        ("label_length", "ten", "is not a valid integer: 'ten'"),
        (
            "connect_args",
            "[1, 2]",
            "is not a valid dict: the value is a list; use JSON or a "
            'Python dict literal, e.g. {"timeout": 3}',
        ),
        (
            "connect_args",
            "{1: 2}",
            "is not a valid dict: its keys must be strings; use JSON or "
            'a Python dict literal, e.g. {"timeout": 3}',
        ),
        (
            "pool_reset_on_return",
            "always",
            "is not a valid value: 'always' (use rollback, commit, none)",
        ),
        (
            "creator",
            "mymod.connect",
            "is not settable from a config: creator needs a Python callable; pass it in env.py",
        ),
        (
            "json_serializer",
            "json.dumps",
            "is not settable from a config: json_serializer "
            "needs a Python callable; pass it in env.py",
        ),
        ("future", "false", "is not valid: create_engine accepts only future=true"),
        (
            "server_side_cursors",
            "true",
            "is not valid for an async engine: SQLAlchemy refuses "
            "server_side_cursors=true (use connection.stream())",
        ),
        (
            "strategy",
            "mock",
            "is not usable: create_engine takes only strategy=mock, which builds no real engine",
        ),
        ("dbapi", "x", "is not settable: create_engine sets dbapi itself"),
    ],
)
def test_check_names_the_key_its_source_and_why(key: str, value: str, message: str) -> None:
    found = verdicts("postgresql+asyncpg://u@h/db", **{key: value})
    with pytest.raises(ConfigError) as caught:
        check_engine_keys(found)
    assert str(caught.value) == f"sqlalchemy.{key} from {INI} {message}"
    assert caught.value.exit_code == 2


def test_plugins_in_the_url_may_take_unknown_arguments() -> None:
    found = verdicts("postgresql+asyncpg://u@h/db?plugin=myplugin", myplugin_flag="1")
    assert found[1].status == "used"
    assert found[1].reason == "not a create_engine argument; left to plugin(s) myplugin"
    check_engine_keys(found)


def test_secrets_are_masked_in_value_not_in_the_section() -> None:
    found = verdicts(
        "postgresql+asyncpg://u:topsecret@h/db",
        connect_args='{"password": "hunter22", "ssl": "require"}',
    )
    assert found[0].value == "postgresql+asyncpg://u:***@h/db"
    assert found[1].value == {"password": "***", "ssl": "require"}
    assert "hunter22" not in repr(found)
    typo = verdicts("postgresql+asyncpg://u@h/db", password="hunter22")[1]
    assert (typo.status, typo.value) == ("unusable", "***")
    assert "hunter22" not in typo.problem()
    assert engine_section(found) == {
        "sqlalchemy.url": "postgresql+asyncpg://u:topsecret@h/db",
        "sqlalchemy.connect_args": {"password": "hunter22", "ssl": "require"},
    }


# -- logging sections ----------------------------------------------------------------------
ALEMBIC_LOGGING = """\
[loggers]
keys = root,sqlalchemy

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %%(levelname)-5.5s [%%(name)s] %%(message)s
"""
LOGGING_CASES = {
    "complete": (ALEMBIC_LOGGING, None),
    "none": ("", "has no [loggers], [handlers] or [formatters] section"),
    "no formatters": (
        ALEMBIC_LOGGING.replace("[formatters]\nkeys = generic\n", ""),
        "has no [formatters] section",
    ),
    "no handler section": (
        ALEMBIC_LOGGING.replace("[handler_console]", "[handler_other]"),
        "has no [handler_console] section",
    ),
    "no root": (
        ALEMBIC_LOGGING.replace("keys = root,sqlalchemy", "keys = sqlalchemy"),
        "does not list root in [loggers] keys",
    ),
    "no qualname": (
        ALEMBIC_LOGGING.replace("qualname = sqlalchemy.engine\n", ""),
        "has no qualname option in [logger_sqlalchemy]",
    ),
    "unknown handler": (
        ALEMBIC_LOGGING.replace("handlers = console", "handlers = file"),
        "names handler 'file' in [logger_root] but not in [handlers] keys",
    ),
}


def test_logging_sections_problem_agrees_with_fileconfig(tmp_path: Path) -> None:
    """fileConfig fails exactly when a problem is named (run in a child: it resets logging)."""
    paths = {}
    for name, (sections, _) in LOGGING_CASES.items():
        path = tmp_path / name.replace(" ", "_") / "alembic.ini"
        path.parent.mkdir()
        path.write_text("[alembic]\nscript_location = migrations\n\n" + sections)
        paths[name] = path
    code = textwrap.dedent("""
        import json, sys
        from logging.config import fileConfig
        failed = {}
        for name, path in json.loads(sys.argv[1]).items():
            try:
                fileConfig(path)
                failed[name] = False
            except Exception:
                failed[name] = True
        print(json.dumps(failed))
    """)
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps({k: str(v) for k, v in paths.items()})],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    fails = json.loads(done.stdout)
    for name, (_, problem) in LOGGING_CASES.items():
        line = logging_sections_problem(paths[name])
        assert fails[name] is (line is not None), name
        if problem is not None:
            assert line == (
                f"alembic.ini {problem}, which env.py's logging.config.fileConfig"
                "(config.config_file_name) needs: copy the logging sections that "
                "'alembic init' writes, or remove that call from env.py"
            )


# -- the migration commands (need the lead's integration) ----------------------------------
def add_ini(project: Project, *lines: str) -> None:
    text = project.ini.read_text()
    project.ini.write_text(text.replace("[alembic]\n", "[alembic]\n" + "\n".join(lines) + "\n"))


def test_upgrade_refuses_an_unusable_key_before_connecting(cli: Cli, project: Project) -> None:
    """Nothing listens on port 1: connecting would be exit 3; today it is SQLAlchemy's TypeError."""
    project.revisions(1)
    add_ini(project, "sqlalchemy.echoo = true")
    url = "postgresql://u:pw@127.0.0.1:1/db"
    result = cli("--url", url, "--wait-timeout", "0", "upgrade", "head")
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "Error: sqlalchemy.echoo from alembic.ini:[alembic] is not an engine argument for "
        "postgresql+asyncpg (did you mean sqlalchemy.echo?)\n"
    )


def test_upgrade_refuses_a_connect_args_that_is_no_dict(cli: Cli, project: Project) -> None:
    """Today: ValueError: dictionary update sequence element #0 has length 1 (exit 1)."""
    project.revisions(1)
    add_ini(project, "sqlalchemy.connect_args = timeout=3")
    result = cli("upgrade", "head")
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "Error: sqlalchemy.connect_args from alembic.ini:[alembic] is not a valid dict: use "
        'JSON or a Python dict literal, e.g. {"timeout": 3}\n'
    )
    assert not (project.path / "app.db").exists()  # refused before connecting


def test_upgrade_with_connect_args_from_the_ini(cli: Cli, project: Project, pg_url: str) -> None:
    """Today the string reaches asyncpg.connect and fails (exit 1)."""
    project.revisions(1)
    add_ini(project, 'sqlalchemy.connect_args = {"timeout": 3}', "sqlalchemy.pool_pre_ping = 0")
    result = cli("--url", pg_url, "upgrade", "head")
    assert result.exit_code == 0, result.output
    assert "the database is at 0001aa" in result.stdout


def test_upgrade_names_missing_logging_sections(cli: Cli, tmp_path: Path) -> None:
    """Alembic's async template without logging sections; today: Error: KeyError: 'formatters'."""
    proj = make_project(tmp_path, template="async")
    text = proj.ini.read_text().replace("driver://user:pass@localhost/dbname", "sqlite://")
    proj.ini.write_text(text[: text.index("[post_write_hooks]")])
    result = cli("upgrade", "head")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == (
        "Error: alembic.ini has no [loggers], [handlers] or [formatters] section, which "
        "env.py's logging.config.fileConfig(config.config_file_name) needs: copy the logging "
        "sections that 'alembic init' writes, or remove that call from env.py"
    )
