"""Benchmark asyncmig against plain Alembic (``alembic init -t async``) on the same revisions.

Plain Python: ``subprocess`` runs the installed ``asyncmig`` and ``alembic`` scripts next to
this interpreter, ``time.perf_counter`` times each run, ``os.wait4`` gives each child's own
peak RSS. For each backend and history size N it builds two projects with identical
revision files (tables, foreign keys, indexes), then runs every command for both tools in
alternating order (who goes first flips each repeat) and reports medians.

    python bench/bench.py                       # N=10,300,1000, SQLite and PostgreSQL
    python bench/bench.py --n 10,300 --repeat 3 --backend sqlite
    python bench/bench.py --no-write            # print only, leave docs/performance.md alone
    python bench/bench.py --only path           # only the in-process migration path, N=300
    python bench/bench.py --only lint           # lint base:head against upgrade base:head --sql
    python bench/bench.py --only fleet          # 200 schemas × 20 revisions: fleet vs a loop
    python bench/bench.py --only history        # fresh upgrade: history table vs --no-history

A second part (``--only path``) times the migration call alone, inside one process after all
imports: ``alembic.command.upgrade`` (asyncmig's hooks inactive) against
``asyncmig.commands.upgrade`` (lock, timeouts, progress lines, connect-retry listener active) on
the same asyncmig-template project, each run in a fresh child (bench/_path_child.py).

A third part (``--only lint``) checks that ``asyncmig lint base:head`` (asyncmig's rules on
every revision's operations, and squawk on PostgreSQL) costs under 2x ``asyncmig upgrade
base:head --sql`` over the same history: both are offline, so no database is created.

A fourth part (``--only fleet``, bench/_fleet.py) times ``asyncmig fleet upgrade`` over 200
tenant schemas × 20 revisions with ``--jobs 1,4,8`` against a serial loop of plain ``alembic
-x tenant=NAME upgrade head`` processes (Alembic's cookbook env.py); it runs only when asked.

A fifth part (``--only history``) checks that recording each step in ``asyncmig_history``
costs nothing measurable: the fresh ``asyncmig upgrade head`` against ``asyncmig --no-history
upgrade head`` on the same project, within 1.03x.

Results go to docs/performance.md between the ``bench:start`` / ``bench:end`` markers, the
path part between ``bench:path:start`` / ``bench:path:end``, the lint part between
``bench:lint:start`` / ``bench:lint:end``, the fleet part between ``bench:fleet:start`` /
``bench:fleet:end``, and the history part between ``bench:history:start`` /
``bench:history:end``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
ASYNCMIG = str(BIN / "asyncmig")
ALEMBIC = str(BIN / "alembic")
ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
PATH_START, PATH_END = "<!-- bench:path:start -->", "<!-- bench:path:end -->"
LINT_START, LINT_END = "<!-- bench:lint:start -->", "<!-- bench:lint:end -->"
HISTORY_START, HISTORY_END = "<!-- bench:history:start -->", "<!-- bench:history:end -->"
#: The history issue's no-measurable-cost check: with history / --no-history, fresh upgrade.
HISTORY_LIMIT = 1.03
#: The safety issue's hidden-cost check: lint / upgrade --sql over the same range.
LINT_LIMIT = 2.0
CHILD = Path(__file__).resolve().parent / "_path_child.py"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432"

#: Targets from the performance issue: (backend or None for any, N or None, op, max ratio, kind).
TARGETS = (
    (None, None, "--help", 0.30, "time"),
    ("postgresql", 300, "upgrade head (no-op)", 0.70, "time"),
    ("postgresql", 300, "current", 0.70, "time"),
    ("postgresql", 300, "status", 0.70, "time"),
    ("postgresql", 300, "upgrade head (fresh)", 1.00, "time"),
    ("postgresql", 300, "history (terminal)", 1.00, "time"),
    ("postgresql", 300, "upgrade head (fresh)", 1.00, "rss"),
    ("postgresql", 300, "history (terminal)", 1.00, "rss"),
)

#: Where both tools' bytecode is cached, as it is for installed wheels: this machine sets
#: PYTHONDONTWRITEBYTECODE, which would make an editable asyncmig recompile on every run
#: while Alembic's wheel comes with its .pyc files.
PYCACHE = Path(tempfile.gettempdir()) / "asyncmig-bench-pycache"


# -- projects ---------------------------------------------------------------------------
def revision_source(i: int) -> str:
    """Revision i: a table with a foreign key to the previous one, an index, a column added."""
    rev, down = f"{i:04d}bb", (f"'{i - 1:04d}bb'" if i > 1 else "None")
    fk = f", sa.Column('parent_id', sa.Integer, sa.ForeignKey('t{i - 1:04d}.id'))" if i > 1 else ""
    return textwrap.dedent(f'''\
        """create table t{i:04d}

        Revision ID: {rev}
        Revises: {down.strip("'")}
        """
        import sqlalchemy as sa
        from alembic import op

        revision = "{rev}"
        down_revision = {down}
        branch_labels = None
        depends_on = None


        def upgrade():
            op.create_table(
                't{i:04d}',
                sa.Column('id', sa.Integer, primary_key=True),
                sa.Column('name', sa.String(50), nullable=False){fk},
            )
            op.create_index('ix_t{i:04d}_name', 't{i:04d}', ['name'])
            op.add_column('t{i:04d}', sa.Column('note', sa.Text))


        def downgrade():
            op.drop_index('ix_t{i:04d}_name', table_name='t{i:04d}')
            op.drop_table('t{i:04d}')
        ''')


def make_project(path: Path, tool: str, n: int, url: str) -> None:
    """``asyncmig init`` or ``alembic init -t async``, the URL in alembic.ini, N revisions."""
    path.mkdir(parents=True)
    if tool == "asyncmig":
        cmd = [ASYNCMIG, "init", "migrations"]
    else:
        cmd = [ALEMBIC, "init", "-t", "async", "migrations"]
    subprocess.run(cmd, cwd=path, env=clean_env(), check=True, capture_output=True)
    ini = path / "alembic.ini"
    text = re.sub(
        r"(?m)^sqlalchemy\.url\s*=.*$", lambda _: f"sqlalchemy.url = {url}", ini.read_text()
    )
    ini.write_text(text)
    versions = path / "migrations" / "versions"
    versions.mkdir(exist_ok=True)
    for i in range(1, n + 1):
        (versions / f"{i:04d}bb_create_t{i:04d}.py").write_text(revision_source(i))


def clean_env() -> dict[str, str]:
    """No ASYNCMIG_*/DATABASE_URL from the caller: the URL comes from alembic.ini for both.

    Bytecode is written to and read from one cache for both tools (see :data:`PYCACHE`).
    """
    prefixes = ("ASYNCMIG_", "DATABASE_URL", "ALEMBIC_CONFIG", "GITHUB_ACTIONS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


# -- databases --------------------------------------------------------------------------
def pg_admin(base: str, sql: str) -> None:
    import asyncio

    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(f"{base}/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


def pg_server_version(base: str) -> str:
    import asyncio

    import asyncpg

    async def go() -> str:
        conn = await asyncpg.connect(f"{base}/postgres")
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    return asyncio.run(go()).split()[0]


@dataclass
class Backend:
    name: str
    pg_base: str = PG_DEFAULT
    dbs: list[str] = field(default_factory=list)

    def url(self, project: Path, tool: str, n: int) -> str:
        if self.name == "sqlite":
            return f"sqlite+aiosqlite:///{project / 'bench.db'}"
        db = f"asyncmig_bench_{tool}_{n}_{os.getpid()}"
        self.dbs.append(db)
        return f"{self.pg_base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{db}"

    def reset(self, project: Path, url: str) -> None:
        """An empty database before each fresh upgrade (untimed)."""
        if self.name == "sqlite":
            for leftover in project.glob("bench.db*"):
                leftover.unlink()
            return
        db = url.rsplit("/", 1)[1]
        pg_admin(self.pg_base, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        pg_admin(self.pg_base, f'CREATE DATABASE "{db}"')
        # Dirty pages of the previous run flushed now, not by a checkpoint in the middle
        # of the next timed one (whichever tool's it happens to be).
        pg_admin(self.pg_base, "CHECKPOINT")

    def cleanup(self) -> None:
        for db in self.dbs:
            pg_admin(self.pg_base, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


# -- timing -----------------------------------------------------------------------------
@dataclass
class Sample:
    seconds: float
    rss_kib: int
    #: The child's own CPU time (user + system): steadier than wall time on a busy machine.
    cpu: float = 0.0


class Failed(Exception):
    """A benchmarked command exited non-zero: reported in its table cell, the run goes on."""


def run(cmd: list[str], cwd: Path) -> Sample:
    """Run one command; wall time and the child's own peak RSS (``os.wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=clean_env(), stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            lines = err.read().decode(errors="replace").strip().splitlines() or ["(no output)"]
            raise Failed(
                f"{Path(cmd[0]).name} {' '.join(cmd[1:])} exited {proc.returncode}: {lines[-1]}"
            )
    # ru_maxrss is KiB on Linux, bytes on macOS.
    rss = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
    return Sample(elapsed, rss, usage.ru_utime + usage.ru_stime)


