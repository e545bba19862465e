"""``asyncmig lint``: asyncmig's rules on the operations of each pending revision (SQLite)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support.lint_revisions import UPGRADE_LINE, write
from support.projects import Project
from typer.testing import Result

#: The first line of a body written by :func:`write`.
FIRST = UPGRADE_LINE + 1

CREATE = """\
op.create_table("users", sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("name", sa.String(100)), sa.Column("email", sa.Text),
                sa.Column("age", sa.Integer), sa.Column("note", sa.String(50)))
op.create_table("logs", sa.Column("id", sa.Integer, primary_key=True))
op.create_table("audit", sa.Column("id", sa.Integer, primary_key=True))
"""
CREATE_DOWN = 'op.drop_table("audit")\nop.drop_table("logs")\nop.drop_table("users")'

#: One dangerous revision of each kind: (rev, upgrade, downgrade, rule, line); None: the
#: ``def downgrade()`` line, "body": the first line of downgrade().
DANGEROUS = [
    ("r02", 'op.drop_table("logs")',
     'op.create_table("logs", sa.Column("id", sa.Integer, primary_key=True))',
     "drop-table", FIRST),
    ("r03", 'op.execute("SELECT 1")\nop.drop_column("users", "note")',
     'op.add_column("users", sa.Column("note", sa.String(50)))', "drop-column", FIRST + 1),
    ("r04", 'op.rename_table("audit", "audit_log")', 'op.rename_table("audit_log", "audit")',
     "rename-table", FIRST),
    ("r05", 'op.alter_column("users", "email", new_column_name="mail")',
     'op.alter_column("users", "mail", new_column_name="email")', "rename-column", FIRST),
    ("r06", 'op.alter_column("users", "name", type_=sa.String(20), existing_type=sa.String(100))',
     'op.alter_column("users", "name", type_=sa.String(100), existing_type=sa.String(20))',
     "narrow-type", FIRST),
    ("r07", 'op.alter_column("users", "age", type_=sa.BigInteger)',
     'op.alter_column("users", "age", type_=sa.Integer)', "change-type", FIRST),
    ("r08", 'op.add_column("users", sa.Column("score", sa.Integer, nullable=False))',
     'op.drop_column("users", "score")', "not-null-without-default", FIRST),
    ("r09", 'op.alter_column("users", "name", nullable=False, existing_type=sa.String(20))',
     'op.alter_column("users", "name", nullable=True, existing_type=sa.String(20))',
     "set-not-null", FIRST),
    ("r10", 'op.create_index("ix_users_name", "users", ["name"])', "pass",
     "empty-downgrade", None),
    ("r11", 'op.execute("UPDATE users SET age = 0 WHERE age IS NULL")',
     'op.execute("DELETE FROM users WHERE age = 0")', "destructive-downgrade", "body"),
]  # fmt: skip


def dangerous_history(versions: Path) -> dict[str, Path]:
    paths = {"r01": write(versions, "r01", None, CREATE, CREATE_DOWN)}
    down = "r01"
    for rev, upgrade, downgrade, _, _ in DANGEROUS:
        paths[rev] = write(versions, rev, down, upgrade, downgrade)
        down = rev
    return paths


def downgrade_line(path: Path) -> int:
    lines = path.read_text().splitlines()
    return lines.index("def downgrade():") + 1


def test_each_dangerous_revision_is_flagged_with_its_rule(
    project: Project, cli: Callable[..., Result]
) -> None:
    paths = dangerous_history(project.versions)
    result = cli("lint", "base:head", "--json")
    assert result.exit_code == 4, result.output
    report = json.loads(result.stdout)
    found = [(f["revision"], f["rule"], f["line"], f["path"]) for f in report["findings"]]
    expected = []
    for rev, _, _, rule, line in DANGEROUS:
        where = line if isinstance(line, int) else downgrade_line(paths[rev]) + (line == "body")
        expected.append((rev, rule, where, f"migrations/versions/{paths[rev].name}"))
    assert found == expected
    assert report["revisions"] == ["r01", *(d[0] for d in DANGEROUS)]
    assert report["errors"] == 6
    assert report["warnings"] == 4
    assert report["dialect"] == "sqlite"
    assert report["squawk"] is None
    messages = {f["revision"]: f["message"] for f in report["findings"]}
    assert messages == {
        "r02": "drops table logs",
        "r03": "drops column users.note",
        "r04": "renames table audit to audit_log",
        "r05": "renames column users.email to mail",
        "r06": "narrows users.name from VARCHAR(100) to VARCHAR(20)",
        "r07": "changes users.age from an unstated type to BIGINT",
        "r08": "adds NOT NULL column users.score without a server_default",
        "r09": "makes users.name NOT NULL",
        "r10": "downgrade() does nothing, but upgrade() runs 1 operation",
        "r11": "downgrade() deletes rows (DELETE or TRUNCATE)",
    }
    drop = report["findings"][0]
    assert drop["level"] == "error"
    assert drop["docs"] == "docs/safety.md#drop-table"
    assert drop["source"] == "asyncmig"
    assert drop["explanation"].startswith("Dropping a table destroys its data")


def test_text_report_and_exit_code(project: Project, cli: Callable[..., Result]) -> None:
    write(project.versions, "r01", None, CREATE, CREATE_DOWN)
    write(project.versions, "r02", "r01", 'op.drop_column("users", "note")',
          'op.add_column("users", sa.Column("note", sa.String(50)))')  # fmt: skip
    result = cli("lint", "base:head")
    assert result.exit_code == 4, result.output
    assert result.stdout.splitlines() == [
        f"migrations/versions/r02_r02.py:{FIRST}: error: drops column users.note [drop-column]",
        "    Dropping a column destroys its data and breaks code that still reads or writes it "
        "while the deploy rolls out. (docs/safety.md#drop-column)",
        "Linted 2 revisions (r01 … r02) for sqlite with asyncmig's rules: 1 error, 0 warnings.",
    ]
    assert result.stderr.splitlines()[-1] == (
        "Error: lint found 1 error-level finding: see docs/safety.md to fix or silence them"
    )


def test_a_clean_history_passes(project: Project, cli: Callable[..., Result]) -> None:
    project.revisions(3)
    result = cli("lint", "base:head")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Linted 3 revisions (0001aa … 0003aa) for sqlite with asyncmig's rules: no findings.\n"
    )


def test_lint_reads_the_current_revision(project: Project, cli: Callable[..., Result]) -> None:
    write(project.versions, "r01", None, CREATE, CREATE_DOWN)
    write(project.versions, "r02", "r01", 'op.drop_table("logs")', "pass")
    write(project.versions, "r03", "r02", 'op.drop_table("audit")',
          'op.create_table("audit", sa.Column("id", sa.Integer, primary_key=True))')  # fmt: skip
    assert cli("-q", "upgrade", "r02").exit_code == 0
    result = cli("lint", "--json")
    assert result.exit_code == 4, result.output
    report = json.loads(result.stdout)
    assert report["current"] == ["r02"]
    assert report["revisions"] == ["r03"]
    assert [(f["revision"], f["rule"]) for f in report["findings"]] == [("r03", "drop-table")]
    assert cli("-q", "upgrade", "head").exit_code == 0
    result = cli("lint")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Nothing to lint: no revisions to run at r03.\n"


def test_silenced_by_a_comment_and_by_pyproject(
    project: Project, cli: Callable[..., Result]
) -> None:
    write(project.versions, "r01", None, CREATE, CREATE_DOWN)
    write(project.versions, "r02", "r01",
          'op.drop_column("users", "note")  # asyncmig: allow drop-column', "pass")  # fmt: skip
    write(project.versions, "r03", "r02", 'op.rename_table("audit", "audit_log")',
          'op.rename_table("audit_log", "audit")',
          extra="# asyncmig: allow rename-table, empty-downgrade\n")  # fmt: skip
    result = cli("lint", "base:head", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(f["revision"], f["rule"]) for f in report["findings"]] == [("r02", "empty-downgrade")]
    Path("pyproject.toml").write_text(
        '[tool.asyncmig.lint]\ndisable = ["empty-downgrade"]\nerror = ["change-type"]\n'
        'warning = ["drop-table"]\n'
    )
    write(project.versions, "r04", "r03", 'op.drop_table("logs")\n'
          'op.alter_column("users", "age", type_=sa.BigInteger)', "pass")  # fmt: skip
    report = json.loads(cli("lint", "base:head", "--json").stdout)
    levels = [(f["revision"], f["rule"], f["level"]) for f in report["findings"]]
    assert levels == [("r04", "drop-table", "warning"), ("r04", "change-type", "error")]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('nope = 1', "pyproject.toml [tool.asyncmig.lint]: unknown key 'nope' (known: "
         "disable, error, warning, squawk, pg_version)"),
        ('disable = "drop-table"', "pyproject.toml [tool.asyncmig.lint] disable must be a "
         "list of rule ids"),
        ('error = ["drop-table"]\nwarning = ["drop-table"]',
         "pyproject.toml [tool.asyncmig.lint]: drop-table is listed under both error and warning"),
    ],
)  # fmt: skip
def test_a_wrong_lint_table_is_a_config_error(
    project: Project, cli: Callable[..., Result], table: str, message: str
) -> None:
    project.revisions(1)
    Path("pyproject.toml").write_text(f"[tool.asyncmig.lint]\n{table}\n")
    result = cli("lint", "base:head")
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {message}\n"


def test_github_annotations_on_the_revision_lines(
    project: Project, cli: Callable[..., Result]
) -> None:
    write(project.versions, "r01", None, CREATE, CREATE_DOWN)
    path = write(project.versions, "r02", "r01", 'op.drop_table("logs")', "pass")
    result = cli("lint", "base:head", env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 4, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("::")]
    assert lines == [
        f"::error file=migrations/versions/r02_r02.py,line={FIRST},"
        "title=asyncmig lint%3A drop-table::drops table logs. Dropping a table destroys its "
        "data and breaks code that still uses it while the deploy rolls out.",
        f"::warning file=migrations/versions/r02_r02.py,line={downgrade_line(path)},"
        "title=asyncmig lint%3A empty-downgrade::downgrade() does nothing, but upgrade() runs "
        "1 operation. This revision cannot be rolled back: its downgrade() is missing, empty "
        "or raises.",
        "::error title=asyncmig::lint found 1 error-level finding: see docs/safety.md to fix "
        "or silence them",
    ]


def test_missing_and_irreversible_downgrades(project: Project, cli: Callable[..., Result]) -> None:
    write(project.versions, "r01", None, CREATE, CREATE_DOWN)
    missing = write(project.versions, "r02", "r01", 'op.create_index("ix1", "users", ["name"])',
                    None)  # fmt: skip
    irreversible = write(project.versions, "r03", "r02",
                         'op.create_index("ix2", "users", ["age"])',
                         'raise NotImplementedError("one way only")')  # fmt: skip
    # A query in downgrade() cannot run offline: not checked, said in a note.
    write(project.versions, "r04", "r03", 'op.create_index("ix3", "users", ["note"])',
          'rows = op.get_bind().execute(sa.text("SELECT 1")).fetchall()\n'
          'op.drop_index("ix3", table_name="users")')  # fmt: skip
    result = cli("lint", "base:head", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(f["revision"], f["line"], f["message"]) for f in report["findings"]] == [
        ("r02", 1, "the revision has no downgrade() function"),
        ("r03", downgrade_line(irreversible),
         "downgrade() raises NotImplementedError: one way only"),
    ]  # fmt: skip
    assert missing.exists()
    (note,) = report["notes"]
    assert note.startswith("r04: downgrade() could not run offline (")
    assert note.endswith("): not checked")


def test_batch_operations_on_sqlite(project: Project, cli: Callable[..., Result]) -> None:
    """SQLite's "move and copy" needs the live table to render SQL; the operations inside the
    block are still read, and the missing SQL is said."""
    write(project.versions, "r01", None, CREATE, CREATE_DOWN)
    write(project.versions, "r02", "r01",
          'with op.batch_alter_table("users") as batch_op:\n'
          '    batch_op.drop_column("note")\n'
          '    batch_op.alter_column("name", new_column_name="full_name")',
          'with op.batch_alter_table("users") as batch_op:\n'
          '    batch_op.alter_column("full_name", new_column_name="name")\n'
          '    batch_op.add_column(sa.Column("note", sa.String(50)))')  # fmt: skip
    result = cli("lint", "base:head", "--json")
    assert result.exit_code == 4, result.output
    report = json.loads(result.stdout)
    assert [(f["rule"], f["line"]) for f in report["findings"]] == [
        ("drop-column", FIRST + 1),
        ("rename-column", FIRST + 2),
    ]
    assert report["notes"] == [
        "r02: batch_alter_table('users') needs a live database to render its SQL on sqlite "
        "(or copy_from=): its operations were checked, its SQL is not in the plan"
    ]


def test_plan_lint_and_upgrade_lint(project: Project, cli: Callable[..., Result]) -> None:
    write(project.versions, "r01", None, CREATE, CREATE_DOWN)
    write(project.versions, "r02", "r01", 'op.drop_table("logs")',
          'op.create_table("logs", sa.Column("id", sa.Integer, primary_key=True))')  # fmt: skip
    result = cli("plan", "--lint")
    assert result.exit_code == 4, result.output
    assert "CREATE TABLE users" in result.stdout
    assert "DROP TABLE logs" in result.stdout
    assert "[drop-table]" not in result.stdout  # the report is on stderr
    assert f"r02_r02.py:{FIRST}: error: drops table logs [drop-table]" in result.stderr
    planned = json.loads(cli("plan", "--lint", "--json").stdout)
    assert planned["lint"]["errors"] == 1
    assert [step["revision"] for step in planned["steps"]] == ["r01", "r02"]

    result = cli("upgrade", "--lint")
    assert result.exit_code == 4, result.output
    assert result.stderr.splitlines()[-1] == (
        "Error: lint found 1 error-level finding: not upgrading: see docs/safety.md to fix or "
        "silence them"
    )
    assert cli("current").stdout == ""  # nothing ran
    result = cli("upgrade", "--lint", "--json")
    assert result.exit_code == 4
    refused = json.loads(result.stdout)
    assert refused["error"]["code"] == "unsafe"
    assert refused["findings"][0]["rule"] == "drop-table"

    assert cli("-q", "upgrade", "r01", "--lint").exit_code == 0
    assert cli("current").stdout == "r01\n"


def test_upgrade_sql_lint_lints_what_it_prints(
    project: Project, cli: Callable[..., Result]
) -> None:
    """``upgrade --sql`` renders from base without reading the database: so does its lint."""
    write(project.versions, "r01", None, CREATE, CREATE_DOWN)
    write(project.versions, "r02", "r01", 'op.drop_table("logs")',
          'op.create_table("logs", sa.Column("id", sa.Integer, primary_key=True))')  # fmt: skip
    result = cli("upgrade", "--sql", "--lint", "r01")
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE users" in result.stdout
    assert "Linted 1 revision (r01 … r01) for sqlite" in result.stderr
    result = cli("upgrade", "--sql", "--lint")
    assert result.exit_code == 4, result.output
    assert "DROP TABLE" not in result.stdout
    assert not Path("app.db").exists()  # never connected


async def test_the_api_inside_a_running_loop(project: Project) -> None:
    import asyncmig

    write(project.versions, "r01", None, CREATE, CREATE_DOWN)
    write(project.versions, "r02", "r01", 'op.drop_table("logs")', "pass")
    report = await asyncmig.lint("base:head")
    assert [(f.revision, f.rule) for f in report.errors] == [("r02", "drop-table")]
    assert [step.revision for step in report.plan.steps] == ["r01", "r02"]
    verified = await asyncmig.verify()
    assert verified.ok is False
    assert verified.problems[0].message == "upgrade again of r02 failed: no such table: logs"
