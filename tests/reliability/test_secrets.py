"""The database password never reaches stdout, stderr, --json, logs or --traceback output.

The local PostgreSQL trusts its clients, so a URL with :data:`SECRET` as the
password connects; the revisions even print and raise the real URL, to prove
the masking of every output path rather than the politeness of the code.
"""

from __future__ import annotations

import subprocess
from urllib.parse import quote

import pytest
from support.checks import SECRET
from support.scripts import SCRIPT

LEAKY = "__import__('alembic').context.config.get_main_option('sqlalchemy.url')"


def leaky(i: int) -> str:
    """Revision 1 prints and logs the real URL; the others create their tables."""
    create = f"op.create_table('t{i:04d}', sa.Column('id', sa.Integer, primary_key=True))"
    if i == 1:
        return (
            f"print({LEAKY}); __import__('logging').getLogger('alembic').warning({LEAKY}); {create}"
        )
    return create


def secret_url(pg_url: str, form: str = "encoded") -> str:
    """The URL with :data:`SECRET` as its password: percent-encoded, raw with an ``@`` in it
    (the userinfo ends at the last ``@``), or given as ``?password=``."""
    if form == "query":
        return f"{pg_url}?password={quote(SECRET)}"
    password = quote(SECRET) if form == "encoded" else f"{SECRET}@x"
    return pg_url.replace("postgres@", f"postgres:{password}@", 1)


#: The masked URL the leaky revision prints, by form.
MASKED = {
    "encoded": "postgresql+asyncpg://postgres:***@127.0.0.1:5432/{}",
    "raw-at": "postgresql+asyncpg://postgres:***@127.0.0.1:5432/{}",
    "query": "postgresql+asyncpg://postgres@127.0.0.1:5432/{}?password=***",
}


def assert_clean(output: str, what: str) -> None:
    assert SECRET not in output, f"{what} leaked the password:\n{output}"
    assert quote(SECRET, safe="") not in output, f"{what} leaked the encoded password:\n{output}"


@pytest.mark.parametrize("form", list(MASKED))
def test_every_command_masks_the_password(cli, project, pg_url, form):
    project.revisions(3, body=leaky)
    url = secret_url(pg_url, form)
    base = ("--url", url, "--set", "sqlalchemy.echo=true")
    commands = [
        ("upgrade", "0002aa"),
        ("upgrade", "head", "--json"),
        ("current",),
        ("current", "--json", "--check-heads"),
        ("status",),
        ("status", "--json"),
        ("history", "-i"),
        ("history", "--json", "-i"),
        ("heads", "--json"),
        ("show", "current"),
        ("show-config",),
        ("show-config", "--json"),
        ("plan",),
        ("plan", "--json"),
        ("check",),
        ("ensure-version",),
        ("downgrade", "-1", "--json"),
        ("downgrade", "0001aa", "--sql"),
        ("upgrade", "0001aa:head", "--sql"),
        ("stamp", "head"),
        ("--traceback", "upgrade", "nosuchrev"),
    ]
    seen = []
    for argv in commands:
        result = cli(*base, *argv)
        assert result.exit_code in (0, 2, 4), (argv, result.output)
        assert_clean(result.stdout + result.stderr, " ".join(argv))
        seen.append(result.stdout + result.stderr)
    assert all(seen), "every command printed something"
    # The leaky revision did print and log the URL (masked), and echo logged SQL.
    masked = MASKED[form].format(pg_url.rsplit("/", 1)[1])
    assert seen[0].count(masked) == 2, seen[0]
    assert "CREATE TABLE t0002" in seen[0], seen[0]


def test_traceback_of_failing_revision_is_masked(project, pg_url, tmp_path):
    """Installed script, --traceback, echo on, a revision raising with the URL in its message."""
    project.revisions(
        2, body=lambda i: f"raise RuntimeError('cannot use ' + {LEAKY})" if i == 2 else leaky(i)
    )
    url = secret_url(pg_url)
    proc = subprocess.run(
        [SCRIPT, "--traceback", "--url", url, "--set", "sqlalchemy.echo=true", "upgrade", "head"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback (most recent call last)" in proc.stderr
    assert "postgres:***@127.0.0.1" in proc.stdout  # the print() in revision 1, masked
    assert "CREATE TABLE t0001" in proc.stdout + proc.stderr  # echo=true logged the SQL
    line = [x for x in proc.stderr.splitlines() if x.startswith("Error:")]
    assert line == [
        "Error: revision 0002aa (create table t0002) failed: RuntimeError: cannot use "
        f"postgresql+asyncpg://postgres:***@127.0.0.1:5432/{pg_url.rsplit('/', 1)[1]}"
    ], proc.stderr
    assert_clean(proc.stdout + proc.stderr, "--traceback")


def test_connection_errors_with_traceback_are_masked(cli, project):
    project.revisions(1)
    for url in (
        f"postgresql+asyncpg://postgres:{SECRET}@127.0.0.1:1/app",
        f"postgresql+asyncpg://nosuchrole:{SECRET}@127.0.0.1:5432/postgres",
        f"mysql+asyncmy://root:{SECRET}@127.0.0.1:3306/mysql",
        f"postgresql+asyncpg//postgres:{SECRET}@127.0.0.1/app",
        f"postgresql+psycopg2://postgres:{SECRET}@127.0.0.1/app",
        f"postgresql+asyncpg://postgres:{SECRET}@x@127.0.0.1:1/app",
        f"postgresql+asyncpg://postgres@127.0.0.1:1/app?password={SECRET}",
        f"mysql+asyncmy://root@127.0.0.1:3306/mysql?password={SECRET}",
    ):
        result = cli("--traceback", "--wait-timeout", "0", "--url", url, "upgrade", "head")
        assert result.exit_code in (2, 3), result.output
        assert "Traceback" in result.stderr
        assert_clean(result.stdout + result.stderr, url.split("//")[0])
