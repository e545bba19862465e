"""Fleet migrations: one command over many databases or PostgreSQL schemas.

``await asyncmig.fleet.upgrade("head", targets=[...], jobs=8)`` runs the upgrade on
every target, ``jobs`` at a time (in worker processes: :mod:`asyncmig.fleet.pool`),
and returns a :class:`FleetResult` with one :class:`TargetResult` per target. A
failing target does not stop the others (unless ``fail_fast``); the CLI's
``asyncmig fleet ...`` commands print the same results. ``options`` are the global
options (:class:`asyncmig.options.Options`), as for :func:`asyncmig.upgrade`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .results import FleetResult, TargetResult
from .run import DEFAULT_JOBS, FleetOptions, TargetSpec
from .run import run as run_fleet
from .targets import Target, current_target, make_target, read_targets_file, shard_of

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..options import Options

__all__ = [
    "DEFAULT_JOBS",
    "FleetOptions",
    "FleetResult",
    "Target",
    "TargetResult",
    "check",
    "current",
    "current_target",
    "downgrade",
    "make_target",
    "plan",
    "read_targets_file",
    "run_fleet",
    "shard_of",
    "stamp",
    "status",
    "upgrade",
]


async def _run(
    command: str,
    arguments: Mapping[str, Any],
    targets: Sequence[TargetSpec] | None,
    targets_file: str | os.PathLike[str] | None,
    targets_sql: str | None,
    jobs: int | None,
    fail_fast: bool,
    shard: tuple[int, int] | None,
    options: Mapping[str, Any],
) -> FleetResult:
    fleet = FleetOptions(
        targets=targets,
        targets_file=targets_file,
        targets_sql=targets_sql,
        jobs=jobs,
        fail_fast=fail_fast,
        shard=shard,
    )
    # The run blocks (it waits on worker processes, or migrates here with jobs=1): in a
    # thread, so the caller's event loop keeps going.
    return await asyncio.to_thread(run_fleet, command, arguments, fleet, options)


async def upgrade(
    revision: str = "head",
    *,
    targets: Sequence[TargetSpec] | None = None,
    targets_file: str | os.PathLike[str] | None = None,
    targets_sql: str | None = None,
    jobs: int | None = None,
    fail_fast: bool = False,
    shard: tuple[int, int] | None = None,
    **options: Unpack[Options],
) -> FleetResult:
    """Upgrade every target to ``revision``; ``targets``: :class:`Target` objects, URLs,
    ``"schema=NAME"`` strings or ``{"url", "schema", "name"}`` mappings."""
    return await _run(
        "upgrade", {"revision": revision}, targets, targets_file, targets_sql, jobs,
        fail_fast, shard, options,
    )  # fmt: skip


async def downgrade(
    revision: str,
    *,
    targets: Sequence[TargetSpec] | None = None,
    targets_file: str | os.PathLike[str] | None = None,
    targets_sql: str | None = None,
    jobs: int | None = None,
    fail_fast: bool = False,
    shard: tuple[int, int] | None = None,
    **options: Unpack[Options],
) -> FleetResult:
    """Downgrade every target to ``revision``."""
    return await _run(
        "downgrade", {"revision": revision}, targets, targets_file, targets_sql, jobs,
        fail_fast, shard, options,
    )  # fmt: skip


async def stamp(
    revision: str | Sequence[str],
    *,
    targets: Sequence[TargetSpec] | None = None,
    targets_file: str | os.PathLike[str] | None = None,
    targets_sql: str | None = None,
    jobs: int | None = None,
    purge: bool = False,
    shard: tuple[int, int] | None = None,
    **options: Unpack[Options],
) -> FleetResult:
    """Write ``revision`` to every target's version table."""
    revisions = [revision] if isinstance(revision, str) else list(revision)
    return await _run(
        "stamp", {"revisions": revisions, "purge": purge}, targets, targets_file,
        targets_sql, jobs, False, shard, options,
    )  # fmt: skip


async def current(
    *,
    targets: Sequence[TargetSpec] | None = None,
    targets_file: str | os.PathLike[str] | None = None,
    targets_sql: str | None = None,
    jobs: int | None = None,
    shard: tuple[int, int] | None = None,
    **options: Unpack[Options],
) -> FleetResult:
    """Every target's current revisions (``result.from_revisions``)."""
    return await _run(
        "current", {}, targets, targets_file, targets_sql, jobs, False, shard, options
    )


async def status(
    *,
    targets: Sequence[TargetSpec] | None = None,
    targets_file: str | os.PathLike[str] | None = None,
    targets_sql: str | None = None,
    jobs: int | None = None,
    shard: tuple[int, int] | None = None,
    **options: Unpack[Options],
) -> FleetResult:
    """Every target's pending revisions (``result.steps``; exit code 4 when behind)."""
    return await _run("status", {}, targets, targets_file, targets_sql, jobs, False, shard, options)


async def check(
    *,
    targets: Sequence[TargetSpec] | None = None,
    targets_file: str | os.PathLike[str] | None = None,
    targets_sql: str | None = None,
    jobs: int | None = None,
    shard: tuple[int, int] | None = None,
    **options: Unpack[Options],
) -> FleetResult:
    """``alembic check`` on every target: exit code 4 on pending revisions or drift."""
    return await _run("check", {}, targets, targets_file, targets_sql, jobs, False, shard, options)


async def plan(
    revision: str = "head",
    *,
    targets: Sequence[TargetSpec] | None = None,
    targets_file: str | os.PathLike[str] | None = None,
    targets_sql: str | None = None,
    jobs: int | None = None,
    shard: tuple[int, int] | None = None,
    **options: Unpack[Options],
) -> FleetResult:
    """The SQL an upgrade would run on every target (``result.sql``)."""
    return await _run(
        "plan", {"revision": revision}, targets, targets_file, targets_sql, jobs, False,
        shard, options,
    )  # fmt: skip