@dataclass
class Row:
    backend: str
    n: int | None
    op: str
    samples: dict[str, list[Sample]] = field(
        default_factory=lambda: {"asyncmig": [], "alembic": []}
    )
    failures: dict[str, str] = field(default_factory=dict)

    def median(self, tool: str) -> float | None:
        s = self.samples[tool]
        return statistics.median(x.seconds for x in s) if s else None

    def rss(self, tool: str) -> int | None:
        """The median of the runs' peak RSS, as times are medians: one run that differs in
        kind (asyncmig's first ``current`` records what later runs answer from) does not
        stand for the rest."""
        s = self.samples[tool]
        return int(statistics.median(x.rss_kib for x in s)) if s else None

    def cpu(self, tool: str) -> float | None:
        """The median of the child's own CPU time (user + system): the client's work alone,
        steadier than wall time when the database server or the disk is busy."""
        s = self.samples[tool]
        return statistics.median(x.cpu for x in s) if s else None

    def ratio(self, kind: str = "time") -> float | None:
        get = {"time": self.median, "rss": self.rss, "cpu": self.cpu}[kind]
        a, b = get("asyncmig"), get("alembic")
        return a / b if a is not None and b else None


#: Operation -> (asyncmig args, alembic args or None when Alembic has no such command).
#: ``status`` is compared with ``alembic current``, the closest Alembic answer to "is
#: anything pending". "(terminal)" runs under ``script`` so that stdout is a terminal.
OPS: dict[str, tuple[list[str], list[str] | None]] = {
    "upgrade head (fresh)": (["upgrade", "head"], ["upgrade", "head"]),
    "upgrade head (no-op)": (["upgrade", "head"], ["upgrade", "head"]),
    "current": (["current"], ["current"]),
    "status": (["status"], ["current"]),
    "history": (["history"], ["history"]),
    "history (terminal)": (["history"], ["history"]),
    "downgrade base": (["downgrade", "base"], ["downgrade", "base"]),
    "show-config": (["show-config"], None),
}


