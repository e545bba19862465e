"""Commands that change the database: ``upgrade``, ``downgrade``, ``stamp``, ``ensure-version``.

Each returns what the database holds afterwards, read back from its version table
(:class:`asyncmig.results.RunResult`); the CLI and the API render or return it.
"""

from __future__ import annotations

from alembic import command

from ..results import RunResult
from ..runner import Runtime, execute, migrate


def upgrade(
    rt: Runtime, revision: str = "head", *, sql: bool = False, tag: str | None = None
) -> RunResult:
    """``alembic upgrade``: apply revisions up to ``revision``."""
    return migrate(
        rt,
        "upgrade",
        revision,
        sql,
        lambda c: command.upgrade(c, revision, sql=sql, tag=tag),
        {"revision": revision, "tag": tag},
    )


def downgrade(
    rt: Runtime, revision: str, *, sql: bool = False, tag: str | None = None
) -> RunResult:
    """``alembic downgrade``: revert revisions down to ``revision``."""
    return migrate(
        rt,
        "downgrade",
        revision,
        sql,
        lambda c: command.downgrade(c, revision, sql=sql, tag=tag),
        {"revision": revision, "tag": tag},
    )


def stamp(
    rt: Runtime,
    revisions: list[str],
    *,
    sql: bool = False,
    tag: str | None = None,
    purge: bool = False,
) -> RunResult:
    """``alembic stamp``: write ``revisions`` to the version table without running them."""
    target = ",".join(revisions)
    return migrate(
        rt,
        "stamp",
        target,
        sql,
        lambda c: command.stamp(
            c, revisions if len(revisions) > 1 else revisions[0], sql=sql, tag=tag, purge=purge
        ),
        {"revisions": list(revisions), "tag": tag, "purge": purge},
    )


def ensure_version(rt: Runtime, *, sql: bool = False) -> None:
    """``alembic ensure_version``: create the version table if it is missing."""
    execute(
        rt,
        "ensure-version",
        lambda c: command.ensure_version(c, sql=sql),
        alembic="ensure_version",
        arguments={"sql": sql},
        writes=not sql,
    )
