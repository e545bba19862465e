"""asyncmig: run Alembic migrations through async SQLAlchemy engines.

The async API (``await asyncmig.upgrade()``, ...) is loaded on first use, so
importing the package (and ``asyncmig --help``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "upgrade", "downgrade", "stamp", "current", "heads", "status", "plan", "check",
    "ensure_version",
}
_ERRORS = {
    "AsyncmigError", "ConfigError", "DatabaseUnreachable", "ExitCode", "Interrupted",
    "LockTimeout", "MigrationError", "PendingMigrations", "Terminated",
}
_RESULTS = {"RunResult", "Status", "Step", "Plan"}

__all__ = sorted(_API | _ERRORS | _RESULTS | {"__version__"})

if TYPE_CHECKING:
    from .api import check, current, downgrade, ensure_version, heads, plan, stamp, status, upgrade
    from .errors import (
        AsyncmigError,
        ConfigError,
        DatabaseUnreachable,
        ExitCode,
        Interrupted,
        LockTimeout,
        MigrationError,
        PendingMigrations,
        Terminated,
    )
    from .results import Plan, RunResult, Status, Step


def __getattr__(name: str) -> Any:
    import importlib

    for module, names in (("api", _API), ("errors", _ERRORS), ("results", _RESULTS)):
        if name in names:
            return getattr(importlib.import_module(f"{__name__}.{module}"), name)
    raise AttributeError(f"module 'asyncmig' has no attribute {name!r}")