def command(tool: str, op: str, args: list[str]) -> list[str]:
    """The command line of one operation; on a pseudo-terminal for "(terminal)" ones."""
    line = [EXE[tool], *args]
    if op.endswith("(terminal)"):
        return ["script", "-qec", " ".join(line), "/dev/null"]
    return line


EXE = {"asyncmig": ASYNCMIG, "alembic": ALEMBIC}


def order(repeat: int) -> tuple[str, str]:
    return ("asyncmig", "alembic") if repeat % 2 == 0 else ("alembic", "asyncmig")


def bench_help(repeat: int, cwd: Path) -> Row:
    row = Row("-", None, "--help")
    for r in range(repeat + 1):
        for tool in order(r):
            sample = run([EXE[tool], "--help"], cwd)
            if r:  # the first round only warms the OS caches
                row.samples[tool].append(sample)
    return row


def bench_backend(
    backend: Backend, n: int, repeat: int, work: Path, log: Callable[[str], None]
) -> list[Row]:
    projects, urls = {}, {}
    for tool in ("asyncmig", "alembic"):
        path = work / f"{backend.name}-{n}-{tool}"
        urls[tool] = backend.url(path, tool, n)
        make_project(path, tool, n, urls[tool])
        projects[tool] = path
        run([EXE[tool], "heads"], path)  # untimed: compile the revision files' bytecode
    rows = {op: Row(backend.name, n, op) for op in OPS}
    for r in range(repeat):
        for tool in ("asyncmig", "alembic"):
            backend.reset(projects[tool], urls[tool])
        for op, (am_args, al_args) in OPS.items():
            for tool in order(r):
                args = am_args if tool == "asyncmig" else al_args
                if args is None:
                    continue
                try:
                    rows[op].samples[tool].append(run(command(tool, op, args), projects[tool]))
                except Failed as exc:
                    rows[op].failures[tool] = str(exc)
                    log(f"  {backend.name} N={n}: {exc}")
        log(f"  {backend.name} N={n}: repeat {r + 1}/{repeat} done")
    return list(rows.values())


