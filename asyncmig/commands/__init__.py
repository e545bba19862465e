"""Every command as a named function taking a :class:`asyncmig.runner.Runtime` and
returning data; the CLI (:mod:`asyncmig.cli`) renders it, the API returns it."""

from .history import log, status_all, validate
from .inspect import check, current, plan, status
from .migrate import downgrade, ensure_version, stamp, upgrade
from .safety import lint, verify
from .scripts import branches, edit, heads, history, merge, revision, show

__all__ = [
    "branches",
    "check",
    "current",
    "downgrade",
    "edit",
    "ensure_version",
    "heads",
    "history",
    "lint",
    "log",
    "merge",
    "plan",
    "revision",
    "show",
    "stamp",
    "status",
    "status_all",
    "upgrade",
    "validate",
    "verify",
]
