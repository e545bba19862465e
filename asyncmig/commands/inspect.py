"""Commands that read the database: ``current``, ``status``, ``plan``, ``check``.

Each returns data (:mod:`asyncmig.results`); the CLI renders it as Alembic's text,
a table or JSON, so the three views never disagree.
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

from alembic import command
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory

from ..alembic_config import AsyncmigConfig
from ..errors import ConfigError
from ..results import Current, Plan, Reading, Status, Step
from ..runner import Runtime, execute, read_heads


def current(rt: Runtime) -> Current:
    """Where the database is: its revision(s) (per database env.py reads), and the heads."""

    def call(config: AsyncmigConfig) -> Current:
        from alembic import util

        script = ScriptDirectory.from_config(config)
        readings: list[Reading] = []

        def record(rev: Any, context: Any) -> list[Any]:
            readings.append(
                Reading(
                    current=tuple(context.get_current_heads()),
                    scripts=tuple(script.get_all_current(rev)),
                    url=str(util.obfuscate_url_pw(context.connection.engine.url)),
                )
            )
            return []

        with EnvironmentContext(config, script, fn=record, dont_mutate=True):
            script.run_env()
        return Current(heads=tuple(script.get_heads()), readings=tuple(readings))

    return execute(rt, "current", call, alembic="current", arguments={})[0]


def _pending(
    script: ScriptDirectory, current_heads: tuple[str, ...], target: str
) -> tuple[Step, ...]:
    # The same step list ``upgrade`` computes, so status and plan never disagree with it.
    steps = script._upgrade_revs(target, current_heads)  # type: ignore[arg-type]
    return tuple(
        Step(
            revision=step.revision.revision,
            from_revisions=tuple(step.from_revisions),
            to_revisions=tuple(step.to_revisions),
            message=step.doc or "",
            direction="upgrade",
        )
        for step in steps
    )


def status(rt: Runtime) -> Status:
    """Current revision(s), heads, and the revisions an ``upgrade heads`` would apply."""

    def call(config: AsyncmigConfig) -> Status:
        script = ScriptDirectory.from_config(config)
        heads = read_heads(config, script)
        return Status(
            current=heads,
            heads=tuple(script.get_heads()),
            pending=_pending(script, heads, "heads"),
        )

    return execute(rt, "status", call, alembic="current", arguments={})[0]


def plan(rt: Runtime, target: str = "head") -> Plan:
    """Read the current revision online, then render the upgrade's SQL offline."""
    current_heads = current(rt).current
    if len(current_heads) > 1:
        raise ConfigError(
            f"the database has several heads ({', '.join(current_heads)}); plan needs one: "
            "merge them or upgrade each branch"
        )
    start = current_heads[0] if current_heads else None
    buffer = io.StringIO()
    spec = f"{start}:{target}" if start else target

    def render(config: AsyncmigConfig) -> list[Step]:
        script = ScriptDirectory.from_config(config)
        pending = _pending(script, current_heads, target)
        if pending:
            command.upgrade(config, spec, sql=True)
        return list(pending)

    pending, run = execute(
        rt,
        "plan",
        render,
        alembic="upgrade",
        arguments={"revision": spec, "sql": True},
        output_buffer=buffer,
    )
    recorded = tuple(step for track in run.tracks for step in track.steps)
    steps = recorded or tuple(pending)
    return Plan(current=current_heads, target=target, steps=steps, sql=buffer.getvalue())


def check(rt: Runtime) -> None:
    """``alembic check``: raise PendingMigrations on model drift or a database behind head."""
    # Its only output is the all-clear notice, which -q hides: the exit code is the answer.
    execute(
        replace(rt, stdout=io.StringIO()) if rt.quiet else rt,
        "check",
        command.check,
        alembic="check",
        arguments={},
    )
