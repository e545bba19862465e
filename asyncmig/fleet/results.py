"""What a fleet run returns: one :class:`TargetResult` per target, and their worst exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ExitCode

#: Which exit code wins when targets end differently: an interruption, then a usage
#: error, an unreachable database, a lock not acquired, a failure, then pending work.
SEVERITY = (
    ExitCode.TERMINATED,
    ExitCode.INTERRUPTED,
    ExitCode.USAGE,
    ExitCode.UNREACHABLE,
    ExitCode.LOCKED,
    ExitCode.FAILED,
    ExitCode.PENDING,
    ExitCode.OK,
)


def worst(codes: list[int]) -> int:
    """The exit code of a fleet: the most severe of its targets' (0 for none)."""
    rank = {int(code): i for i, code in enumerate(SEVERITY)}
    return min(codes, key=lambda code: rank.get(code, 0), default=0)


@dataclass(frozen=True)
class TargetResult:
    """What one command did on one target (``error`` is None when it succeeded)."""

    name: str
    command: str
    #: The target's URL (for a schema target without one, the main database's), masked.
    url: str | None = None
    schema: str | None = None
    from_revisions: tuple[str, ...] = ()
    to_revisions: tuple[str, ...] = ()
    #: Revision ids applied (upgrade), reverted (downgrade), stamped, or pending (status).
    steps: tuple[str, ...] = ()
    duration: float = 0.0
    error: str | None = None
    #: ``error.code`` of :mod:`asyncmig.errors` (``migration_failed``, ``pending``...).
    error_code: str | None = None
    revision: str | None = None
    exit_code: int = 0
    #: Not run: ``--fail-fast`` stopped the fleet first.
    skipped: bool = False
    #: ``plan``: the SQL the upgrade would run.
    sql: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def state(self) -> str:
        """One word for the summary: ok, changed, pending, failed, skipped."""
        if self.skipped:
            return "skipped"
        if self.exit_code == ExitCode.PENDING:
            return "pending"
        if self.exit_code:
            return "failed"
        return "changed" if self.steps and self.command != "status" else "ok"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "command": self.command,
            "url": self.url,
            "schema": self.schema,
            "from": list(self.from_revisions),
            "to": list(self.to_revisions),
            "steps": list(self.steps),
            "duration": round(self.duration, 6),
            "state": self.state,
            "exit_code": self.exit_code,
            "error": None,
        }
        if self.error is not None:
            data["error"] = {
                "code": self.error_code,
                "message": self.error,
                "revision": self.revision,
            }
        if self.sql is not None:
            data["sql"] = self.sql
        return data


@dataclass(frozen=True)
class FleetResult:
    """Every target's result, in the order of the targets."""

    command: str
    results: tuple[TargetResult, ...]
    duration: float
    jobs: int
    shard: tuple[int, int] | None = None
    #: The slowest target and how long it took.
    slowest: tuple[str, float] | None = field(default=None)

    @property
    def exit_code(self) -> int:
        return worst([result.exit_code for result in self.results])

    @property
    def failed(self) -> tuple[TargetResult, ...]:
        return tuple(r for r in self.results if r.exit_code and r.exit_code != ExitCode.PENDING)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.state] = counts.get(result.state, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "targets": [result.to_json() for result in self.results],
            "duration": round(self.duration, 6),
            "exit_code": self.exit_code,
        }
