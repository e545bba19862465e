"""``init`` and ``list-templates``: asyncmig's templates (package data) beside Alembic's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

from .alembic_config import TEMPLATES_DIR, build_config
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
    config_file: str | os.PathLike[str] | None = None,
    stdout: TextIO,
    quiet: bool = False,
) -> None:
    """Create a migration environment, as ``alembic init`` does, from any listed template."""
    from alembic import command

    ours = (TEMPLATES_DIR / template).is_dir()
    config = build_config(
        None,
        stdout=stdout,
        attributes={"asyncmig.template": template} if ours else None,
        quiet=quiet,
        config_file=Path(config_file or "alembic.ini"),
        toml_file=Path("pyproject.toml"),
    )
    try:
        command.init(config, str(directory), template=template, package=package)
    except Exception as exc:
        raise translate(exc, command="init") from exc
