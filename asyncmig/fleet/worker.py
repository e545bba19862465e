"""One fleet target's run: the settings of the target, the command, a :class:`TargetResult`.

:func:`run_target` runs in the calling process (``jobs=1``) or in a worker process of
the pool (:mod:`asyncmig.fleet.pool`). A worker is long-lived: it runs many targets one
after another, so Alembic, SQLAlchemy and the drivers are imported once per worker,
not once per target. Every failure of a target becomes its result (never an exception),
so one failing tenant cannot stop the others.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import AsyncmigError, ExitCode, PendingMigrations
from ..events import Events, SilentEvents
from ..masking import mask_text
from ..results import Step
from .results import TargetResult
from .targets import Target, reset_current, set_current

#: Sends (kind, target name, payload) to the parent; set in each worker process.
_report: Callable[[tuple[str, str, Any]], None] | None = None


@dataclass(frozen=True)
class Job:
    """One target's command, as sent to a worker (everything in it pickles)."""

    command: str
    arguments: Mapping[str, Any]
    #: The global options (:class:`asyncmig.options.Options`) the fleet was given.
    options: Mapping[str, Any]
    target: Target
    #: Where and with what variables the fleet was started (a worker syncs to them).
    cwd: str = field(default_factory=os.getcwd)
    environ: Mapping[str, str] | None = None


class _ForwardedEvents:
    """A worker's events: notices (waits, lock holders) go to the parent's output."""

    def __init__(self, name: str) -> None:
        self.name = name

    def notice(self, message: str) -> None:
        if _report is not None:
            _report(("notice", self.name, message))

    def step(self, step: Step, index: int, total: int | None) -> None:
        """Nothing: the fleet's view shows targets, not steps (as for in-process targets);
        each step is in the target's result."""


def init_worker(queue: Any) -> None:
    """The pool's initializer: the queue a worker reports to (``None``: nowhere).

    SIGINT is how the fleet stops its workers (:func:`asyncmig.fleet.pool._interrupt`), so a
    worker always turns it into ``KeyboardInterrupt``, even when asyncmig itself was started
    with SIGINT ignored (a background job of a script, ``nohup``) and the worker inherited
    that: it would otherwise migrate on after a SIGTERM, until ``docker stop`` kills it."""
    import signal

    global _report
    _report = queue.put if queue is not None else None
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run_in_worker(job: Job) -> TargetResult:
    """:func:`run_target` in a worker process: first take the fleet's directory and
    variables (a worker outlives the directory it was started in)."""
    if os.getcwd() != job.cwd:
        os.chdir(job.cwd)
    if job.environ is not None and dict(os.environ) != dict(job.environ):
        os.environ.clear()
        os.environ.update(job.environ)
    if _report is not None:
        _report(("start", job.target.name, None))
    return run_target(job, _ForwardedEvents(job.target.name))


def run_target(job: Job, events: Events | None = None) -> TargetResult:
    """Run ``job`` and describe the outcome; a failure is a result with an ``error``."""
    from ..runner import Runtime
    from ..settings import resolve

    target = job.target
    started = time.perf_counter()
    base = TargetResult(
        name=target.name, command=job.command, url=target.masked_url, schema=target.schema
    )
    secrets: set[str] = set(target.secrets)
    token = set_current(target)
    try:
        options: dict[str, Any] = dict(job.options)
        if target.url is not None:
            options["url"] = target.url
        if target.schema is not None:
            # env.py files written for Alembic's cookbook recipe read the tenant from -x.
            options["x"] = (*tuple(options.get("x") or ()), f"tenant={target.schema}")
        settings = resolve(options)  # type: ignore[arg-type]
        secrets.update(settings.secrets)
        if target.url is None and settings.database_url is not None:
            base = replace(base, url=settings.database_url.masked)  # the main database
        rt = Runtime(settings, events=events or SilentEvents(), quiet=True, schema=target.schema)
        fields = _COMMANDS[job.command](rt, job.arguments)
        return replace(base, duration=time.perf_counter() - started, **fields)
    except AsyncmigError as error:
        return _failed(base, error, time.perf_counter() - started, secrets)
    except Exception as exc:  # an env.py bug outside Alembic: still this target's failure
        from ..failures import translate

        translated = translate(exc, command=job.command)
        return _failed(base, translated, time.perf_counter() - started, secrets)
    finally:
        reset_current(token)


def _failed(
    base: TargetResult, error: AsyncmigError, duration: float, secrets: set[str]
) -> TargetResult:
    fields: dict[str, Any] = {}
    run = error.result
    if run is not None and hasattr(run, "to_revisions"):
        fields = {
            "from_revisions": tuple(run.from_revisions),
            "to_revisions": tuple(run.to_revisions),
            "steps": tuple(step.revision for step in run.steps),
        }
    return replace(
        base,
        duration=duration,
        error=mask_text(str(error), secrets),
        error_code=error.code,
        revision=error.revision,
        exit_code=int(error.exit_code),
        **fields,
    )


# -- the commands ----------------------------------------------------------------------------
def _migrated(result: Any) -> dict[str, Any]:
    return {
        "from_revisions": tuple(result.from_revisions),
        "to_revisions": tuple(result.to_revisions),
        "steps": tuple(step.revision for step in result.steps),
    }


def _upgrade(rt: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    from .. import commands

    return _migrated(commands.upgrade(rt, args["revision"], tag=args.get("tag")))


def _downgrade(rt: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    from .. import commands

    return _migrated(commands.downgrade(rt, args["revision"], tag=args.get("tag")))


def _stamp(rt: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    from .. import commands

    result = commands.stamp(
        rt, list(args["revisions"]), tag=args.get("tag"), purge=bool(args.get("purge"))
    )
    return _migrated(result)


def _current(rt: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    from .. import commands

    result = commands.current(rt)
    fields: dict[str, Any] = {"from_revisions": result.current, "to_revisions": result.current}
    if args.get("check_heads") and not result.at_heads:
        raise PendingMigrations("the database is not on all head revisions")
    return fields


def _status(rt: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    from .. import commands

    status = commands.status(rt)
    return {
        "from_revisions": status.current,
        "to_revisions": status.heads,
        "steps": tuple(step.revision for step in status.pending),
        "exit_code": 0 if status.up_to_date else int(ExitCode.PENDING),
    }


def _check(rt: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    from .. import commands

    commands.check(rt)
    return {}


def _plan(rt: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    from .. import commands

    plan = commands.plan(rt, args.get("revision") or "head")
    sql = plan.sql
    if sql and rt.schema is not None:
        # The revisions name the tenant's tables unqualified, as the migration ran them on
        # the schema's search_path: the script sets it, so that psql -f runs it as planned.
        from ..identifiers import quote_ident

        sql = f"SET search_path TO {quote_ident(rt.schema)};\n\n{sql}"
    return {
        "from_revisions": plan.current,
        "to_revisions": plan.steps[-1].to_revisions if plan.steps else plan.current,
        "steps": tuple(step.revision for step in plan.steps),
        "sql": sql,
    }


_COMMANDS: dict[str, Callable[[Any, Mapping[str, Any]], dict[str, Any]]] = {
    "upgrade": _upgrade,
    "downgrade": _downgrade,
    "stamp": _stamp,
    "current": _current,
    "status": _status,
    "check": _check,
    "plan": _plan,
}

COMMANDS = tuple(_COMMANDS)
