"""``init`` and ``list-templates``: asyncmig's templates (package data) beside Alembic's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

from .alembic_config import TEMPLATES_DIR, scaffold_config
from .failures import translate

DEFAULT_TEMPLATE = "asyncmig"


def _first_line(readme: Path) -> str:
    try:
        return readme.read_text(encoding="utf-8").strip().splitlines()[0]
    except (OSError, IndexError):
        return ""


def list_templates() -> list[tuple[str, str]]:
    """(name, first line of its README) for asyncmig's templates, then Alembic's."""
    import alembic

    alembic_dir = Path(alembic.__file__).parent / "templates"
    found: list[tuple[str, str]] = []
    for root in (TEMPLATES_DIR, alembic_dir):
        for path in sorted(root.iterdir()):
            if path.is_dir() and (path / "README").is_file():
                found.append((path.name, _first_line(path / "README")))
    return found


def init(
    directory: str | os.PathLike[str],
    *,
    template: str = DEFAULT_TEMPLATE,
    package: bool = False,
    config_file: str | os.PathLike[str] | tuple[str | os.PathLike[str], ...] | None = None,
    stdout: TextIO,
    quiet: bool = False,
) -> None:
    """Create a migration environment, as ``alembic init`` does, from any listed template.

    ``config_file``: where to write the ini (and the pyproject.toml, for the
    pyproject templates), as Alembic's ``-c``, once or twice.
    """
    from alembic import command

    names = config_file if isinstance(config_file, tuple) else (config_file,)
    ini = next((n for n in names if n is not None and not str(n).endswith(".toml")), None)
    toml = next((n for n in names if n is not None and str(n).endswith(".toml")), None)
    config = scaffold_config(
        stdout=stdout,
        template=template,
        quiet=quiet,
        config_file=Path(ini or "alembic.ini"),
        toml_file=Path(toml or "pyproject.toml"),
    )
    try:
        command.init(config, str(directory), template=template, package=package)
    except Exception as exc:
        raise translate(exc, command="init") from exc
