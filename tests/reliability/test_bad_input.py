"""Bad input: each case exits with its documented code and one ``Error:`` line, no traceback,
never the password. docs/troubleshooting.md lists the same cases.

Every URL below carries :data:`SECRET` as its password, so each case also
checks that the message masks it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from support.checks import SECRET, assert_one_error

PG = f"postgresql+asyncpg://postgres:{SECRET}@127.0.0.1:5432"
MARIADB = f"mysql+asyncmy://root:{SECRET}@127.0.0.1:3306"


@dataclass(frozen=True)
class Case:
    """``setup(project)`` prepares the files and returns the arguments; ``error`` is a regex."""

    name: str
    setup: Callable[..., list[str]]
    code: int
    error: str


def args(*argv: str) -> Callable[..., list[str]]:
    return lambda project: list(argv)


def write(name: str, data: bytes | str, *argv: str) -> Callable[..., list[str]]:
    def setup(project) -> list[str]:
        path = project.path / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
        return list(argv)

    return setup


def ini_without(key: str, *argv: str) -> Callable[..., list[str]]:
    def setup(project) -> list[str]:
        lines = project.ini.read_text().splitlines()
        project.ini.write_text("\n".join(x for x in lines if not x.startswith(key)) + "\n")
        return list(argv)

    return setup


def no_config(project) -> list[str]:
    project.ini.unlink()
    return ["current"]


def second_head(project) -> list[str]:
    """0002ab beside 0002aa: two heads, and '0002a' matches both."""
    source = next(project.versions.glob("0002aa_*.py")).read_text()
    (project.versions / "0002ab_other.py").write_text(source.replace('"0002aa"', '"0002ab"'))
    return []


def with_second_head(*argv: str) -> Callable[..., list[str]]:
    return lambda project: second_head(project) + list(argv)


def revision_file(name: str, text: str) -> Callable[..., list[str]]:
    def setup(project) -> list[str]:
        (project.versions / name).write_text(text)
        return ["upgrade", "head"]

    return setup


def third_revision(body: str, *, imports: str = "") -> Callable[..., list[str]]:
    """A revision 0003aa whose upgrade() runs ``body``."""
    source = (
        f'"""third"""\n{imports}revision = "0003aa"\ndown_revision = "0002aa"\n'
        f"def upgrade():\n    {body}\ndef downgrade():\n    pass\n"
    )
    return revision_file("0003aa_third.py", source)


def versions_gone(project) -> list[str]:
    for path in project.versions.iterdir():
        path.unlink()
    project.versions.rmdir()
    return ["upgrade", "head"]


def versions_emptied_after_upgrade(project) -> list[str]:
    from typer.testing import CliRunner

    from asyncmig.cli import app

    result = CliRunner().invoke(app, ["-q", "upgrade", "head"])
    assert result.exit_code == 0, result.output
    for path in project.versions.glob("*.py"):
        path.unlink()
    return ["upgrade", "head"]


def duplicate_id(project) -> list[str]:
    source = next(project.versions.glob("0002aa_*.py")).read_text()
    (project.versions / "0002aa_copy.py").write_text(source)
    return ["upgrade", "head"]


CASES = [
    Case(
        "missing config file",
        args("-c", "nope.ini", "current"),
        2,
        r"Error: config file nope\.ini not found",
    ),
    Case(
        "no config in the directory",
        no_config,
        2,
        r"Error: no alembic\.ini or pyproject\.toml \[tool\.alembic\] in .*: "
        r"run 'asyncmig init migrations' or pass -c/--config",
    ),
    Case(
        "unreadable config file (not UTF-8)",
        write(
            "bad.ini",
            b"[alembic]\nscript_location = migrations\n\xff\xfe\n",
            "-c",
            "bad.ini",
            "current",
        ),
        2,
        r"Error: cannot read bad\.ini: 'utf-8' codec can't decode byte 0xff .*",
    ),
    Case(
        "malformed config file",
        write("bad.ini", "no section header\n", "-c", "bad.ini", "current"),
        2,
        r"Error: bad\.ini is not a valid ini file: File contains no section headers\.",
    ),
    Case(
        "malformed pyproject.toml",
        write("pyproject.toml", "[tool.alembic\n", "-c", "pyproject.toml", "current"),
        2,
        r"Error: pyproject\.toml is not valid TOML: .*",
    ),
    Case(
        "missing section",
        args("-n", "nosuch", "current"),
        2,
        r"Error: no section \[nosuch\] in alembic\.ini: check -n/--name",
    ),
    Case(
        "missing script_location",
        ini_without("script_location", "current"),
        2,
        r"Error: no script_location in alembic\.ini: set script_location under \[alembic\] "
        r"in alembic\.ini or \[tool\.alembic\] in pyproject\.toml",
    ),
    Case(
        "no URL anywhere",
        ini_without("sqlalchemy.url", "current"),
        2,
        r"Error: no database URL: set sqlalchemy\.url in the config file, DATABASE_URL or "
        r"ASYNCMIG_URL, or pass --url",
    ),
    Case("empty URL", args("--url", "", "current"), 2, r"Error: the database URL is empty"),
    Case(
        "malformed URL",
        args("--url", f"postgresql+asyncpg//postgres:{SECRET}@db/app", "current"),
        2,
        r"Error: malformed database URL '\*\*\*@db/app': expected dialect\+driver://user:\*\*\*@host/database",
    ),
    Case(
        "malformed URL (bad port)",
        args("--url", f"{PG}:port/app", "current"),
        2,
        r"Error: malformed database URL 'postgresql\+asyncpg://\*\*\*@127\.0\.0\.1:5432:port/app': .*",  # noqa: E501
    ),
    Case(
        "sync driver without an async counterpart",
        args("--url", f"mssql+pymssql://sa:{SECRET}@db/app", "current"),
        2,
        r"Error: driver 'pymssql' in URL mssql\+pymssql://sa:\*\*\*@db/app is not an async driver; "
        r"use mssql\+aioodbc:// instead",
    ),
    Case(
        "unknown dialect",
        args("--url", f"nosuchdb://postgres:{SECRET}@db/app", "current"),
        2,
        r"Error: unknown database dialect 'nosuchdb' in URL nosuchdb://postgres:\*\*\*@db/app; .*",
    ),
    Case(
        "unknown revision",
        args("upgrade", "nosuchrev"),
        2,
        r"Error: Can't locate revision identified by 'nosuchrev'",
    ),
    Case(
        "ambiguous revision prefix",
        with_second_head("upgrade", "0002a"),
        2,
        r"Error: Multiple revisions start with '0002a': '0002a[ab]', '0002a[ab]'\.\.\.",
    ),
    Case(
        "multiple heads where one is needed",
        with_second_head("upgrade", "head"),
        2,
        r"Error: Multiple head revisions are present for given argument 'head'; .* or 'heads' for all heads",  # noqa: E501
    ),
    Case(
        "bad --set syntax",
        args("--set", "novalue", "current"),
        2,
        r"Error: --set expects KEY=VALUE, got 'novalue'",
    ),
    Case(
        "--set outside sqlalchemy.*",
        args("--set", "pool=1", "current"),
        2,
        r"Error: --set only takes sqlalchemy\.\* keys, got 'pool'",
    ),
    Case(
        "bad duration",
        args("--wait-timeout", "soon", "current"),
        2,
        r"Error: --wait-timeout: 'soon' is not a duration \(use 30, 2\.5s, 500ms or 5min\)",
    ),
    Case("unknown option", args("--bogus", "current"), 2, r"Error: No such option: --bogus"),
    Case(
        "wrong password (MariaDB)",
        args("--url", f"{MARIADB}/mysql", "current"),
        3,
        r"Error: cannot connect to mysql server 127\.0\.0\.1:3306 database mysql: \(1045, \"Access denied "  # noqa: E501
        r"for user 'root'@'[^']+' \(using password: YES\)\"\)",
    ),
    Case(
        "unknown role (PostgreSQL)",
        args(
            "--url", f"postgresql+asyncpg://nosuchrole:{SECRET}@127.0.0.1:5432/postgres", "current"
        ),
        3,
        r"Error: cannot connect to postgresql server 127\.0\.0\.1:5432 database postgres: "
        r"role \"nosuchrole\" does not exist",
    ),
    Case(
        "missing database",
        args("--wait-timeout", "0", "--url", f"{PG}/asyncmig_no_such_db", "current"),
        3,
        r"Error: cannot connect to postgresql server 127\.0\.0\.1:5432 database asyncmig_no_such_db: "  # noqa: E501
        r"database \"asyncmig_no_such_db\" does not exist",
    ),
    Case(
        "refused port",
        args(
            "--wait-timeout",
            "0",
            "--url",
            f"postgresql+asyncpg://postgres:{SECRET}@127.0.0.1:1/app",
            "current",
        ),
        3,
        r"Error: cannot connect to postgresql server 127\.0\.0\.1:1 database app: .*Connect call failed.*",  # noqa: E501
    ),
    Case(
        "DNS failure",
        args(
            "--wait-timeout",
            "0",
            "--url",
            f"postgresql+asyncpg://postgres:{SECRET}@nonexistent.invalid/app",
            "current",
        ),
        3,
        r"Error: cannot connect to postgresql server nonexistent\.invalid database app: .*",
    ),
    Case(
        "syntax error in a revision file",
        revision_file(
            "0003aa_broken.py", 'revision = "0003aa"\ndown_revision = "0002aa"\ndef upgrade(:\n'
        ),
        2,
        r"Error: syntax error in .*/0003aa_broken\.py, line 3: .*",
    ),
    Case(
        "revision calls sys.exit(0)",
        third_revision("import sys; sys.exit(0)"),
        1,
        r"Error: revision 0003aa \(third\) called sys\.exit\(0\): the run did not finish",
    ),
    Case(
        "revision calls sys.exit with a message",
        third_revision("raise SystemExit('giving up')"),
        1,
        r"Error: revision 0003aa \(third\) called sys\.exit\('giving up'\): the run did not finish",
    ),
    Case(
        "revision imports a missing module",
        third_revision("pass", imports="import no_such_module_anywhere\n"),
        2,
        r"Error: .*/0003aa_third\.py, line 2: ModuleNotFoundError: "
        r"No module named 'no_such_module_anywhere'",
    ),
    Case(
        "versions folder missing",
        versions_gone,
        2,
        r"Error: the versions folder .*/migrations/versions does not exist",
    ),
    Case(
        "versions folder empty while the database is at a revision",
        versions_emptied_after_upgrade,
        2,
        r"Error: the versions folder .*/migrations/versions has no revisions, but the database "
        r"is at 0002aa: check -c and script_location",
    ),
    Case(
        "duration below 1 ms",
        args("--pg-lock-timeout", "0.5ms", "current"),
        2,
        r"Error: --pg-lock-timeout: 0\.5ms is below PostgreSQL's resolution of 1ms "
        r"\(it would round to 0, which PostgreSQL reads as no limit\)",
    ),
    Case(
        "duration above PostgreSQL's maximum",
        args("--statement-timeout", "100000min", "current"),
        2,
        r"Error: --statement-timeout: 100000min \(6000000s\) is above PostgreSQL's maximum of "
        r"2147483647ms \(about 24\.8 days\)",
    ),
    Case(
        "duplicate revision ids",
        duplicate_id,
        2,
        r"Error: duplicate revision id 0002aa: two files in the versions folder declare it",
    ),
    Case(
        "down_revision does not exist",
        revision_file(
            "0003aa_orphan.py",
            'revision = "0003aa"\ndown_revision = "0009zz"\ndef upgrade():\n    pass\n',
        ),
        2,
        r"Error: revision 0003aa refers to 0009zz \(down_revision or depends_on\), which does not exist",  # noqa: E501
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(cli, project, case: Case):
    project.revisions(2)
    argv = case.setup(project)
    started = time.monotonic()
    result = cli(*argv)
    elapsed = time.monotonic() - started
    assert result.exit_code == case.code, result.output
    line = assert_one_error(result.stderr)
    assert re.fullmatch(case.error, line), line
    assert SECRET not in result.output
    if case.code == 3:
        assert elapsed < 4, f"{case.name} should fail at once, took {elapsed:.1f} s"


def test_bad_input_table_is_documented():
    """docs/troubleshooting.md has a row for every case, with its exit code."""
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "troubleshooting.md").read_text()
    for case in CASES:
        assert f"| {case.name} | {case.code} |" in doc, case.name


def test_missing_driver_names_the_extra_to_install(cli, project, monkeypatch):
    """A driver that is not installed is a configuration problem (exit 2), with the fix."""
    project.revisions(1)
    monkeypatch.setitem(__import__("sys").modules, "asyncmy", None)  # as if not installed
    result = cli("--url", f"{MARIADB}/app", "upgrade", "head")
    assert result.exit_code == 2, result.output
    line = assert_one_error(result.stderr)
    assert line == "Error: the asyncmy driver is not installed: pip install 'asyncmig[mysql]'"