# -- the migration path alone (--only path) ---------------------------------------------
#: Mode -> what the child times (bench/_path_child.py).
PATH_MODES = ("alembic", "asyncmig")
PATH_LABEL = {"alembic": "`alembic.command.upgrade`", "asyncmig": "`asyncmig.commands.upgrade`"}


@dataclass
class PathRow:
    backend: str
    n: int
    op: str
    seconds: dict[str, list[float]] = field(
        default_factory=lambda: {mode: [] for mode in PATH_MODES}
    )

    def median(self, mode: str) -> float | None:
        s = self.seconds[mode]
        return statistics.median(s) if s else None

    def spread(self) -> float | None:
        """The widest max - min over the two modes: the run-to-run noise of this row."""
        ranges = [max(s) - min(s) for s in self.seconds.values() if s]
        return max(ranges) if ranges else None


def run_child(mode: str, project: Path, expect_steps: int) -> float:
    """One fresh child times one ``upgrade head``; checks it did what it should have."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run(
            [sys.executable, str(CHILD), mode], cwd=project, env=clean_env(), stdout=out,
            stderr=err, check=False,
        )  # fmt: skip
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if proc.returncode != 0:
        last = (stderr.strip().splitlines() or ["(no output)"])[-1]
        raise Failed(f"{mode} upgrade head exited {proc.returncode}: {last}")
    result = json.loads(stdout.strip().splitlines()[-1])
    # Alembic logs one "Running upgrade" line per revision in both modes; asyncmig prints
    # one progress line more per revision, and the hooks are installed only in its mode.
    ran = stderr.count("Running upgrade ")
    progress = stdout.count("Applying ")
    want_progress = expect_steps if mode == "asyncmig" else 0
    if (
        ran != expect_steps
        or progress != want_progress
        or result["hooked"] != (mode == "asyncmig")
        or (mode == "asyncmig" and result["steps"] != expect_steps)
    ):
        raise Failed(
            f"{mode}: expected {expect_steps} revisions, got {ran} applied, {progress} progress "
            f"lines, hooks {'on' if result['hooked'] else 'off'}"
        )
    return float(result["seconds"])


def bench_path(
    backend: Backend, n: int, repeat: int, work: Path, log: Callable[[str], None]
) -> list[PathRow]:
    """One asyncmig-template project; per repeat and mode: fresh database, fresh, no-op."""
    project = work / f"path-{backend.name}-{n}"
    url = backend.url(project, "path", n)
    make_project(project, "asyncmig", n, url)
    run([ASYNCMIG, "heads"], project)  # untimed: compile the revision files' bytecode
    fresh = PathRow(backend.name, n, "upgrade head (fresh)")
    noop = PathRow(backend.name, n, "upgrade head (no-op)")
    for r in range(repeat + 1):
        for mode in order(r):  # the same names as the tools: "asyncmig", "alembic"
            backend.reset(project, url)
            fresh_s = run_child(mode, project, n)
            noop_s = run_child(mode, project, 0)
            if r:  # the first round only warms the OS caches and the server
                fresh.seconds[mode].append(fresh_s)
                noop.seconds[mode].append(noop_s)
        log(f"  path {backend.name} N={n}: " + (f"repeat {r}/{repeat} done" if r else "warm-up"))
    return [fresh, noop]


def path_table(rows: Iterable[PathRow]) -> str:
    header = ("backend", "N", "upgrade", f"{PATH_LABEL['alembic']} s",
              f"{PATH_LABEL['asyncmig']} s", "ratio", "difference ms", "per revision ms",
              "spread ms", "beyond noise")  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        a, b = row.median("alembic"), row.median("asyncmig")
        diff = (b - a) * 1000 if a is not None and b is not None else None
        per = diff / row.n if diff is not None and row.op.endswith("(fresh)") else None
        spread = row.spread()
        cells = (
            row.backend,
            str(row.n),
            row.op.removeprefix("upgrade head "),
            fmt_s(a),
            fmt_s(b),
            fmt_ratio(b / a if a and b is not None else None),
            "—" if diff is None else f"{diff:+.1f}",
            "—" if per is None else f"{per:+.3f}",
            "—" if spread is None else f"{spread * 1000:.1f}",
            "—" if diff is None or spread is None else fmt_beyond(diff, spread * 1000),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fmt_beyond(diff_ms: float, spread_ms: float) -> str:
    """Whether the medians differ by more than either mode's own max - min."""
    return "**yes**" if abs(diff_ms) > spread_ms else "no"


