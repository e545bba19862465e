"""The three ways a command is run: plain ``alembic`` and ``asyncmig`` as installed
console scripts (subprocesses), and ``asyncmig.cli.app`` in this process through Typer's
CliRunner, sandboxed so each in-process run behaves like a fresh process.

Each runner is a function ``(project, args, env) -> Run``; ``env`` holds the only
variables the run sees beyond this process's clean environment.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ALEMBIC = "alembic"
SCRIPT = "asyncmig"
CLI = "asyncmig-cli"
#: Every runner, plain alembic first: it is the reference the others are compared with.
RUNNERS = (ALEMBIC, SCRIPT, CLI)

_BIN = Path(sys.executable).parent
#: Variables a developer's shell may hold that would change what a run does.
_CLEARED = ("ASYNCMIG_", "DATABASE_URL", "ALEMBIC_CONFIG", "GITHUB_ACTIONS", "NO_COLOR")
TIMEOUT = 90.0


# -- runs -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """What one command printed and returned."""

    runner: str
    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def first_error_line(self) -> str:
        """The line a reader looks at first: asyncmig's ``Error:``, Alembic's ``FAILED:``,
        or the last line of a traceback."""
        lines = [line for line in self.output.splitlines() if line.strip()]
        for line in lines:
            if line.startswith(("Error:", "FAILED:")):
                return line
        return lines[-1] if lines else ""

    def __str__(self) -> str:
        def block(name: str, text: str) -> str:
            body = "\n".join("    | " + line for line in text.rstrip().splitlines())
            return f"  {name}:\n{body}" if body else f"  {name}: (empty)"

        return (
            f"$ {self.runner} {' '.join(self.args)}  -> exit {self.exit_code} "
            f"({self.seconds:.2f} s)\n"
            f"{block('stdout', self.stdout)}\n{block('stderr', self.stderr)}"
        )


#: The environment subprocesses start from: this process's, as it was at import (before any
#: in-process run changed it), without asyncmig's or Alembic's variables.
_BASE_ENVIRONMENT = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED)}


def base_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The clean environment plus ``extra`` (safe to call while an in-process run is on)."""
    return {**_BASE_ENVIRONMENT, **extra}


def _subprocess(
    runner: str, exe: str, project: Path, args: Sequence[str], env: Mapping[str, str]
) -> Run:
    started = time.perf_counter()
    done = subprocess.run(
        [str(_BIN / exe), *args],
        cwd=project,
        env=base_environment(env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    return Run(
        runner,
        tuple(args),
        done.returncode,
        done.stdout,
        done.stderr,
        time.perf_counter() - started,
    )


def run_alembic(project: Path, args: Sequence[str], env: Mapping[str, str]) -> Run:
    """The installed ``alembic`` console script, in ``project``."""
    return _subprocess(ALEMBIC, "alembic", project, args, env)


def run_asyncmig_script(project: Path, args: Sequence[str], env: Mapping[str, str]) -> Run:
    """The installed ``asyncmig`` console script, in ``project``."""
    return _subprocess(SCRIPT, "asyncmig", project, args, env)


@contextmanager
def _fresh_imports(project: Path) -> Iterator[None]:
    """The project's modules (``models``, ``settings``) imported anew, and forgotten after."""
    path, modules = list(sys.path), set(sys.modules)
    # Alembic's prepend_sys_path puts "." on sys.path; the finder cached for "." remembers
    # the directory it was first used in, so it must not outlive (or predate) one run.
    finders = dict(sys.path_importer_cache)
    for entry in [k for k in sys.path_importer_cache if not os.path.isabs(k)]:
        del sys.path_importer_cache[entry]
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path[:] = path
        sys.path_importer_cache.clear()
        sys.path_importer_cache.update(finders)
        for name in set(sys.modules) - modules:
            origin = getattr(sys.modules[name], "__file__", None) or ""
            if origin.startswith(str(project)) or name in ("models", "settings"):
                del sys.modules[name]


def _loggers() -> list[logging.Logger]:
    found = logging.Logger.manager.loggerDict.values()
    return [logging.getLogger(), *(lg for lg in found if isinstance(lg, logging.Logger))]


@contextmanager
def _fresh_logging() -> Iterator[None]:
    """No handlers anywhere (other tests' in-process runs may have left some, writing to
    streams long closed), root at WARNING, every logger enabled; all put back after."""
    saved = {lg: (lg.level, list(lg.handlers), lg.disabled, lg.propagate) for lg in _loggers()}
    for lg in _loggers():
        lg.handlers.clear()
        lg.setLevel(logging.WARNING if lg is logging.getLogger() else logging.NOTSET)
        lg.disabled, lg.propagate = False, True
    try:
        yield
    finally:
        for lg in _loggers():
            level, handlers, disabled, propagate = saved.get(lg, (logging.NOTSET, [], False, True))
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.disabled, lg.propagate = disabled, propagate


@contextmanager
def _fresh_event_loop_policy() -> Iterator[None]:
    """After any asyncio.run() in this process, asyncio.get_event_loop() (still common in
    env.py files) raises; in a fresh process it makes a loop."""
    saved, policy = asyncio.get_event_loop_policy(), asyncio.DefaultEventLoopPolicy()
    asyncio.set_event_loop_policy(policy)
    try:
        yield
    finally:
        made = getattr(policy._local, "_loop", None)  # the loop get_event_loop() made, if any
        if made is not None and not made.is_closed():
            made.close()
        asyncio.set_event_loop_policy(saved)


@contextmanager
def _environment(project: Path, env: Mapping[str, str]) -> Iterator[None]:
    """``project`` as the working directory; only ``env`` of asyncmig's and Alembic's
    variables set."""
    cwd = os.getcwd()
    saved = {k: v for k, v in os.environ.items() if k.startswith(_CLEARED)}
    for name in saved:
        del os.environ[name]
    os.environ.update(env)
    os.chdir(project)
    try:
        yield
    finally:
        os.chdir(cwd)
        for name in [k for k in os.environ if k.startswith(_CLEARED) or k in env]:
            del os.environ[name]
        os.environ.update(saved)


@contextmanager
def sandbox(project: Path, env: Mapping[str, str]) -> Iterator[None]:
    """Run an Alembic command in this process as if it were a fresh one, then undo its
    traces: env.py imports the project's modules by name, ``fileConfig`` rewires logging
    and ``asyncio.get_event_loop()`` depends on what ran before."""
    with (
        _environment(project, env),
        _fresh_imports(project),
        _fresh_logging(),
        _fresh_event_loop_policy(),
    ):
        yield


def run_asyncmig_cli(project: Path, args: Sequence[str], env: Mapping[str, str]) -> Run:
    """``asyncmig.cli.app`` in this process (Typer's CliRunner), in ``project``."""
    from typer.testing import CliRunner

    from asyncmig.cli import app

    started = time.perf_counter()
    with sandbox(project, env):
        result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # an exception escaped asyncmig's own error boundary: show where
        exc = result.exception
        stderr += "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return Run(
        CLI, tuple(args), result.exit_code, result.stdout, stderr, time.perf_counter() - started
    )


RUNNER_FUNCTIONS: dict[str, Callable[[Path, Sequence[str], Mapping[str, str]], Run]] = {
    ALEMBIC: run_alembic,
    SCRIPT: run_asyncmig_script,
    CLI: run_asyncmig_cli,
}
