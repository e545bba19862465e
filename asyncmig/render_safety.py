"""Rendering of the safety gates: ``lint`` and ``verify`` reports, as text and GitHub
annotations. Everything goes through :class:`asyncmig.render.Printer`, whose streams mask
secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .render import Printer

if TYPE_CHECKING:
    from .safety.report import LintReport, VerifyReport


_LEVEL_STYLES = {"error": "bold red", "warning": "yellow"}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def lint(printer: Printer, report: LintReport) -> None:
    """Each finding as ``path:line: level: what [rule]`` and why; GitHub annotations; a summary."""
    for f in report.findings:
        printer.data(
            f"{f.path}:{f.line}: {f.level}: {f.message} [{f.rule}]", _LEVEL_STYLES[f.level]
        )
        if f.explanation:
            printer.data(f"    {f.explanation} ({f.docs})")
        printer.annotation(f.level, f"{f.message}. {f.explanation}".strip(), file=f.path,
                           line=f.line, title=f"asyncmig lint: {f.rule}")  # fmt: skip
    for note in report.notes:
        printer.notice(note)
    if not report.revisions:
        where = ", ".join(report.current or ()) or "base"
        what = f"at {where}" if report.start is None else f"from {report.start} to {report.target}"
        printer.line(f"Nothing to lint: no revisions to run {what}.")
        return
    tools = "asyncmig's rules" + (f" and {report.squawk}" if report.squawk else "")
    found = (f"{_count(len(report.errors), 'error')}, {_count(len(report.warnings), 'warning')}"
             if report.findings else "no findings")  # fmt: skip
    style = "bold red" if report.errors else "green" if not report.findings else "yellow"
    printer.line(
        f"Linted {_count(len(report.revisions), 'revision')} ({report.revisions[0]} … "
        f"{report.revisions[-1]}) for {report.dialect} with {tools}: {found}.",
        style=style,
    )


def verify(printer: Printer, report: VerifyReport) -> None:
    """The stairway, the model match and the heads, one line each; problems in detail."""
    problems = {problem.check: problem for problem in report.problems}
    stairway = problems.get("stairway")
    printer.line(
        f"Stairway on {report.scratch}: {len(report.passed)} of "
        f"{_count(report.total, 'revision')} upgrade, downgrade and upgrade again.",
        style="red" if stairway else "green",
    )
    for problem in report.problems:
        printer.data(f"{problem.check}: {problem.message}", "bold red")
        for detail in problem.details:
            printer.data(f"    {detail}")
        printer.annotation("error", problem.message, file=problem.path, line=problem.line,
                           title=f"asyncmig verify: {problem.check}")  # fmt: skip
    for note in report.notes:
        printer.notice(note)
    if report.model_checked and "model-match" not in problems:
        printer.line("Model match: autogenerate finds no difference.", style="green")
    if "single-head" not in problems:
        printer.line(f"Heads: {', '.join(report.heads) or 'none (empty history)'}.", style="green")
    verdict = "no problems" if report.ok else _count(len(report.problems), "problem")
    printer.line(f"Verified in {report.duration:.2f} s: {verdict}.", style="bold")
