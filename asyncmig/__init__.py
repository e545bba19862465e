"""asyncmig: run Alembic migrations through async SQLAlchemy engines.

The async API (``await asyncmig.upgrade()``, ...) is loaded on first use, so
importing the package (and ``asyncmig --help``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AsyncmigError",
    "ConfigError",
    "DatabaseResult",
    "DatabaseUnreachable",
    "Events",
    "ExitCode",
    "HistoryMismatch",
    "Interrupted",
    "LockTimeout",
    "MigrationError",
    "PendingMigrations",
    "Plan",
    "RolledBack",
    "RunResult",
    "SilentEvents",
    "Status",
    "Step",
    "Terminated",
    "UnsafeMigration",
    "__version__",
    "check",
    "current",
    "downgrade",
    "ensure_version",
    "heads",
    "lint",
    "log",
    "plan",
    "stamp",
    "status",
    "upgrade",
    "validate",
    "verify",
]

if TYPE_CHECKING:
    from .api import (
        check,
        current,
        downgrade,
        ensure_version,
        heads,
        lint,
        log,
        plan,
        stamp,
        status,
        upgrade,
        validate,
        verify,
    )
    from .errors import (
        AsyncmigError,
        ConfigError,
        DatabaseUnreachable,
        ExitCode,
        HistoryMismatch,
        Interrupted,
        LockTimeout,
        MigrationError,
        PendingMigrations,
        RolledBack,
        Terminated,
        UnsafeMigration,
    )
    from .events import Events, SilentEvents
    from .results import DatabaseResult, Plan, RunResult, Status, Step


def __getattr__(name: str) -> Any:
    import importlib

    if name in __all__:
        # The light modules first: ``asyncmig.ExitCode`` must not import Alembic.
        for module in ("errors", "results", "events", "api"):
            found = getattr(importlib.import_module(f"{__name__}.{module}"), name, None)
            if found is not None:
                return found
    raise AttributeError(f"module 'asyncmig' has no attribute {name!r}")
