"""The installed ``asyncmig`` script and ``python -m asyncmig``, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.projects import make_project
from support.scripts import run_script

from asyncmig import __version__


def test_fresh_directory_init_revision_upgrade(tmp_path: Path) -> None:
    """The quickstart on a machine with no server: SQLite through aiosqlite."""
    init = run_script("init", "migrations", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    revision = run_script("revision", "-m", "first", "--rev-id", "aa01", cwd=tmp_path)
    assert revision.returncode == 0, revision.stderr
    upgrade = run_script("upgrade", "head", cwd=tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    assert "Applying 1/1 base → aa01 first …" in upgrade.stdout
    assert "the database is at aa01." in upgrade.stdout
    current = run_script("-q", "current", cwd=tmp_path)
    assert (current.returncode, current.stdout, current.stderr) == (0, "aa01 (head)\n", "")
    assert (tmp_path / "app.db").is_file()


def test_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = run_script("upgrade", "head", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"Error: no alembic.ini or pyproject.toml [tool.alembic] in {tmp_path}: "
        "run 'asyncmig init migrations' or pass -c/--config\n"
    )


def test_python_dash_m_version(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "asyncmig", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"asyncmig {__version__}\n", "")
    script = run_script("--version", cwd=tmp_path)
    assert (script.returncode, script.stdout) == (0, f"asyncmig {__version__}\n")


@pytest.mark.parametrize(
    "command",
    ["show-config", "upgrade head --sql", "history", "upgrade head"],
)
def test_a_closed_pipe_ends_quietly(tmp_path: Path, command: str) -> None:
    """``asyncmig ... | head -1``: exit 0 like any Unix tool; an upgrade still finishes."""
    project = make_project(tmp_path)
    project.revisions(60)
    exe = Path(sys.executable).with_name("asyncmig")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNCMIG_", "DATABASE_URL"))}
    done = subprocess.run(
        ["bash", "-c", f'{exe} {command} | head -1; echo "rc=${{PIPESTATUS[0]}}"'],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.splitlines()[-1] == "rc=0", done.stdout + done.stderr
    assert "Error" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    if command == "upgrade head":
        current = run_script("current", cwd=tmp_path)
        assert current.stdout == "0060aa (head)\n", current.stdout + current.stderr


def test_the_console_script_leaves_mako_without_pygments(tmp_path: Path) -> None:
    """Mako's Pygments plugin (HTML error pages) is never imported by the console script,
    and Mako still renders revision files and reports a broken template in plain text."""
    project = make_project(tmp_path)
    made = run_script(
        "revision", "-m", "first", cwd=project.path, env={"PYTHONPROFILEIMPORTTIME": "1"}
    )
    assert made.returncode == 0, made.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in made.stderr.splitlines()}
    assert "mako.template" in imported
    assert not {name for name in imported if name.startswith("pygments")}
    assert len(list(project.versions.glob("*_first.py"))) == 1
    template = project.path / "migrations" / "script.py.mako"
    template.write_text("${undefined_name.attribute}\n")
    broken = run_script("revision", "-m", "second", cwd=project.path)
    assert broken.returncode == 2, broken.stderr
    assert broken.stderr.startswith("Error: Template rendering failed; see "), broken.stderr
    report = Path(broken.stderr.split("see ", 1)[1].split(" for ", 1)[0])
    assert "undefined_name" in report.read_text()  # Mako's plain-text traceback
    report.unlink()
