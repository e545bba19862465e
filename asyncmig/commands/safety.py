"""Safety gates: ``lint`` (what the pending revisions would do) and ``verify`` (does every
revision round-trip on a throwaway database, do the models match, is there one head).

Both return data (:mod:`asyncmig.safety.report`); the CLI renders it and exits 4 on
an error-level finding (lint) or any problem (verify).
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import replace
from typing import Any

from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory

from ..alembic_config import AsyncmigConfig
from ..errors import ConfigError
from ..results import Plan, Step
from ..runner import Runtime, execute
from ..safety import lintconfig, rules, squawk, stairway
from ..safety.record import Recorder
from ..safety.report import Finding, LintReport, Problem, VerifyReport
from ..safety.scratch import Scratch, make, runtime_on, shown_path
from .inspect import current

#: squawk rules for what asyncmig sets on the migration's connection: option -> rule.
GUARANTEED = {"statement_timeout": "require-statement-timeout",
              "pg_lock_timeout": "require-lock-timeout"}  # fmt: skip


def split_range(target: str) -> tuple[str | None, str, bool]:
    """``A:B`` -> (A, B, offline); ``B`` -> (None, B, online)."""
    if ":" not in target:
        return None, target, False
    start, end = target.split(":", 1)
    return start.strip() or "base", end.strip() or "heads", True


def lint(rt: Runtime, target: str = "head") -> LintReport:
    """Lint the revisions an upgrade to ``target`` would run from the database's current
    revision, or those of a range ``A:B`` without a database."""
    start, end, offline = split_range(target)
    heads: tuple[str, ...] | None = None
    if not offline:
        heads = current(rt).current
        if len(heads) > 1:
            raise ConfigError(
                f"the database has several heads ({', '.join(heads)}); lint needs one: "
                "merge them, or lint a range A:B"
            )
        start = heads[0] if heads else None
    config = lintconfig.load(
        lintconfig.pyproject_for(rt.settings.toml_file, rt.settings.config_file)
    )
    recorder, plan = _record(rt, start, end, heads or ())
    findings, notes, tool = _findings(rt, recorder, config)
    return LintReport(
        target=end,
        start=start if offline else None,
        current=heads,
        revisions=tuple(record.revision for record in recorder.revisions),
        findings=tuple(findings),
        dialect=recorder.dialect,
        squawk=tool,
        notes=tuple(notes),
        plan=plan,
    )


def _record(
    rt: Runtime, start: str | None, end: str, heads: tuple[str, ...]
) -> tuple[Recorder, Plan]:
    """One offline run through env.py recording each revision (``upgrade start:end --sql``)."""
    recorder = Recorder()
    buffer = io.StringIO()

    def call(config: AsyncmigConfig) -> None:
        script = ScriptDirectory.from_config(config)

        def upgrade(rev: Any, context: Any) -> list[Any]:
            return recorder.wrap(script._upgrade_revs(end, rev), context)

        with EnvironmentContext(
            config, script, fn=upgrade, as_sql=True, starting_rev=start, destination_rev=end
        ):
            script.run_env()

    spec = f"{start}:{end}" if start else end
    _, run = execute(
        rt,
        "lint",
        call,
        alembic="upgrade",
        arguments={"revision": spec, "sql": True},
        output_buffer=buffer,
    )
    steps: tuple[Step, ...] = tuple(step for track in run.tracks for step in track.steps)
    return recorder, Plan(current=heads, target=end, steps=steps, sql=buffer.getvalue())


def _findings(
    rt: Runtime, recorder: Recorder, config: lintconfig.LintConfig
) -> tuple[list[Finding], list[str], str | None]:
    """asyncmig's findings, then squawk's, less what the project and revisions silence;
    notes on what was not checked; squawk's version when it ran."""
    by_revision: dict[str, list[Finding]] = {r.revision: [] for r in recorder.revisions}
    notes: list[str] = []
    for record in recorder.revisions:
        for hit in rules.check(record):
            rule = rules.RULES[hit.rule]
            by_revision[record.revision].append(
                Finding(hit.rule, config.levels.get(hit.rule, rule.level), record.revision,
                        shown_path(record.path), hit.line, hit.message, rule.explanation, rule.docs)
            )  # fmt: skip
        if record.downgrade_problem and record.downgrade_problem[0] == "unreadable":
            notes.append(f"{record.revision}: {record.downgrade_problem[1]}: not checked")
        for table in record.unrendered:
            notes.append(
                f"{record.revision}: batch_alter_table({table!r}) needs a live database to "
                f"render its SQL on {recorder.dialect} (or copy_from=): its operations were "
                "checked, its SQL is not in the plan"
            )
    tool = None
    if recorder.dialect == "postgresql" and config.squawk:
        tool = _squawk(rt, recorder, config, by_revision)
        if tool is None:
            notes.insert(0, "squawk is not installed (pip install 'asyncmig[lint]'): "
                         "only asyncmig's rules ran")  # fmt: skip
    findings: list[Finding] = []
    for record in recorder.revisions:
        found = [f for f in by_revision[record.revision] if f.rule not in config.disable]
        if found:
            allowed = lintconfig.allowed(_source(record.path))
            found = [f for f in found if f.rule not in allowed]
        findings += sorted(found, key=lambda f: f.line)
    return findings, notes, tool


