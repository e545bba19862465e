"""Where Alembic finds its configuration: ``./pyproject.toml`` alone, ``-c ini -c toml``
and ``ALEMBIC_CONFIG``. The env.py (projects/layout) reads a project option from the ini
(``version_table``), so a tool that skips the ini leaves a different version table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .builders import pattern_project
from .harness import RUNNERS, Comparison, Side, url_in_env

Compare = Callable[..., Comparison]
Generated = Callable[[str], Path]

TOML = """\
[tool.alembic]
script_location = "%(here)s/{scripts}"
prepend_sys_path = ["."]
"""


def _layout(generated: Generated, path: Path, *, ini: str | None, toml: str | None) -> None:
    """The generic project with env.py from projects/layout; its alembic.ini moved to
    ``ini`` (None: removed) and a pyproject.toml written at ``toml``. With a toml the ini
    keeps no script_location (the ``pyproject`` template's split); the ini always holds a
    ``version_table`` option of the project's own."""
    pattern_project(generated("generic"), path, "layout")
    text = (path / "alembic.ini").read_text()
    (path / "alembic.ini").unlink()
    if ini is not None:
        target = path / ini
        target.parent.mkdir(parents=True, exist_ok=True)
        scripts = "%(here)s/" + ("../" * ini.count("/")) + "migrations"
        old = "script_location = %(here)s/migrations\n"
        text = text.replace(old, "" if toml else f"script_location = {scripts}\n")
        text = text.replace("[alembic]\n", "[alembic]\nversion_table = app_versions\n", 1)
        target.write_text(text)
    if toml is not None:
        target = path / toml
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(TOML.format(scripts="../" * toml.count("/") + "migrations"))


def _ini_url(ini: str) -> Callable[[Side], None]:
    """Plain alembic: the async URL in the ini. asyncmig: DATABASE_URL only."""

    def configure(side: Side) -> None:
        if side.plain:
            side.set_ini("sqlalchemy.url", side.db.url("async"), file=ini)
        else:
            side.env["DATABASE_URL"] = side.db.url("provider")

    return configure


def test_pyproject_toml_only(compare: Compare, generated: Generated) -> None:
    """No alembic.ini: ``[tool.alembic]`` in ./pyproject.toml (Alembic 1.16's
    ``pyproject`` templates without their ini); the URL comes from DATABASE_URL."""
    cmp = compare(
        lambda path: _layout(generated, path, ini=None, toml="pyproject.toml"),
        url_in_env("async"),
        runners=RUNNERS,
    )
    cmp.step("upgrade", "head")
    assert "table public.alembic_version" in cmp.snapshot
    cmp.assert_same_stdout(cmp.run("current"), "of current")


def test_config_flag_twice_ini_and_toml(compare: Compare, generated: Generated) -> None:
    """``-c conf/alembic.ini -c conf/pyproject.toml``: the ini's options and the toml's
    script_location are both used, as Alembic's CommandLine does."""
    cmp = compare(
        lambda path: _layout(generated, path, ini="conf/alembic.ini", toml="conf/pyproject.toml"),
        _ini_url("conf/alembic.ini"),
    )
    cmp.step("-c", "conf/alembic.ini", "-c", "conf/pyproject.toml", "upgrade", "head")
    assert "table public.app_versions" in cmp.snapshot


def test_alembic_config_variable(compare: Compare, generated: Generated) -> None:
    """``ALEMBIC_CONFIG=conf/alembic.ini`` instead of ``-c``."""

    def configure(side: Side) -> None:
        _ini_url("conf/alembic.ini")(side)
        side.env["ALEMBIC_CONFIG"] = "conf/alembic.ini"

    cmp = compare(
        lambda path: _layout(generated, path, ini="conf/alembic.ini", toml=None), configure
    )
    cmp.step("upgrade", "head")
    assert "table public.app_versions" in cmp.snapshot


def test_config_flag_ini_with_pyproject_of_working_directory(
    compare: Compare, generated: Generated
) -> None:
    """``-c conf/alembic.ini`` with ``[tool.alembic]`` in ./pyproject.toml: Alembic reads the
    pyproject.toml of the working directory, not one beside the ini."""
    cmp = compare(
        lambda path: _layout(generated, path, ini="conf/alembic.ini", toml="pyproject.toml"),
        _ini_url("conf/alembic.ini"),
    )
    cmp.step("-c", "conf/alembic.ini", "upgrade", "head")
    assert "table public.app_versions" in cmp.snapshot
