"""The runs ``verify`` makes on a scratch database, each one pass of env.py.

* :func:`probe`: where env.py connects and what it finds there, changing nothing, so
  no revision runs on a database that is not the scratch one (an env.py that reads
  its URL from elsewhere);
* :func:`stairway`: every revision, base first, upgraded, downgraded and upgraded
  again, as one list of Alembic migration steps in one env.py run;
* :func:`model_diff`: autogenerate's comparison of the models with the migrated schema.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, RevisionStep
from alembic.script import Script, ScriptDirectory

from ..alembic_config import AsyncmigConfig
from ..errors import AsyncmigError, ConfigError
from ..runner import Runtime, execute
from ..urls import mask_url
from .report import Problem
from .scratch import Scratch, same_database, shown_path

#: The three steps of each revision, in order.
STEPS = (("upgrade", True), ("downgrade", False), ("upgrade again", True))


def _connected_url(context: MigrationContext) -> Any:
    connection = context.connection
    return connection.engine.url if connection is not None else None


def _check_target(context: MigrationContext, scratch: Scratch) -> None:
    found = _connected_url(context)
    if not same_database(found, scratch.url):
        where = mask_url(found) if found is not None else "no database"
        raise ConfigError(
            f"env.py connected to {where}, not the scratch database {scratch.masked}: "
            "verify runs nothing there (does env.py read its URL from somewhere else?)"
        )


def probe(rt: Runtime, scratch: Scratch) -> None:
    """Refuse a scratch database env.py does not connect to, or one that is not empty."""

    def call(config: AsyncmigConfig) -> list[tuple[str, ...]]:
        script = ScriptDirectory.from_config(config)
        found: list[tuple[str, ...]] = []

        def look(rev: Any, context: MigrationContext) -> list[Any]:
            _check_target(context, scratch)
            found.append(tuple(context.get_current_heads()))
            return []

        with EnvironmentContext(config, script, fn=look, dont_mutate=True):
            script.run_env()
        return found

    for heads in execute(rt, "verify", call, alembic="current", arguments={})[0]:
        if heads:
            raise ConfigError(
                f"the scratch database {scratch.masked} is at {', '.join(heads)}: "
                "verify needs an empty database"
            )


@dataclass
class Stairway:
    """What the stairway did: the revisions that round-tripped, or the first failure."""

    total: int = 0
    heads: tuple[str, ...] = ()
    passed: list[str] = field(default_factory=list)
    problem: Problem | None = None
    #: The revision and step running now.
    _at: tuple[Script, str] | None = None


def stairway(rt: Runtime, scratch: Scratch) -> Stairway:
    """Each revision up, down and up again; the first failure is reported, not raised."""
    result = Stairway()

    def call(config: AsyncmigConfig) -> None:
        script = ScriptDirectory.from_config(config)
        order = list(reversed(list(script.walk_revisions())))
        result.total = len(order)
        result.heads = tuple(script.get_heads())

        def steps(rev: Any, context: MigrationContext) -> list[Any]:
            _check_target(context, scratch)
            planned = []
            for revision in order:
                for name, is_upgrade in STEPS:
                    step = RevisionStep(script.revision_map, revision, is_upgrade)
                    step.migration_fn = _noting(step.migration_fn, revision, name, result)
                    planned.append(step)
            return planned

        with EnvironmentContext(config, script, fn=steps):
            script.run_env()

    try:
        execute(rt, "verify", call, alembic="upgrade", arguments={"revision": "heads"}, writes=True)
    except AsyncmigError as error:
        if result._at is None:
            raise  # not a revision's failure: the run could not start
        revision, name = result._at
        detail = str(error)
        # asyncmig's message names the revision already ("revision X (doc) failed: ...").
        prefix = f"revision {revision.revision} "
        if detail.startswith(prefix) and " failed: " in detail:
            detail = detail.split(" failed: ", 1)[1]
        result.problem = Problem(
            check="stairway",
            message=f"{name} of {revision.revision} failed: {detail}",
            revision=revision.revision,
            step=name,
            path=shown_path(revision.path),
            line=_line_in(error, revision.path),
        )
    return result


def _line_in(error: BaseException, path: str) -> int | None:
    """The last line of ``path`` in the traceback of the error (or of what caused it)."""
    target = os.path.realpath(path)
    line = None
    seen: set[int] = set()
    exc: BaseException | None = error
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            if os.path.realpath(tb.tb_frame.f_code.co_filename) == target:
                line = tb.tb_lineno
            tb = tb.tb_next
        exc = exc.__cause__ or exc.__context__
    return line


def _noting(
    fn: Callable[..., None], revision: Script, name: str, result: Stairway
) -> Callable[..., None]:
    @functools.wraps(fn)  # Alembic names the step after the function
    def step(**kw: Any) -> None:
        result._at = (revision, name)
        fn(**kw)
        if name == STEPS[-1][0]:
            result.passed.append(revision.revision)

    return step


def model_diff(rt: Runtime) -> tuple[str, ...] | None:
    """The operations autogenerate would write (empty: the models match), or None when
    env.py gives no ``target_metadata``."""

    def call(config: AsyncmigConfig) -> tuple[str, ...] | None:
        from alembic.autogenerate import produce_migrations, render_python_code

        script = ScriptDirectory.from_config(config)
        found: list[tuple[str, ...] | None] = []

        def compare(rev: Any, context: MigrationContext) -> list[Any]:
            metadata = context.opts.get("target_metadata")
            if metadata is None:
                found.append(None)
                return []
            upgrade_ops = produce_migrations(context, metadata).upgrade_ops
            if upgrade_ops is None or upgrade_ops.is_empty():
                found.append(())
                return []
            code = render_python_code(upgrade_ops)
            lines = (line.strip() for line in code.splitlines())
            found.append(tuple(line for line in lines if line and not line.startswith("#")))
            return []

        with EnvironmentContext(config, script, fn=compare, dont_mutate=True):
            script.run_env()
        if not found or all(diff is None for diff in found):
            return None
        return tuple(line for diff in found if diff for line in diff)

    return execute(rt, "verify", call, alembic="check", arguments={})[0]
