"""The installed ``asyncmig`` script and ``python -m asyncmig``, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import run_script

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
