"""No command prints the database password, raw or URL-encoded, on any path.

Every command (``init`` aside) runs against a real PostgreSQL database with a URL
holding a known password (the server trusts local connections, so any password
is accepted). The password is checked for as its common prefix, which catches
the decoded form, every encoded form and a fragment of either.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.databases import PG_HOST
from support.projects import Project
from support.scripts import run_script
from typer.testing import Result

Cli = Callable[..., Result]

PASSWORD = "Sup3rS3cret%pw"
ENCODED = "Sup3rS3cret%25pw"
#: Shared by every spelling: decoded, %-encoded, doubled for an ini file.
NEEDLE = "Sup3rS3cret"


#: How the password is written in the URL: percent-encoded, raw with an ``@`` in it (the
#: userinfo ends at the last ``@``), or as a ``?password=`` query parameter.
FORMS = ("encoded", "raw-at", "query")


def secret_url(database: str, host: str = PG_HOST, form: str = "encoded") -> str:
    """``host`` (``postgresql://user@host:port``) with the known password added."""
    if form == "query":
        return f"{host}/{database}?password={ENCODED}"
    password = ENCODED if form == "encoded" else f"{NEEDLE}@pw"
    return host.replace("@", f":{password}@", 1) + f"/{database}"


def leaks(*texts: str) -> list[str]:
    return [text for text in texts if NEEDLE in text or PASSWORD in text or ENCODED in text]


@pytest.fixture
def restore_sqlalchemy_loggers() -> Iterator[None]:
    """echo=True adds a handler bound to the invocation's stdout; don't let it outlive the test."""
    logger = logging.getLogger("sqlalchemy.engine.Engine")
    handlers = list(logger.handlers)
    yield
    logger.handlers[:] = handlers


#: (arguments after ``--url URL``: global options first, then the command; expected exit
#: code), run in this order on one database.
SEQUENCE: list[tuple[tuple[str, ...], int]] = [
    (("list-templates",), 0),
    (("show-config",), 0),
    (("show-config", "--json"), 0),
    (("ensure-version", "--sql"), 0),
    (("upgrade", "head", "--sql"), 0),
    (("plan",), 0),
    (("plan", "--json"), 0),
    (("status",), 4),
    (("status", "--json"), 4),
    (("check",), 4),
    (("current", "--check-heads"), 4),
    (("ensure-version",), 0),
    (("upgrade", "+1"), 0),
    (("upgrade", "head", "--json"), 0),
    (("current",), 0),
    (("current", "-v"), 0),
    (("current", "--json"), 0),
    (("current", "--check-heads"), 0),
    (("history",), 0),
    (("history", "-v", "-i"), 0),
    (("history", "--json", "-i"), 0),
    (("heads", "-v"), 0),
    (("heads", "--json"), 0),
    (("branches", "-v"), 0),
    (("show", "head"), 0),
    (("show", "current"), 0),
    (("status",), 0),
    (("check",), 4),  # model drift: the metadata is empty, the tables exist
    (("revision", "-m", "three", "--rev-id", "0003aa"), 0),
    (("revision", "--autogenerate", "-m", "auto"), 1),  # target database is not up to date
    (("revision", "-m", "side", "--head", "0002aa", "--splice", "--rev-id", "0004bb"), 0),
    (("branches", "-v"), 0),
    (("merge", "heads", "-m", "merged", "--rev-id", "0005cc"), 0),
    (("edit", "0005cc"), 0),
    (("upgrade", "heads"), 0),
    (("stamp", "0002aa", "--purge"), 0),
    (("stamp", "heads", "--sql"), 0),
    (("downgrade", "-1"), 0),
    (("downgrade", "base", "--json"), 0),
    (("downgrade", "head:base", "--sql"), 0),
    (("upgrade", "nope"), 2),
    (("--traceback", "upgrade", "nope"), 2),
    (("downgrade", "nope"), 2),
    (("show", "nope"), 2),
    (
        ("--set", "sqlalchemy.echo=true", "--set", "sqlalchemy.echo_pool=debug", "upgrade", "head"),
        0,
    ),
    (("--set", "sqlalchemy.echo=true", "current", "-v"), 0),
    (("-q", "upgrade", "head"), 0),
]


@pytest.mark.postgres
@pytest.mark.parametrize("form", FORMS)
def test_every_command_hides_the_password(
    cli: Cli, project: Project, pg_database: str, restore_sqlalchemy_loggers: None, form: str
) -> None:
    project.revisions(2)
    env_py = project.path / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text().replace(
            "target_metadata = None", "import sqlalchemy\ntarget_metadata = sqlalchemy.MetaData()"
        )
    )
    url = secret_url(pg_database, form=form)
    report: list[str] = []
    for args, code in SEQUENCE:
        result = cli("--url", url, *args, env={"EDITOR": "true"})
        if result.exit_code != code:
            report.append(f"{args}: exit {result.exit_code}, expected {code}\n{result.output}")
        if leaks(result.stdout, result.stderr):
            report.append(f"{args}: password printed\n{result.output}")
    assert report == []


