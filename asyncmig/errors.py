"""The exception hierarchy and the exit codes it maps to.

Library functions raise these; only the CLI turns them into an exit status
(see :mod:`asyncmig.cli`). Each class carries its exit code so the mapping is
defined once, here.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Exit statuses of every ``asyncmig`` command (documented in docs/exit-codes.md)."""

    OK = 0
    FAILED = 1
    USAGE = 2
    UNREACHABLE = 3
    PENDING = 4
    LOCKED = 5
    INTERRUPTED = 130
    TERMINATED = 143


class AsyncmigError(Exception):
    """Base class: a failure with a one-line, secret-free message.

    ``result`` holds what a migration command did before it failed (a
    :class:`asyncmig.results.RunResult`, read back from the database), and
    ``revision`` the revision that failed, when there is one.
    """

    exit_code: ExitCode = ExitCode.FAILED
    #: A stable name for the kind of failure (``--json``'s ``error.code``).
    code: str = "failed"
    result: Any = None
    revision: str | None = None


class MigrationError(AsyncmigError):
    """A revision raised, a SQL statement failed, or an Alembic command failed."""

    exit_code = ExitCode.FAILED
    code = "migration_failed"


class ConfigError(AsyncmigError):
    """Bad usage or configuration: flag, config file, URL, unknown revision."""

    exit_code = ExitCode.USAGE
    code = "config"


class DatabaseUnreachable(AsyncmigError):
    """Connecting failed: refused, DNS, authentication, missing database, wait timed out."""

    exit_code = ExitCode.UNREACHABLE
    code = "unreachable"


class PendingMigrations(AsyncmigError):
    """``status`` / ``check`` / ``current --check-heads`` found work to do or model drift."""

    exit_code = ExitCode.PENDING
    code = "pending"


class RolledBack(PendingMigrations):
    """Revisions ran but their transaction was rolled back (env.py's dry run, or a bug):
    the database does not hold them, so the run is not reported as applied."""

    code = "rolled_back"


class LockTimeout(AsyncmigError):
    """Another run held the migration lock for longer than ``--lock-timeout``."""

    exit_code = ExitCode.LOCKED
    code = "lock_timeout"


class Interrupted(AsyncmigError):
    """SIGINT (Ctrl-C) stopped the run; the open transaction was rolled back."""

    exit_code = ExitCode.INTERRUPTED
    code = "interrupted"


class Terminated(Interrupted):
    """SIGTERM stopped the run; the open transaction was rolled back."""

    exit_code = ExitCode.TERMINATED
    code = "terminated"


class UnsafeMigration(PendingMigrations):
    """``lint`` found an error-level finding (``upgrade --lint`` refuses to start), or
    ``verify`` found a revision that does not round-trip, model drift or several heads."""

    code = "unsafe"


class HistoryMismatch(PendingMigrations):
    """``validate`` (and ``upgrade --validate``) found an applied revision whose file
    changed, an applied revision with no file, or a history that disagrees with the
    version table."""

    code = "history_mismatch"