def path_report(rows: list[PathRow], backends: list[Backend], args: argparse.Namespace) -> str:
    return "\n".join(
        [
            PATH_START,
            f"Measured {date.today().isoformat()} with `python bench/bench.py --only path "
            f"--path-n {args.path_n} --repeat {args.repeat} --backend {args.backend}`; "
            f"{environment(backends)}.",
            "Times are medians (seconds) of the call alone, one fresh process per run, the mode",
            "that goes first alternating; ratio = asyncmig / alembic; difference = asyncmig −",
            "alembic; per revision = difference / N (fresh only: the no-op applies none);",
            "spread = the wider max − min of the two columns, i.e. the run-to-run noise;",
            "beyond noise = whether |difference| exceeds the spread.",
            "",
            path_table(rows),
            PATH_END,
        ]
    )


# -- lint against upgrade --sql (--only lint) ---------------------------------------------
#: Mode -> the asyncmig command timed; both render every revision offline (no database).
LINT_MODES = {
    "upgrade --sql": ["upgrade", "base:head", "--sql"],
    "lint": ["lint", "base:head"],
}


@dataclass
class LintRow:
    backend: str
    n: int
    seconds: dict[str, list[float]] = field(
        default_factory=lambda: {mode: [] for mode in LINT_MODES}
    )
    #: The summary line of one lint run (which rules ran, what they found).
    summary: str = ""

    def median(self, mode: str) -> float | None:
        s = self.seconds[mode]
        return statistics.median(s) if s else None

    def ratio(self) -> float | None:
        a, b = self.median("lint"), self.median("upgrade --sql")
        return a / b if a is not None and b else None


