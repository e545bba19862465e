"""Revision files with chosen bodies, written so the line of each statement is known."""

from __future__ import annotations

import textwrap
from pathlib import Path

HEADER = '''"""{message}

Revision ID: {rev}
"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down}
branch_labels = None
depends_on = None
'''
#: The line ``def upgrade():`` is on in every file :func:`write` makes (the body starts below).
UPGRADE_LINE = HEADER.count("\n") + 3


def write(
    versions: Path,
    rev: str,
    down: str | None,
    upgrade: str,
    downgrade: str | None = "pass",
    *,
    message: str | None = None,
    extra: str = "",
) -> Path:
    """A revision file: ``upgrade``/``downgrade`` are function bodies (dedented, one
    statement a line), so the n-th line of ``upgrade`` is line ``UPGRADE_LINE + n``.
    ``downgrade=None`` leaves the function out."""
    versions.mkdir(parents=True, exist_ok=True)
    text = HEADER.format(
        message=message or rev, rev=rev, down="None" if down is None else repr(down)
    )
    text += "\n\ndef upgrade():\n" + textwrap.indent(textwrap.dedent(upgrade).strip("\n"), "    ")
    text += "\n"
    if downgrade is not None:
        text += "\n\ndef downgrade():\n"
        text += textwrap.indent(textwrap.dedent(downgrade).strip("\n"), "    ") + "\n"
    text += extra
    path = versions / f"{rev}_{(message or rev).replace(' ', '_')}.py"
    path.write_text(text)
    return path
