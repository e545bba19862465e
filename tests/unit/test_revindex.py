"""The revision index: the same revision map as Alembic's, without importing every file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

from support.projects import Project
from support.scripts import run_script
from typer.testing import Result

from asyncmig.revindex import INDEX_NAME

Cli = Callable[..., Result]

#: Runs one command and records the revision files Alembic's loader imported.
IMPORTED = """
import json, sys
from pathlib import Path
from alembic.util import pyfiles
loaded = []
load = pyfiles.load_module_py
def counting(module_id, path):
    loaded.append(Path(path).name)
    return load(module_id, path)
pyfiles.load_module_py = counting
from asyncmig.cli import app
try:
    app(sys.argv[2:], prog_name="asyncmig")
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as fh:
    json.dump({"code": code, "revisions": [n for n in loaded if n != "env.py"]}, fh)
"""


def imported(project: Project, *args: str) -> dict[str, object]:
    out = project.path / "imported.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNCMIG_", "DATABASE_URL"))}
    done = subprocess.run(
        [sys.executable, "-c", IMPORTED, str(out), *args],
        cwd=project.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, object] = json.loads(out.read_text())
    return data


def test_a_second_run_imports_no_revision_file_it_does_not_run(project: Project) -> None:
    project.revisions(20)
    first = imported(project, "upgrade", "head")
    assert first["code"] == 0 and len(first["revisions"]) == 20  # type: ignore[arg-type]
    assert (project.versions / "__pycache__" / INDEX_NAME).is_file()
    for args in (("upgrade", "head"), ("current",), ("status",), ("history",), ("heads",)):
        again = imported(project, *args)
        assert again == {"code": 0, "revisions": []}, args


def test_only_the_revisions_that_run_are_imported(project: Project) -> None:
    project.revisions(5)
    imported(project, "upgrade", "0003aa")
    result = imported(project, "upgrade", "head")
    assert sorted(result["revisions"]) == [  # type: ignore[arg-type]
        "0004aa_create_t0004.py",
        "0005aa_create_t0005.py",
    ]


def test_a_changed_file_is_read_again(cli: Cli, project: Project) -> None:
    """Editing a revision (its message, its parent) shows at once; a new file is found."""
    project.revisions(3)
    assert cli("history").exit_code == 0
    path = next(project.versions.glob("0003aa_*.py"))
    time.sleep(0.01)  # a new modification time even on coarse clocks
    path.write_text(path.read_text().replace("create table t0003", "a new message", 1))
    assert cli("history").stdout.splitlines()[0] == "0002aa -> 0003aa (head), a new message"
    project.revisions(1, start=3)
    assert cli("heads").stdout == "0004aa (head)\n"
    path.unlink()
    missing = cli("heads")
    assert missing.exit_code == 2, missing.output
    index = json.loads((project.versions / "__pycache__" / INDEX_NAME).read_text())
    assert sorted(index["files"]) == [  # the deleted file is dropped from the index
        "0001aa_create_t0001.py",
        "0002aa_create_t0002.py",
        "0004aa_create_t0004.py",
    ]


def test_output_with_and_without_the_index_is_identical(project: Project) -> None:
    project.revisions(30)
    commands = (
        ("history", "-v"),
        ("heads", "-v"),
        ("show", "0015aa"),
        ("history", "-r", "0003aa:"),
    )
    for args in commands:
        cold = run_script(*args, cwd=project.path, env={"ASYNCMIG_REVISION_INDEX": "false"})
        run_script(*args, cwd=project.path)  # builds the index
        warm = run_script(*args, cwd=project.path)  # reads it
        assert cold.returncode == warm.returncode == 0, (args, cold.stderr, warm.stderr)
        assert warm.stdout == cold.stdout, args


def test_an_unwritable_folder_just_has_no_index(cli: Cli, project: Project) -> None:
    project.revisions(2)
    cache = project.versions / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / INDEX_NAME).mkdir()  # a directory where the file should go: writing fails
    result = cli("upgrade", "head")
    assert result.exit_code == 0, result.output
    assert cli("current").stdout == "0002aa (head)\n"
