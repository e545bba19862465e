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

    class Reaching(Options, total=False):
        """The keywords of every fleet function: which targets, how many at once, which
        shard (:class:`FleetOptions`), and the global options, as for the single commands."""

        targets: Sequence[TargetSpec] | None
        targets_file: str | os.PathLike[str] | None
        targets_sql: str | None
        jobs: int | None
        shard: tuple[int, int] | None

    class Migrating(Reaching, total=False):
        """``upgrade``/``downgrade``: also ``fail_fast`` (start no target after a failure)."""

        fail_fast: bool


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


#: The keywords of the fleet functions that are :class:`FleetOptions`; the rest are
#: the global options.
_FLEET_KEYWORDS = ("targets", "targets_file", "targets_sql", "jobs", "fail_fast", "shard")


async def _run(
    command: str, arguments: Mapping[str, Any], keywords: Mapping[str, Any]
) -> FleetResult:
    options = dict(keywords)
    fleet = FleetOptions(**{key: options.pop(key) for key in _FLEET_KEYWORDS if key in options})
    # The run blocks (it waits on worker processes, or migrates here with jobs=1): in a
    # thread, so the caller's event loop keeps going.
    return await asyncio.to_thread(run_fleet, command, arguments, fleet, options)


async def upgrade(revision: str = "head", **keywords: Unpack[Migrating]) -> FleetResult:
    """Upgrade every target to ``revision``; ``targets``: :class:`Target` objects, URLs,
    ``"schema=NAME"`` strings or ``{"url", "schema", "name"}`` mappings."""
    return await _run("upgrade", {"revision": revision}, keywords)


async def downgrade(revision: str, **keywords: Unpack[Migrating]) -> FleetResult:
    """Downgrade every target to ``revision``."""
    return await _run("downgrade", {"revision": revision}, keywords)


async def stamp(
    revision: str | Sequence[str], *, purge: bool = False, **keywords: Unpack[Reaching]
) -> FleetResult:
    """Write ``revision`` to every target's version table."""
    revisions = [revision] if isinstance(revision, str) else list(revision)
    return await _run("stamp", {"revisions": revisions, "purge": purge}, keywords)


async def current(**keywords: Unpack[Reaching]) -> FleetResult:
    """Every target's current revisions (``result.from_revisions``)."""
    return await _run("current", {}, keywords)


async def status(**keywords: Unpack[Reaching]) -> FleetResult:
    """Every target's pending revisions (``result.steps``; exit code 4 when behind)."""
    return await _run("status", {}, keywords)


async def check(**keywords: Unpack[Reaching]) -> FleetResult:
    """``alembic check`` on every target: exit code 4 on pending revisions or drift."""
    return await _run("check", {}, keywords)


async def plan(revision: str = "head", **keywords: Unpack[Reaching]) -> FleetResult:
    """The SQL an upgrade would run on every target (``result.sql``)."""
    return await _run("plan", {"revision": revision}, keywords)
