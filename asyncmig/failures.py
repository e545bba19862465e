"""Turn whatever a run raised into one exception of asyncmig's hierarchy, with one line."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .dbwait import classify, first_line
from .errors import (
    AsyncmigError,
    ConfigError,
    DatabaseUnreachable,
    Interrupted,
    MigrationError,
    PendingMigrations,
    Terminated,
)
from .settings import no_url_message
from .watchdog import DeadConnection


class TerminateSignal(KeyboardInterrupt):
    """Raised by the CLI's SIGTERM handler; unwinds like Ctrl-C so transactions roll back."""


class BrokenRevisionMap(UserWarning):
    """Alembic only warns about these; asyncmig refuses to migrate on such a graph."""


#: Alembic's warnings about a broken revision graph, and the one line asyncmig says instead.
_GRAPH_WARNINGS = (
    (
        re.compile(r"^Revision (\S+) is present more than once"),
        "duplicate revision id {0}: two files in the versions folder declare it",
    ),
    (
        re.compile(
            r"^Revision (\S+) referenced from (?:.* -> )?(\S+?)(?: \(head\))?,? .*is not present"
        ),
        "revision {1} refers to {0} (down_revision or depends_on), which does not exist",
    ),
)


@contextmanager
def revision_graph_errors() -> Iterator[None]:
    """Stop at Alembic's warnings about duplicate ids and missing down revisions.

    Alembic only warns and carries on (a duplicate id silently shadows a file);
    the warning is raised where it happens, so nothing runs on a broken graph.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "error",
            message=r"Revision \S+ (is present more than once|referenced from)",
            category=UserWarning,
        )
        try:
            yield
        except UserWarning as exc:
            text = str(exc)
            for pattern, template in _GRAPH_WARNINGS:
                match = pattern.match(text)
                if match:
                    raise BrokenRevisionMap(template.format(*match.groups())) from exc
            raise


def describe_step(step: Any) -> str:
    """``0298aa (create table t298)`` for an Alembic migration step."""
    revision = getattr(getattr(step, "revision", None), "revision", None)
    if revision is None:
        revision = ",".join(getattr(step, "to_revisions", ()) or ()) or "base"
    doc = getattr(step, "doc", None)
    return f"{revision} ({doc})" if doc else str(revision)


#: Driver modules whose absence means "install a driver", not a bug in env.py.
_DRIVER_MODULES = frozenset(
    {"asyncpg", "asyncmy", "aiomysql", "aiosqlite", "psycopg", "oracledb", "aioodbc"}
)


#: What each dialect keeps when a run stops in the middle of a revision.
_KEPT_ON_STOP = {
    "postgresql": "its transaction was rolled back",
    "sqlite": (
        "its transaction was rolled back, but SQLite keeps DDL already run outside a "
        "transaction: check the schema before running again"
    ),
    "mysql": (
        "MariaDB/MySQL commit each DDL statement at once, so what it had done so far is "
        "kept while the version table still says the revision before it: undo that "
        "by hand (or make the revision idempotent) before running again"
    ),
}


def _stopped_line(signal_name: str, where: str | None, dialect: str | None) -> str:
    if not where:
        return f"{signal_name}: stopped before any revision ran"
    kept = _KEPT_ON_STOP.get("mysql" if dialect == "mariadb" else dialect or "postgresql")
    return f"{signal_name}: stopped during {where}; {kept or _KEPT_ON_STOP['postgresql']}"


def _project_frame(exc: BaseException) -> str | None:
    """``file, line N`` of the last frame outside installed packages: the project's own
    env.py or revision file whose import failed."""
    import sysconfig

    stdlib = sysconfig.get_paths()["stdlib"]
    found = None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        installed = "site-packages" in filename or filename.startswith(stdlib)
        if not filename.startswith("<") and not installed:
            found = f"{filename}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return found


def _missing_module(exc: BaseException) -> str | None:
    name = getattr(exc, "name", None)
    if isinstance(exc, ModuleNotFoundError) and name:
        return str(name).split(".")[0]
    return None


def translate(
    exc: BaseException,
    *,
    command: str,
    failing_step: Any = None,
    dialect: str | None = None,
    missing_url: Sequence[str] = (),
) -> AsyncmigError:
    """Map ``exc`` to an :class:`AsyncmigError` whose message is one line.

    ``failing_step`` is the Alembic step that was running, ``dialect`` the backend
    of the database being migrated, ``missing_url`` the config sections whose
    ``sqlalchemy.url`` env.py asked for and did not find.
    """
    from alembic.script.revision import RevisionError
    from alembic.util import AutogenerateDiffsDetected, CommandError
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

    where = f"revision {describe_step(failing_step)}" if failing_step is not None else None
    if isinstance(exc, AsyncmigError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        cls = Terminated if isinstance(exc, TerminateSignal) else Interrupted
        return cls(_stopped_line("SIGTERM" if cls is Terminated else "SIGINT", where, dialect))
    if isinstance(exc, SystemExit):
        code = exc.code
        what = f"sys.exit({code!r})" if code is not None else "sys.exit()"
        return MigrationError(f"{where or 'env.py'} called {what}: the run did not finish")
    if missing_url and isinstance(exc, (KeyError, ArgumentError, AttributeError, TypeError)):
        # env.py asked the config for a URL, got none, and failed on it.
        return ConfigError(no_url_message(missing_url[0]))
    if isinstance(exc, AutogenerateDiffsDetected):
        return PendingMigrations(f"model drift: {first_line(exc)}")
    if isinstance(exc, CommandError):
        message = first_line(exc)
        cause = exc.__cause__
        if isinstance(cause, RevisionError) and str(cause).startswith("Multiple revisions start"):
            # Alembic replaces this precise message with "Can't locate revision ...".
            message = first_line(cause)
        not_up_to_date = "not up to date" in message or "not on all head" in message
        if not_up_to_date and command in ("check", "current"):
            return PendingMigrations(message.rstrip("."))
        if not_up_to_date:
            return MigrationError(message.rstrip("."))
        return ConfigError(message)
    if isinstance(exc, RevisionError):
        return ConfigError(first_line(exc))
    if isinstance(exc, BrokenRevisionMap):
        return ConfigError(str(exc))
    if isinstance(exc, SyntaxError) and exc.filename:
        return ConfigError(f"syntax error in {exc.filename}, line {exc.lineno}: {exc.msg}")
    if isinstance(exc, (PermissionError, IsADirectoryError)) and exc.filename:
        # An unreadable env.py or revision file: a problem of the project, not of the database.
        return ConfigError(f"cannot read {exc.filename}: {exc.strerror}")
    module = _missing_module(exc)
    if module in _DRIVER_MODULES:
        from .urls import missing_driver_hint

        return ConfigError(missing_driver_hint(module))
    if isinstance(exc, NoSuchModuleError):
        return ConfigError(first_line(exc))
    if isinstance(exc, ImportError):
        where = _project_frame(exc)
        return ConfigError(
            f"{where}: {type(exc).__name__}: {first_line(exc)}"
            if where
            else f"{type(exc).__name__}: {first_line(exc)}"
        )
    if isinstance(exc, DeadConnection):
        # The watchdog gave up on a database that stopped answering (--statement-timeout).
        lost = (
            f"lost the database connection during {where}"
            if where
            else "lost the database connection"
        )
        return DatabaseUnreachable(f"{lost}: {exc}")
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        lost = (
            f"lost the database connection during {where}"
            if where
            else "lost the database connection"
        )
        return DatabaseUnreachable(f"{lost}: {first_line(exc)}")
    if isinstance(exc, OSError) and failing_step is None and classify(exc)[0]:
        return DatabaseUnreachable(f"cannot reach the database: {first_line(exc)}")
    if isinstance(exc, RuntimeError) and "running event loop" in str(exc):
        return ConfigError(
            f"env.py needs an event loop of its own, but one is already running: {first_line(exc)}"
        )
    detail = first_line(exc)
    if not isinstance(exc, SQLAlchemyError):
        detail = f"{type(exc).__name__}: {detail}"
    if where:
        return MigrationError(f"{where} failed: {detail}")
    return MigrationError(detail)