def _squawk(
    rt: Runtime,
    recorder: Recorder,
    config: lintconfig.LintConfig,
    by_revision: dict[str, list[Finding]],
) -> str | None:
    """Add squawk's findings; its version, or None when it is not installed."""
    exe = squawk.find()
    if exe is None:
        return None
    exclude = [rule for option, rule in GUARANTEED.items() if rt.settings.option(option)]
    exclude += [theirs for theirs, ours in squawk.DUPLICATES.items() if ours not in config.disable]
    records = recorder.revisions
    hits = squawk.run(
        exe,
        records,
        exclude=exclude,
        in_transaction=recorder.transactional,
        pg_version=config.pg_version,
    )
    paths = {record.revision: record.path for record in records}
    for hit in hits:
        by_revision[hit.revision].append(
            Finding(hit.rule, config.levels.get(hit.rule, hit.level), hit.revision,
                    shown_path(paths[hit.revision]), hit.line, hit.message, hit.help or "",
                    f"https://squawkhq.com/docs/{hit.rule}", "squawk")
        )  # fmt: skip
    return squawk.version(exe)


def _source(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError:
        return ""


# -- verify ----------------------------------------------------------------------------------
class _NoticesOnly:
    """The caller's notices; the stairway's hundreds of steps are reported as one result."""

    def __init__(self, events: Any) -> None:
        self._events = events

    def notice(self, message: str) -> None:
        self._events.notice(message)

    def step(self, step: Step, index: int, total: int | None) -> None:
        pass


def verify(rt: Runtime, scratch_url: str | None = None) -> VerifyReport:
    """The stairway, the model match and the single head, on a scratch database."""
    started = time.perf_counter()
    scratch = make(rt, scratch_url)
    try:
        report = _verify(rt, scratch, started)
    except BaseException:
        with contextlib.suppress(Exception):  # the failure is the one to report
            scratch.remove()
        raise
    scratch.remove()
    return report


def _verify(rt: Runtime, scratch: Scratch, started: float) -> VerifyReport:
    srt = replace(runtime_on(rt, scratch), events=_NoticesOnly(rt.events))
    stairway.probe(srt, scratch)
    steps = stairway.stairway(srt, scratch)
    problems: list[Problem] = [steps.problem] if steps.problem is not None else []
    notes: list[str] = []
    checked = False
    if steps.problem is None:
        diff = stairway.model_diff(srt)
        if diff is None:
            notes.append("model match not checked: env.py gives no target_metadata")
        else:
            checked = True
            if diff:
                count = len(diff)
                problems.append(
                    Problem(
                        "model-match",
                        f"the models differ from the migrated schema: autogenerate would write "
                        f"{count} operation{'s' if count != 1 else ''}",
                        details=diff,
                    )
                )
        if not scratch.created and not problems:
            from .migrate import downgrade

            downgrade(srt, "base")  # leave the caller's database empty, as it was given
    if len(steps.heads) > 1:
        problems.append(
            Problem("single-head", f"the history has {len(steps.heads)} heads "
                    f"({', '.join(steps.heads)}): merge them (asyncmig merge heads)")
        )  # fmt: skip
    return VerifyReport(
        scratch=scratch.masked,
        passed=tuple(steps.passed),
        total=steps.total,
        heads=steps.heads,
        problems=tuple(problems),
        model_checked=checked,
        duration=time.perf_counter() - started,
        notes=tuple(notes),
    )