@pytest.mark.postgres
def test_masked_form_is_shown(cli: Cli, project: Project, pg_database: str) -> None:
    """The checks above are not vacuous: the URL is printed, with ``***`` for the password."""
    url = secret_url(pg_database)
    masked = f"postgresql+asyncpg://postgres:***@127.0.0.1:5432/{pg_database}"
    result = cli("--url", url, "show-config", "--json")
    assert json.loads(result.stdout)["engine"]["url"] == masked
    result = cli("--url", url, "current", "-v")
    assert result.exit_code == 0, result.output
    assert f"Current revision(s) for {masked}:" in result.stdout
    assert not leaks(result.output)


@pytest.mark.postgres
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--wait-timeout", "0", "current"), 3),
        (("--wait-timeout", "0", "--traceback", "upgrade", "head"), 3),
        (("--wait-timeout", "0", "show-config"), 0),
        (("--wait-timeout", "1", "--traceback", "current"), 3),  # wait lines, then the error
    ],
)
def test_unreachable_database(
    cli: Cli, project: Project, args: tuple[str, ...], code: int, form: str
) -> None:
    """A closed port: the waits, the error, ``::error`` and the traceback name the server,
    never the password (a raw ``@`` in it used to turn its tail into the host)."""
    url = secret_url("nodb", host=PG_HOST.rsplit(":", 1)[0] + ":1", form=form)
    result = cli("--url", url, *args, env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == code, result.output
    assert not leaks(result.output)
    if code == 3:
        error, annotation = result.stderr.splitlines()[-2:]
        assert error.startswith("Error: ")
        assert annotation == "::error title=asyncmig::" + error.removeprefix("Error: ")


@pytest.mark.postgres
def test_missing_database(cli: Cli, project: Project) -> None:
    url = secret_url("asyncmig_no_such_database_here")
    result = cli("--url", url, "--wait-timeout", "0", "--traceback", "status")
    assert result.exit_code == 3, result.output
    assert not leaks(result.output)


@pytest.mark.parametrize(
    "url",
    [
        f"mssql+pymssql://sa:{ENCODED}@127.0.0.1/db",
        f"mysql+pyodbc://root:{ENCODED}@127.0.0.1/db?password={ENCODED}",
        f"foo://postgres:{ENCODED}@127.0.0.1/db",
        f"postgresql://postgres:{ENCODED}@127.0.0.1:port/db",
        f"postgresql://postgres:{ENCODED}@[::1/db",
    ],
)
def test_url_errors(cli: Cli, project: Project, url: str) -> None:
    for args in (("--url", url), ("--traceback", "--url", url)):
        result = cli(*args, "upgrade", "head")
        assert result.exit_code == 2, result.output
        assert not leaks(result.output)
    result = cli("show-config", env={"DATABASE_URL": url})
    assert result.exit_code == 2, result.output
    assert not leaks(result.output)


@pytest.mark.postgres
def test_common_word_password_masks_only_itself(
    cli: Cli, project: Project, pg_database: str, restore_sqlalchemy_loggers: None
) -> None:
    """docs/ci.md's service container: user and password both ``postgres``. The password
    is masked where it stands (URL, ``password=``) and the word stays everywhere else."""
    project.revisions(1, body=lambda i: "print('postgres ok; password=postgres')")
    host = PG_HOST.partition("@")[2]
    url = f"postgresql://postgres:postgres@{host}/{pg_database}"
    masked = f"postgresql+asyncpg://postgres:***@{host}/{pg_database}"
    runs = [
        (("show-config",), 0),
        (("--set", "sqlalchemy.echo=true", "upgrade", "head"), 0),
        (("current", "-v"), 0),
        (("--traceback", "upgrade", "nope"), 2),
    ]
    outputs = []
    for args, code in runs:
        result = cli("--url", url, *args, env={"GITHUB_ACTIONS": "true"})
        assert result.exit_code == code, result.output
        assert ":postgres@" not in result.output and "password=postgres" not in result.output
        assert "***ql" not in result.output and "*** server" not in result.output
        outputs.append(result.output)
    assert masked in outputs[0]
    assert "postgres ok; password=***" in outputs[1]  # the revision's print
    assert f"Current revision(s) for {masked}:" in outputs[2]


@pytest.mark.parametrize(
    "value",
    [
        f"postgresql://postgres:{ENCODED}@127.0.0.1/db",  # unescaped % in an ini file
        f"postgresql://postgres:{PASSWORD}@127.0.0.1/db",
    ],
)
def test_ini_interpolation_errors(cli: Cli, project: Project, value: str) -> None:
    text = project.ini.read_text().replace(
        "sqlalchemy.url = sqlite+aiosqlite:///%(here)s/app.db", f"sqlalchemy.url = {value}"
    )
    project.ini.write_text(text)
    for args in (("show-config",), ("--traceback", "upgrade", "head")):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert not leaks(result.output)


@pytest.mark.postgres
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("where", ["ini", "DATABASE_URL", "ASYNCMIG_URL", ".env"])
def test_every_source(cli: Cli, project: Project, pg_database: str, where: str, form: str) -> None:
    """The password is hidden whichever source the URL comes from."""
    project.revisions(1)
    url = secret_url(pg_database, form=form)
    env: dict[str, str | None] = {}
    if where == "ini":
        text = project.ini.read_text().replace(
            "sqlalchemy.url = sqlite+aiosqlite:///%(here)s/app.db",
            "sqlalchemy.url = " + url.replace("%", "%%"),
        )
        project.ini.write_text(text)
    elif where == ".env":
        Path(".env").write_text(f"DATABASE_URL={url}\n")
    else:
        env = {where: url}
    for args in (
        ("show-config",),
        ("show-config", "--json"),
        ("upgrade", "head"),
        ("current", "-v"),
        ("upgrade", "nope"),
    ):
        result = cli(*args, env=env)
        assert result.exit_code in (0, 2), result.output
        assert not leaks(result.output), args


@pytest.mark.postgres
def test_console_script(project: Project, pg_database: str, tmp_path: Path) -> None:
    """Through the installed script, real stdout/stderr: echo, logging and tracebacks included."""
    project.revisions(2)
    url = secret_url(pg_database)
    bad_port = secret_url("nodb", host=PG_HOST.rsplit(":", 1)[0] + ":1")
    runs = [
        (
            (
                "--url",
                url,
                "--set",
                "sqlalchemy.echo=debug",
                "--set",
                "sqlalchemy.echo_pool=debug",
                "upgrade",
                "head",
            ),
            0,
        ),
        (("--url", url, "--set", "sqlalchemy.echo=true", "current", "-v"), 0),
        (("--url", url, "--traceback", "downgrade", "nope"), 2),
        (("--url", bad_port, "--wait-timeout", "0", "--traceback", "current"), 3),
        (("show-config", "--json"), 0),
    ]
    for args, code in runs:
        done = run_script(*args, cwd=tmp_path, env={"DATABASE_URL": url})
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert not leaks(done.stdout, done.stderr), args
    echo = run_script(
        "--url", url, "--set", "sqlalchemy.echo=true", "downgrade", "base", cwd=tmp_path
    )
    assert echo.returncode == 0, echo.stderr
    assert "DROP TABLE t0002" in echo.stdout  # echo really printed through the masked stream
    assert not leaks(echo.stdout, echo.stderr)
