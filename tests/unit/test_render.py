"""Human output of ``upgrade``/``downgrade``: one line per revision and a summary; plain
text off a terminal or with NO_COLOR, nothing with -q, a GitHub annotation on failure.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.projects import Project

SCRIPT = Path(sys.executable).with_name("asyncmig")
LINE = re.compile(r"(Applying|Reverting) (\d+)/(\d+) (\S+) → (\S+) (.*) … (\d+\.\d\d) s")
SUMMARY = re.compile(
    r"(Upgraded|Downgraded) (\d+) revisions? in \d+\.\d\d s; the database is at (\S+)\."
)


def parse(stdout: str) -> tuple[list[tuple[str, ...]], str]:
    """(fields of each progress line, the summary line); every line must be one of them."""
    *lines, summary = stdout.splitlines()
    steps = []
    for line in lines:
        match = LINE.fullmatch(line)
        assert match, line
        steps.append(match.groups()[:6])
    return steps, summary


def test_one_line_per_revision_and_a_summary(cli, project: Project) -> None:
    project.revisions(4)
    result = cli("upgrade", "head")
    assert result.exit_code == 0, result.output
    steps, summary = parse(result.stdout)
    assert steps == [
        ("Applying", "1", "4", "base", "0001aa", "create table t0001"),
        ("Applying", "2", "4", "0001aa", "0002aa", "create table t0002"),
        ("Applying", "3", "4", "0002aa", "0003aa", "create table t0003"),
        ("Applying", "4", "4", "0003aa", "0004aa", "create table t0004"),
    ]
    assert SUMMARY.fullmatch(summary).groups() == ("Upgraded", "4", "0004aa")  # type: ignore[union-attr]
    assert "\x1b" not in result.output and "\r" not in result.output  # no colour, no animation


def test_downgrade_and_nothing_to_do(cli, project: Project) -> None:
    project.revisions(3)
    assert cli("-q", "upgrade", "head").exit_code == 0
    result = cli("downgrade", "0001aa")
    assert result.exit_code == 0, result.output
    steps, summary = parse(result.stdout)
    assert steps == [
        ("Reverting", "1", "2", "0003aa", "0002aa", "create table t0003"),
        ("Reverting", "2", "2", "0002aa", "0001aa", "create table t0002"),
    ]
    assert SUMMARY.fullmatch(summary).groups() == ("Downgraded", "2", "0001aa")  # type: ignore[union-attr]
    assert cli("-q", "upgrade", "head").exit_code == 0
    result = cli("upgrade", "head")
    assert result.stdout == "Nothing to do: the database is at 0003aa.\n"


def test_quiet_prints_nothing(cli, project: Project) -> None:
    project.revisions(3)
    result = cli("-q", "upgrade", "head")
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""
    result = cli("-q", "downgrade", "base")
    assert result.stdout == "" and result.stderr == ""


def test_quiet_failure_prints_only_the_error_line(project: Project, pg_url: str) -> None:
    """The read-back after a failed run opens a new connection (its table was rolled back);
    Alembic's INFO lines of that connection stay hidden with -q too."""
    project.revisions(2, fail_at=2)
    result = subprocess.run(
        [str(SCRIPT), "-q", "--url", pg_url, "upgrade", "head"],
        cwd=project.path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        'Error: revision 0002aa (create table t0002) failed: relation "no_such_table_anywhere" '
        "does not exist"
    ]


def test_no_color_stays_plain(cli, project: Project) -> None:
    project.revisions(2)
    result = cli("upgrade", "head", env={"NO_COLOR": "1"})
    assert result.exit_code == 0
    assert "\x1b" not in result.output
    assert len(parse(result.stdout)[0]) == 2


def _on_a_terminal(
    project: Project, extra_env: dict[str, str], args: tuple[str, ...] = ("upgrade", "head")
) -> str:
    """Run the installed script with stdout on a pseudo-terminal; return what it wrote."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNCMIG_", "NO_COLOR"))}
    env.update(TERM="xterm-256color", COLUMNS="200", **extra_env)
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [str(SCRIPT), *args],
            cwd=project.path,
            env=env,
            stdout=follower,
            stderr=subprocess.DEVNULL,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(leader)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_unless_no_color(tmp_path: Path) -> None:
    from support.projects import make_project

    coloured = make_project(tmp_path / "tty")
    coloured.revisions(2)
    out = _on_a_terminal(coloured, {})
    assert "\x1b[" in out and "Applying 2/2 0001aa → 0002aa create table t0002 …" in out

    plain = make_project(tmp_path / "no_color")
    plain.revisions(2)
    out = _on_a_terminal(plain, {"NO_COLOR": "1"})
    assert "\x1b" not in out
    steps, summary = parse(out.replace("\r\n", "\n"))
    assert len(steps) == 2 and summary.startswith("Upgraded 2 revisions in ")


def test_history_and_heads_are_tables_on_a_terminal(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.projects import make_project

    project = make_project(tmp_path / "tty")
    project.revisions(2)
    history = _on_a_terminal(project, {}, ("history",))
    assert "━" in history and "0002aa" in history and "create table t0002" in history
    assert "head" in _on_a_terminal(project, {}, ("heads",))
    # Off a terminal: Alembic's own lines, as scripts parse them.
    monkeypatch.chdir(project.path)
    assert cli("history").stdout == (
        "0001aa -> 0002aa (head), create table t0002\n<base> -> 0001aa, create table t0001\n"
    )


def test_failure_is_one_line_and_a_github_annotation(cli, project: Project) -> None:
    project.revisions(3, fail_at=2)
    result = cli("upgrade", "head", env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 1
    message = "revision 0002aa (create table t0002) failed: no such table: no_such_table_anywhere"
    lines = result.stdout.splitlines()
    assert LINE.fullmatch(lines[0])  # revision 1 was applied and reported
    assert lines[1:] == []  # stdout stays data: the annotation goes to stderr
    assert [line for line in result.stderr.splitlines() if not line.startswith("INFO ")] == [
        f"Error: {message}",
        f"::error title=asyncmig::{message}",
    ]


def test_no_annotation_outside_github(cli, project: Project) -> None:
    project.revisions(1, fail_at=1)
    result = cli("-q", "upgrade", "head")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: revision 0001aa (create table t0001) failed: "
        "no such table: no_such_table_anywhere\n"
    )


def test_text_from_configs_and_revisions_is_never_rich_markup(tmp_path: Path) -> None:
    """``[alembic]`` in show-config's sources and ``[bold]`` in a message print as written."""
    from support.projects import make_project

    project = make_project(tmp_path / "tty")
    project.revisions(1)
    (revision,) = project.versions.glob("0001aa_*.py")
    revision.write_text(revision.read_text().replace("create table t0001", "[bold]loud[/bold]", 1))
    history = re.sub(r"\x1b\[[0-9;]*m", "", _on_a_terminal(project, {}, ("history",)))
    assert "[bold]loud[/bold]" in history
    config = re.sub(r"\x1b\[[0-9;]*m", "", _on_a_terminal(project, {}, ("show-config",)))
    assert "alembic.ini:[alembic]" in config
