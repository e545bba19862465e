"""What ``lint`` and ``verify`` found: typed results, what the API returns and ``--json`` prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..results import Plan


@dataclass(frozen=True)
class Finding:
    """A rule a pending revision breaks, at a line of its file."""

    rule: str
    level: str
    revision: str
    path: str
    line: int
    #: What this revision does (``drops column users.email``).
    message: str
    #: Why the rule exists, in one line.
    explanation: str
    #: Where the rule is documented (an anchor of docs/safety.md, or squawk's page).
    docs: str
    #: ``asyncmig`` (its rules on Alembic's operations) or ``squawk``.
    source: str = "asyncmig"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LintReport:
    """The findings on the revisions an upgrade to ``target`` would run."""

    target: str
    #: The revision the range starts from (``A`` of ``A:B``), None when read from the database.
    start: str | None
    #: The database's revision(s), when lint read them (not for an offline range).
    current: tuple[str, ...] | None
    #: The revisions linted, in the order they would run.
    revisions: tuple[str, ...]
    findings: tuple[Finding, ...]
    dialect: str | None
    #: ``squawk 2.70.0`` when squawk ran, else None.
    squawk: str | None
    #: What was not checked and why (squawk missing, a downgrade() unreadable offline).
    notes: tuple[str, ...]
    #: The SQL the upgrade would run (what ``plan`` prints).
    plan: Plan

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level != "error")

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "start": self.start,
            "current": None if self.current is None else list(self.current),
            "revisions": list(self.revisions),
            "dialect": self.dialect,
            "squawk": self.squawk,
            "findings": [finding.to_json() for finding in self.findings],
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Problem:
    """One thing ``verify`` found wrong."""

    #: ``stairway``, ``model-match`` or ``single-head``.
    check: str
    message: str
    revision: str | None = None
    #: For the stairway: the step that failed (``upgrade``, ``downgrade``, ``upgrade again``).
    step: str | None = None
    path: str | None = None
    #: The revision file's line that raised, when the traceback reaches it.
    line: int | None = None
    #: The model differences, one operation per line (``model-match``).
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["details"] = list(self.details)
        return data


@dataclass(frozen=True)
class VerifyReport:
    """The stairway (each revision up, down, up), the model match and the heads."""

    #: Where it ran: the scratch database, password masked.
    scratch: str
    #: The revisions that round-tripped, base first.
    passed: tuple[str, ...]
    #: Every revision of the history.
    total: int
    heads: tuple[str, ...]
    problems: tuple[Problem, ...] = ()
    #: False when env.py gives no target_metadata (nothing to compare) or the stairway failed.
    model_checked: bool = False
    duration: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "scratch": self.scratch,
            "revisions": self.total,
            "passed": list(self.passed),
            "heads": list(self.heads),
            "model_checked": self.model_checked,
            "problems": [problem.to_json() for problem in self.problems],
            "notes": list(self.notes),
            "duration": round(self.duration, 6),
        }
