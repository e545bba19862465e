"""The harness itself: equal runs compare equal, a difference is shown as a diff, a wrong
exit code is reported with every run's output, and an in-process run leaves the test
process as it found it."""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .builders import template_project
from .harness import (
    ALEMBIC,
    CLI,
    RUNNER_FUNCTIONS,
    Comparison,
    Database,
    Mismatch,
    Side,
    run_alembic,
    run_asyncmig_cli,
    set_ini_option,
)

Compare = Callable[..., Comparison]
Generated = Callable[[str], Path]


def test_set_ini_option_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        "# comment\n[alembic]\nscript_location = %(here)s/m\nsqlalchemy.url = x\n\n[b]\nk = 1\n"
    )
    set_ini_option(ini, "alembic", "sqlalchemy.url", "postgresql://u:p%40ss@h/db")
    set_ini_option(ini, "b", "new", "%(here)s/r", escape=False)
    set_ini_option(ini, "b", "k", None)
    set_ini_option(ini, "c", "key", "v")
    assert ini.read_text() == (
        "# comment\n[alembic]\nscript_location = %(here)s/m\n"
        "sqlalchemy.url = postgresql://u:p%%40ss@h/db\n\n[b]\nnew = %(here)s/r\n\n[c]\nkey = v\n"
    )


def test_database_urls() -> None:
    pg = Database("postgresql", "postgres@127.0.0.1:5432", "d")
    assert pg.url("provider") == "postgres://postgres@127.0.0.1:5432/d"
    assert pg.url("sync", password="p%40") == "postgresql+psycopg://postgres:p%40@127.0.0.1:5432/d"
    assert pg.url(scheme="postgresql+psycopg2") == "postgresql+psycopg2://postgres@127.0.0.1:5432/d"
    assert Database("mysql", "root@h:3306", "d").url("async") == "mysql+asyncmy://root@h:3306/d"
    assert Database("sqlite", "", "/t/x.db").url("async") == "sqlite+aiosqlite:////t/x.db"


def test_equal_runs_compare_equal_and_differences_show(
    compare: Compare, generated: Generated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain alembic against itself (the second side runs plain alembic too)."""
    monkeypatch.setitem(RUNNER_FUNCTIONS, CLI, run_alembic)

    def configure(side: Side) -> None:
        side.set_ini("sqlalchemy.url", side.db.url("sync"))

    cmp = compare(
        lambda path: template_project(generated("generic"), path, "generic"),
        configure,
        dialect="sqlite",
        runners=(ALEMBIC, CLI),
    )
    cmp.step("upgrade", "head")
    assert "  row (2, 'bob', 'new')" in cmp.snapshot and "  row ('0004',)" in cmp.snapshot

    with sqlite3.connect(cmp.side(CLI).db.name) as conn:
        conn.execute("INSERT INTO account (id, name) VALUES (3, 'carol')")
    with pytest.raises(Mismatch) as caught:
        cmp.assert_same("tampering")
    message = str(caught.value)
    assert "databases differ after tampering:" in message
    assert "\n+  row (3, 'carol', 'new')\n" in message
    assert "$ alembic upgrade head  -> exit 0" in message

    with pytest.raises(Mismatch, match=r"unexpected exit code\(s\) \(wanted alembic exit 1"):
        cmp.run("current", expect=1)


def test_in_process_run_leaves_no_trace(tmp_path: Path, generated: Generated) -> None:
    """env.py's fileConfig, sys.path, the project's modules, the environment and the
    working directory are all put back after an in-process asyncmig run."""
    project = template_project(generated("async"), tmp_path / "p", "async")
    app_logger = logging.getLogger("realworld.app")
    cwd, path, environ = os.getcwd(), list(sys.path), dict(os.environ)

    run = run_asyncmig_cli(
        project, ["upgrade", "head"], {"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    )
    assert run.exit_code == 0, run

    assert app_logger.disabled is False
    assert (os.getcwd(), sys.path, dict(os.environ)) == (cwd, path, environ)
    assert "models" not in sys.modules
