"""The one conftest: the fixtures every suite shares.

Isolated projects in tmp_path, the in-process CLI, the installed script in the background,
throwaway PostgreSQL and MariaDB databases. Helpers that are not fixtures live in
tests/support (import them from there: ``from support.projects import Project``); with
``CI`` set, a missing database server fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.databases import (
    MARIADB_HOST,
    PG_HOST,
    mariadb_admin,
    pg_admin,
    server_missing,
)
from support.projects import Project, make_project, write_revisions
from support.scripts import ENV_PREFIXES, SCRIPT, clean_environ, run_script
from support.tcpproxy import Mode, TcpProxy
from typer.testing import CliRunner, Result

from asyncmig.cli import app

# Test files written before tests/support import these from here; new ones import them
# from support.* (the layout test forbids only private names).
__all__ = ["MARIADB_HOST", "PG_HOST", "Project", "make_project", "run_script", "write_revisions"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile asyncmig's own modules once. Where ``PYTHONDONTWRITEBYTECODE`` is set (this
    machine, CI), the editable install has no bytecode, and each of the suite's hundreds of
    ``asyncmig`` subprocesses would compile the package from source again (~50 ms each).
    Existing bytecode is still read with the variable set, and nothing the tests write
    (revision files rewritten within a second) is ever cached."""
    import compileall

    import asyncmig

    compileall.compile_dir(Path(asyncmig.__file__).parent, quiet=1)
    _deliverable_sigint()


def _deliverable_sigint() -> None:
    """The interruption tests send SIGINT to the script as Ctrl-C at a terminal would. A
    suite started as a background job of a non-interactive shell inherits SIGINT ignored,
    and so would every process it starts (a program keeps an ignored SIGINT ignored, as
    asyncmig does): catching it here gives the children the default again at exec."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test starts in its own directory with no asyncmig variables set."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Invoke the CLI in-process: ``cli("upgrade", "head")``; stdout and stderr kept apart."""
    runner = CliRunner()

    def invoke(
        *args: str, env: dict[str, str | None] | None = None, input: str | None = None
    ) -> Result:
        return runner.invoke(app, list(args), env=env, input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start the installed script in the background (killed at teardown if still running)."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [SCRIPT, *args],
            cwd=cwd or tmp_path,
            env=clean_environ(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.fixture
def tcp_proxy() -> Iterator[Callable[..., TcpProxy]]:
    """A factory: ``tcp_proxy(("127.0.0.1", 5432), mode="forward")`` -> a started TcpProxy.

    Every proxy made is stopped at teardown, whatever the test did.
    """
    made: list[TcpProxy] = []

    def make(target: tuple[str, int], mode: Mode | str = Mode.FORWARD) -> TcpProxy:
        proxy = TcpProxy(target, mode).start()
        made.append(proxy)
        return proxy

    try:
        yield make
    finally:
        for proxy in made:
            proxy.stop()


# -- projects -------------------------------------------------------------------------------
@pytest.fixture
def project(tmp_path: Path) -> Project:
    """An asyncmig project in tmp_path (the working directory) on its default SQLite file."""
    return make_project(tmp_path)


# -- databases ------------------------------------------------------------------------------
@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database name; dropped afterwards."""
    name = f"asyncmig_{uuid.uuid4().hex[:12]}"
    try:
        pg_admin(f'CREATE DATABASE "{name}"')
    except OSError as exc:
        server_missing("PostgreSQL", exc)
    yield name
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """An asyncpg URL to a fresh PostgreSQL database."""
    return f"{PG_HOST.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{pg_database}"


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """An asyncmy URL to a fresh MariaDB database; dropped afterwards."""
    name = f"asyncmig_{uuid.uuid4().hex[:12]}"
    try:
        mariadb_admin(f"CREATE DATABASE `{name}`")
    except Exception as exc:
        server_missing("MariaDB", exc)
    yield f"{MARIADB_HOST.replace('mysql://', 'mysql+asyncmy://', 1)}/{name}"
    mariadb_admin(f"DROP DATABASE IF EXISTS `{name}`")
