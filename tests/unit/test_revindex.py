"""The revision index: the same revision map as Alembic's, without importing every file."""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from alembic.util import pyfiles
from support.projects import Project
from support.scripts import run_script
from typer.testing import Result

from asyncmig.revindex import INDEX_NAME, LazyModule

Cli = Callable[..., Result]


@pytest.fixture
def imported(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict[str, Any]]:
    """Run one command; report the revision files Alembic's loader imported and the most
    revision modules alive at once (the index is read from its file by every run)."""

    def run(*args: str) -> dict[str, Any]:
        loaded: list[str] = []
        alive: list[weakref.ref[ModuleType]] = []
        most = 0
        load = pyfiles.load_module_py

        def counting(module_id: str, path: Any) -> ModuleType:
            nonlocal most
            module = load(module_id, path)
            if Path(path).name != "env.py":
                loaded.append(Path(path).name)
                alive.append(weakref.ref(module))
                most = max(most, sum(ref() is not None for ref in alive))
            return module

        with monkeypatch.context() as patch:
            patch.setattr(pyfiles, "load_module_py", counting)
            result = cli(*args)
        return {"code": result.exit_code, "revisions": loaded, "most": most}

    return run


def test_a_second_run_imports_no_revision_file_it_does_not_run(
    project: Project, imported: Callable[..., dict[str, Any]]
) -> None:
    project.revisions(20)
    first = imported("upgrade", "head")
    assert first["code"] == 0 and len(first["revisions"]) == 20  # type: ignore[arg-type]
    assert (project.versions / "__pycache__" / INDEX_NAME).is_file()
    for args in (("upgrade", "head"), ("current",), ("status",), ("history",), ("heads",)):
        again = imported(*args)
        assert (again["code"], again["revisions"]) == (0, []), args


def test_only_the_revisions_that_run_are_imported(
    project: Project, imported: Callable[..., dict[str, Any]]
) -> None:
    project.revisions(5)
    imported("upgrade", "0003aa")
    result = imported("upgrade", "head")
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


def test_a_run_through_the_index_holds_one_revision_module_at_a_time(
    project: Project, imported: Callable[..., dict[str, Any]]
) -> None:
    """Alembic binds every step's function before the first runs; through the index each
    module is imported when its step runs and let go when it returns."""
    project.revisions(12)
    for args, expected in ((["heads"], 12), (["upgrade", "head"], 1), (["downgrade", "base"], 1)):
        report = imported(*args)
        # heads builds the index: Alembic's own loading, every module at once
        assert (report["code"], report["most"]) == (0, expected), (args, report)
        assert len(report["revisions"]) == 12, (args, report)  # type: ignore[arg-type]


def test_a_revision_without_downgrade_fails_as_alembic_makes_it_fail(
    cli: Cli, project: Project
) -> None:
    """The index knows which functions a file defines: a missing ``downgrade()`` fails
    while Alembic builds the steps, before any runs, with or without the index."""
    project.revisions(3)
    path = next(project.versions.glob("0002aa_*.py"))
    path.write_text(path.read_text().split("\ndef downgrade():")[0])
    assert cli("upgrade", "head").exit_code == 0  # builds the index
    outputs = []
    for env in ({"ASYNCMIG_REVISION_INDEX": "false"}, {}):
        failed = cli("downgrade", "base", env=env)
        outputs.append((failed.exit_code, failed.stdout, failed.stderr))
        current = cli("current")
        assert current.stdout == "0003aa (head)\n", current.output  # no step ran
    assert outputs[0] == outputs[1]
    assert outputs[0][0] == 1 and "downgrade" in outputs[0][2], outputs[0]


def test_deferred_functions_keep_their_name(cli: Cli, project: Project) -> None:
    """Alembic's "Running upgrade ..." line names the function: the index keeps its name."""
    project.revisions(2)
    path = next(project.versions.glob("0002aa_*.py"))
    path.write_text(
        path.read_text().replace("def upgrade():", "def forward():") + "\n\nupgrade = forward\n"
    )
    assert cli("heads").exit_code == 0  # builds the index
    lines = []
    for env in ({"ASYNCMIG_REVISION_INDEX": "false"}, {}):
        done = cli("upgrade", "head", env=env)
        assert done.exit_code == 0, done.output
        lines.append([line for line in done.stderr.splitlines() if "Running" in line])
        assert cli("downgrade", "base").exit_code == 0
    assert lines[0] == lines[1]
    assert any("Running forward 0001aa -> 0002aa" in line for line in lines[0]), lines


def loader(loads: list[int]) -> Callable[[], ModuleType]:
    """A revision module whose ``upgrade()`` says how many times it has been imported."""

    def load() -> ModuleType:
        loads.append(1)
        module = ModuleType("revision")
        module.upgrade = lambda: len(loads)  # type: ignore[attr-defined]
        return module

    return load


@pytest.mark.parametrize(
    ("release", "returns", "imports"), [(True, [1, 2, 2], 2), (False, [1, 1, 1], 1)]
)
def test_a_module_called_again_is_imported_once_more_and_kept(
    release: bool, returns: list[int], imports: int
) -> None:
    """An env.py that migrates several databases in turn (Alembic's multidb template) calls
    each revision's function once per database: imported for the first call, again for the
    second, then kept. Without ``release`` a module is imported once, as Alembic does."""
    loads: list[int] = []
    meta = {"doc": "", "revision": "a1", "down_revision": None, "branch_labels": None}
    meta |= {"depends_on": None, "runners": {"upgrade": "<lambda>"}}
    lazy = LazyModule(meta, loader(loads), release=release)
    function = lazy.upgrade
    assert [function() for _ in range(3)] == returns
    assert len(loads) == imports


def test_verify_and_lint_import_each_revision_once(
    project: Project, imported: Callable[..., dict[str, Any]]
) -> None:
    """They call both functions of every revision: the modules are kept, as in Alembic."""
    project.revisions(4)
    imported("heads")  # builds the index
    for args in (("lint",), ("verify",)):
        report = imported(*args)
        assert sorted(report["revisions"]) == sorted(  # type: ignore[arg-type]
            p.name for p in project.versions.glob("*.py")
        ), (args, report)
