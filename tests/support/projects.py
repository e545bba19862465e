"""Migration projects for tests: ``asyncmig init`` output in a directory, and revision chains."""

from __future__ import annotations

import io
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def write_revisions(
    versions: Path,
    count: int,
    *,
    start: int = 0,
    fail_at: int | None = None,
    body: Callable[[int], str] | None = None,
) -> list[str]:
    """Write a linear chain of ``count`` revisions creating tables t0001...; return their ids."""
    versions.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(start + 1, start + count + 1):
        rev = f"{i:04d}aa"
        down = f"'{i - 1:04d}aa'" if i > 1 else "None"
        upgrade = (
            body(i)
            if body
            else (
                f"op.create_table('t{i:04d}', sa.Column('id', sa.Integer, primary_key=True), "
                f"sa.Column('name', sa.String(50)))"
            )
        )
        if fail_at == i:
            upgrade = "op.execute('SELECT * FROM no_such_table_anywhere')"
        (versions / f"{rev}_create_t{i:04d}.py").write_text(
            textwrap.dedent(f'''\
            """create table t{i:04d}

            Revision ID: {rev}
            """
            import sqlalchemy as sa
            from alembic import op

            revision = "{rev}"
            down_revision = {down}
            branch_labels = None
            depends_on = None


            def upgrade():
                {upgrade}


            def downgrade():
                op.drop_table('t{i:04d}')
            ''')
        )
        ids.append(rev)
    return ids


@dataclass
class Project:
    """A migration project made by ``asyncmig init`` in its own directory."""

    path: Path

    @property
    def versions(self) -> Path:
        return self.path / "migrations" / "versions"

    @property
    def ini(self) -> Path:
        return self.path / "alembic.ini"

    def revisions(self, count: int, **kwargs: object) -> list[str]:
        return write_revisions(self.versions, count, **kwargs)  # type: ignore[arg-type]


def make_project(path: Path, template: str = "asyncmig") -> Project:
    from asyncmig.scaffold import init

    path.mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    os.chdir(path)
    try:
        init("migrations", template=template, stdout=io.StringIO(), quiet=True)
    finally:
        os.chdir(cwd)
    return Project(path)