def bench_lint(
    backend: Backend, n: int, repeat: int, work: Path, log: Callable[[str], None]
) -> LintRow:
    """One project; per repeat both commands, the one that goes first alternating."""
    project = work / f"lint-{backend.name}-{n}"
    make_project(project, "asyncmig", n, backend.url(project, "lint", n))  # never connected
    run([ASYNCMIG, "heads"], project)  # untimed: compile the revision files' bytecode
    row = LintRow(backend.name, n)
    out = subprocess.run(
        [ASYNCMIG, *LINT_MODES["lint"]], cwd=project, env=clean_env(), capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0 or not out.stdout.strip():
        last = (out.stderr.strip() or "?").splitlines()[-1]
        raise Failed(f"lint exited {out.returncode}: {last}")
    row.summary = out.stdout.strip().splitlines()[-1]
    modes = list(LINT_MODES)
    for r in range(repeat + 1):
        for mode in modes if r % 2 == 0 else reversed(modes):
            sample = run([ASYNCMIG, *LINT_MODES[mode]], project)
            if r:  # the first round only warms the OS caches
                row.seconds[mode].append(sample.seconds)
        log(f"  lint {backend.name} N={n}: " + (f"repeat {r}/{repeat} done" if r else "warm-up"))
    return row


def lint_report(rows: list[LintRow], backends: list[Backend], args: argparse.Namespace) -> str:
    header = (
        "| backend | N | `upgrade base:head --sql` s | `lint base:head` s | ratio | limit | met |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        ratio = row.ratio()
        met = "—" if ratio is None else ("yes" if ratio <= LINT_LIMIT else "**no**")
        lines.append(
            f"| {row.backend} | {row.n} | {fmt_s(row.median('upgrade --sql'))} | "
            f"{fmt_s(row.median('lint'))} | {fmt_ratio(ratio)} | ≤ {LINT_LIMIT:.2f} | {met} |"
        )
    summaries = [f"* {row.backend} N={row.n}: `{row.summary}`" for row in rows if row.summary]
    return "\n".join(
        [
            LINT_START,
            f"Measured {date.today().isoformat()} with `python bench/bench.py --only lint "
            f"--lint-n {args.lint_n} --repeat {args.repeat} --backend {args.backend}`; "
            f"{environment(backends)}.",
            "Times are medians (seconds, process start to exit, one process per run, the command",
            "that goes first alternating); ratio = lint / upgrade --sql. Both render every",
            "revision offline through env.py; lint also reads each revision's downgrade(), runs",
            "asyncmig's rules and, on PostgreSQL, squawk on each revision's SQL.",
            "",
            *lines,
            "",
            "What lint reported:",
            "",
            *summaries,
            LINT_END,
        ]
    )


# -- the history table's cost (--only history) -------------------------------------------
#: Mode -> the global options of the timed ``asyncmig upgrade head`` (fresh database).
HISTORY_MODES = {"history": [], "--no-history": ["--no-history"]}


@dataclass
class HistoryRow:
    backend: str
    n: int
    seconds: dict[str, list[float]] = field(
        default_factory=lambda: {mode: [] for mode in HISTORY_MODES}
    )
    cpu: dict[str, list[float]] = field(
        default_factory=lambda: {mode: [] for mode in HISTORY_MODES}
    )

    def median(self, mode: str, kind: str = "seconds") -> float | None:
        s = (self.seconds if kind == "seconds" else self.cpu)[mode]
        return statistics.median(s) if s else None

    def ratio(self, kind: str = "seconds") -> float | None:
        a, b = self.median("history", kind), self.median("--no-history", kind)
        return a / b if a is not None and b else None

    def spread(self) -> float | None:
        ranges = [max(s) - min(s) for s in self.seconds.values() if s]
        return max(ranges) if ranges else None


def bench_history(
    backend: Backend, n: int, repeat: int, work: Path, log: Callable[[str], None]
) -> HistoryRow:
    """One project; per repeat and mode a fresh database and one ``upgrade head``."""
    project = work / f"history-{backend.name}-{n}"
    url = backend.url(project, "history", n)
    make_project(project, "asyncmig", n, url)
    run([ASYNCMIG, "heads"], project)  # untimed: compile the revision files' bytecode
    row = HistoryRow(backend.name, n)
    modes = list(HISTORY_MODES)
    for r in range(repeat + 1):
        for mode in modes if r % 2 == 0 else reversed(modes):
            backend.reset(project, url)
            sample = run([ASYNCMIG, *HISTORY_MODES[mode], "upgrade", "head"], project)
            if r:  # the first round only warms the OS caches and the server
                row.seconds[mode].append(sample.seconds)
                row.cpu[mode].append(sample.cpu)
        log(f"  history {backend.name} N={n}: " + (f"repeat {r}/{repeat} done" if r else "warm-up"))
    return row


def history_report(
    rows: list[HistoryRow], backends: list[Backend], args: argparse.Namespace
) -> str:
    lines = [
        "| backend | N | `--no-history` s | history s | ratio | spread ms | `--no-history` CPU s "
        "| history CPU s | CPU ratio | limit | met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        ratio, cpu_ratio = row.ratio(), row.ratio("cpu")
        spread = row.spread()
        met = "—" if ratio is None else ("yes" if ratio <= HISTORY_LIMIT else "**no**")
        lines.append(
            f"| {row.backend} | {row.n} | {fmt_s(row.median('--no-history'))} | "
            f"{fmt_s(row.median('history'))} | {fmt_ratio(ratio)} | "
            f"{'—' if spread is None else f'{spread * 1000:.0f}'} | "
            f"{fmt_s(row.median('--no-history', 'cpu'))} | {fmt_s(row.median('history', 'cpu'))} "
            f"| {fmt_ratio(cpu_ratio)} | ≤ {HISTORY_LIMIT:.2f} | {met} |"
        )
    return "\n".join(
        [
            HISTORY_START,
            f"Measured {date.today().isoformat()} with `python bench/bench.py --only history "
            f"--history-n {args.history_n} --repeat {args.repeat} --backend {args.backend}`; "
            f"{environment(backends)}.",
            "Times are medians (seconds, process start to exit) of `asyncmig upgrade head` on a",
            "fresh database, one process per run, the mode that goes first alternating; ratio =",
            "history / --no-history; spread = the wider max − min of the two columns; CPU = the",
            "asyncmig process's own user + system time (the database server's is not in it),",
            "steadier than wall time when other work shares the machine.",
            "",
            *lines,
            HISTORY_END,
        ]
    )


# -- report -----------------------------------------------------------------------------
def fmt_s(x: float | None, failed: bool = False) -> str:
    return f"{x:.3f}" if x is not None else "failed" if failed else "—"


def fmt_mib(kib: int | None) -> str:
    return "—" if kib is None else f"{kib / 1024:.0f}"


def fmt_ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def table(rows: Iterable[Row]) -> str:
    header = ("backend", "N", "command", "asyncmig s", "alembic s", "ratio", "CPU ratio",
              "asyncmig MiB", "alembic MiB", "RSS ratio")  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        cells = (
            row.backend,
            str(row.n) if row.n is not None else "-",
            f"`{row.op}`",
            fmt_s(row.median("asyncmig"), "asyncmig" in row.failures),
            fmt_s(row.median("alembic"), "alembic" in row.failures),
            fmt_ratio(row.ratio()),
            fmt_ratio(row.ratio("cpu")),
            fmt_mib(row.rss("asyncmig")),
            fmt_mib(row.rss("alembic")),
            fmt_ratio(row.ratio("rss")),
        )
        lines.append("| " + " | ".join(cells) + " |")
    notes = sorted({msg for row in rows for msg in row.failures.values()})
    if notes:
        lines += ["", "Failed runs (a tool's cell shows the runs that passed, or `failed`):", ""]
        lines += [
            f"* {row.backend} N={row.n}: {msg}" for row in rows for msg in row.failures.values()
        ]
    return "\n".join(lines)


def targets(rows: list[Row]) -> str:
    lines = ["| target | limit | measured | met |", "|---|---:|---:|---|"]
    for backend, n, op, limit, kind in TARGETS:
        for row in rows:
            if (
                row.op != op
                or (n is not None and row.n != n)
                or (backend and row.backend != backend)
            ):
                continue
            value = row.ratio(kind)
            what = "peak RSS" if kind == "rss" else "time"
            where = ", ".join(
                x
                for x in (row.backend if row.backend != "-" else "", f"N={row.n}" if row.n else "")
                if x
            )
            met = "—" if value is None else ("yes" if value <= limit else "**no**")
            label = f"`{op}` {what}" + (f" ({where})" if where else "")
            lines.append(f"| {label} | ≤ {limit:.2f} | {fmt_ratio(value)} | {met} |")
    return "\n".join(lines)


def environment(backends: list[Backend]) -> str:
    import alembic
    import sqlalchemy

    from asyncmig import __version__

    parts = [
        f"asyncmig {__version__}",
        f"alembic {alembic.__version__}",
        f"SQLAlchemy {sqlalchemy.__version__}",
        f"Python {platform.python_version()}",
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    ]
    for b in backends:
        if b.name == "postgresql":
            parts.append(f"PostgreSQL {pg_server_version(b.pg_base)} (asyncpg)")
        else:
            import sqlite3

            parts.append(f"SQLite {sqlite3.sqlite_version} (aiosqlite)")
    return ", ".join(parts)


def report(rows: list[Row], backends: list[Backend], args: argparse.Namespace) -> str:
    return "\n".join(
        [
            START,
            f"Measured {date.today().isoformat()} with `python bench/bench.py --n {args.n} "
            f"--repeat {args.repeat} --backend {args.backend}`; {environment(backends)}.",
            "Times are medians of alternating runs (seconds, wall clock, process start to exit);",
            "MiB is the median of the runs' peak RSS; ratio = asyncmig / alembic;",
            "CPU ratio compares the processes' own CPU time (user + system), which a busy",
            "server or disk does not blur as it blurs wall time.",
            "Both tools run from cached bytecode (`PYTHONPYCACHEPREFIX`, written by an untimed",
            "first run), as an installed wheel does; `status` is compared with `alembic current`;",
            '"(terminal)" rows run under `script -qec` so that stdout is a pseudo-terminal.',
            "",
            table(rows),
            "",
            "Targets:",
            "",
            targets(rows),
            END,
        ]
    )


def write_doc(text: str, start: str = START, end: str = END, heading: str = "Results") -> None:
    """Replace the section between ``start`` and ``end``; append it if the page has none."""
    current = DOC.read_text() if DOC.exists() else "# Performance\n"
    if start not in current or end not in current:
        current = current.rstrip("\n") + f"\n\n## {heading}\n\n{start}\n{end}\n"
    head, rest = current.split(start, 1)
    tail = rest.split(end, 1)[1]
    DOC.write_text(head + text + tail)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="10,300,1000", help="history sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=5, help="runs per command and tool")
    parser.add_argument("--backend", default="sqlite,postgresql", help="sqlite,postgresql")
    parser.add_argument(
        "--pg",
        default=os.environ.get("ASYNCMIG_BENCH_PG", PG_DEFAULT),
        help="PostgreSQL server URL without database (trust or password in URL)",
    )
    parser.add_argument(
        "--only",
        choices=("process", "path", "lint", "fleet", "history"),
        help="process: only the whole-process comparison; path: only the in-process "
        "migration call (alembic.command.upgrade vs asyncmig.commands.upgrade); lint: only "
        "lint base:head against upgrade base:head --sql; history: only the fresh upgrade with "
        "the history table against --no-history",
    )
    parser.add_argument("--fleet-tenants", type=int, default=200, help="fleet: schemas")
    parser.add_argument("--fleet-n", type=int, default=20, help="fleet: revisions")
    parser.add_argument("--fleet-jobs", default="1,4,8", help="fleet: --jobs values")
    parser.add_argument("--fleet-repeat", type=int, default=1, help="fleet: runs (best kept)")
    parser.add_argument("--path-n", default="300", help="history sizes for the path part")
    parser.add_argument("--lint-n", default="300", help="history sizes for the lint part")
    parser.add_argument("--history-n", default="300", help="history sizes for the history part")
    parser.add_argument("--no-write", action="store_true", help="don't update docs/performance.md")
    parser.add_argument("--keep", action="store_true", help="keep the generated projects")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.n.split(",") if x.strip()]
    path_sizes = [int(x) for x in args.path_n.split(",") if x.strip()]
    lint_sizes = [int(x) for x in args.lint_n.split(",") if x.strip()]
    history_sizes = [int(x) for x in args.history_n.split(",") if x.strip()]
    do_process, do_path = args.only in (None, "process"), args.only in (None, "path")
    do_lint = args.only in (None, "lint")
    do_history = args.only in (None, "history")
    names = [x.strip() for x in args.backend.split(",") if x.strip()]
    unknown = set(names) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    backends = [Backend(name, pg_base=args.pg) for name in names]

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="asyncmig-bench-"))
    rows: list[Row] = []
    path_rows: list[PathRow] = []
    lint_rows: list[LintRow] = []
    fleet_rows: list[Any] = []
    do_fleet = args.only == "fleet"  # minutes long: only when asked
    history_rows: list[HistoryRow] = []
    try:
        log(f"projects in {work}")
        if do_process:
            rows.append(bench_help(args.repeat, work))
            for backend in backends:
                for n in sizes:
                    rows.extend(bench_backend(backend, n, args.repeat, work, log))
        if do_path:
            for backend in backends:
                for n in path_sizes:
                    path_rows.extend(bench_path(backend, n, args.repeat, work, log))
        if do_lint:
            for backend in backends:
                for n in lint_sizes:
                    lint_rows.append(bench_lint(backend, n, args.repeat, work, log))
        if do_fleet:
            from _fleet import bench_fleet

            fleet_rows = bench_fleet(
                args, work, log, pg_admin=pg_admin, revision_source=revision_source,
                clean_env=clean_env, asyncmig=ASYNCMIG, alembic=ALEMBIC,
            )  # fmt: skip
        if do_history:
            for backend in backends:
                for n in history_sizes:
                    history_rows.append(bench_history(backend, n, args.repeat, work, log))
    finally:
        for backend in backends:
            if backend.name == "postgresql":
                backend.cleanup()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if do_process:
        text = report(rows, backends, args)
        print(text)
        if not args.no_write:
            write_doc(text)
    if do_path:
        text = path_report(path_rows, backends, args)
        print(text)
        if not args.no_write:
            write_doc(text, PATH_START, PATH_END, "The migration path alone")
    if do_lint:
        text = lint_report(lint_rows, backends, args)
        print(text)
        if not args.no_write:
            write_doc(text, LINT_START, LINT_END, "Lint against upgrade --sql")
    if do_fleet:
        from _fleet import FLEET_END, FLEET_START, fleet_report

        text = fleet_report(fleet_rows, args, environment([Backend("postgresql", args.pg)]))
        print(text)
        if not args.no_write:
            write_doc(text, FLEET_START, FLEET_END, "Fleet")
    if do_history:
        text = history_report(history_rows, backends, args)
        print(text)
        if not args.no_write:
            write_doc(text, HISTORY_START, HISTORY_END, "History")
    if not args.no_write:
        log(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
