"""Run one project under plain ``alembic`` and under ``asyncmig``, each on its own fresh
database(s), and compare what each leaves behind.

The pieces:

* :class:`Database` -- one throwaway database and its URL in every spelling
  (``provider``: what hosting providers hand out, ``sync``: the driver plain
  Alembic uses, ``async``: the driver an async env.py needs).
* Three runners (:mod:`.runners`), each a function ``(project, args, env) -> Run``:
  :func:`run_alembic` (the installed ``alembic`` script, subprocess),
  :func:`run_asyncmig_script` (the installed ``asyncmig`` script, subprocess) and
  :func:`run_asyncmig_cli` (``asyncmig.cli.app`` in this process, via Typer's CliRunner).
* :class:`Side` -- a runner, its own copy of the project, its databases and environment.
* :class:`Comparison` -- the sides of one test: :meth:`Comparison.run` runs a command
  on every side and checks the exit codes; :meth:`Comparison.assert_same` compares
  every side's databases with plain alembic's (see :mod:`.snapshot`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .runners import (
    ALEMBIC,
    CLI,
    RUNNER_FUNCTIONS,
    RUNNERS,
    SCRIPT,
    Run,
    base_environment,
    run_alembic,
    run_asyncmig_cli,
    run_asyncmig_script,
)
from .snapshot import diff, snapshot

__all__ = [
    "ALEMBIC",
    "CLI",
    "RUNNERS",
    "RUNNER_FUNCTIONS",
    "SCRIPT",
    "Comparison",
    "Configure",
    "Database",
    "Mismatch",
    "Run",
    "Side",
    "base_environment",
    "run_alembic",
    "run_asyncmig_cli",
    "run_asyncmig_script",
    "same_env",
    "set_ini_option",
    "url_in_env",
    "url_in_ini",
]

# -- databases ------------------------------------------------------------------------------
_FORMS = {
    "postgresql": {
        "provider": "postgres",
        "sync": "postgresql+psycopg",
        "async": "postgresql+asyncpg",
    },
    "mysql": {"provider": "mysql", "sync": "mysql+pymysql", "async": "mysql+asyncmy"},
    "sqlite": {"provider": "sqlite", "sync": "sqlite", "async": "sqlite+aiosqlite"},
}


@dataclass(frozen=True)
class Database:
    """One throwaway database: ``host`` is ``user@host:port`` (empty for SQLite),
    ``name`` the database name or the SQLite file's path."""

    dialect: str
    host: str
    name: str

    def url(
        self, form: str = "sync", *, password: str | None = None, scheme: str | None = None
    ) -> str:
        """The URL in ``form`` (provider, sync, async), or with an explicit ``scheme``.

        ``password`` is inserted as given (already URL-encoded); the local PostgreSQL
        trusts local connections, so any password works there.
        """
        drivername = scheme or _FORMS[self.dialect][form]
        if self.dialect == "sqlite":
            return f"{drivername}:///{self.name}"
        user, _, hostport = self.host.partition("@")
        auth = f"{user}:{password}" if password is not None else user
        return f"{drivername}://{auth}@{hostport}/{self.name}"

    def snapshot(self) -> list[str]:
        return snapshot(self.url("sync"))


# -- ini files ------------------------------------------------------------------------------
def set_ini_option(
    path: Path, section: str, key: str, value: str | None, *, escape: bool = True
) -> None:
    """Set (or with ``None`` remove) ``key`` in ``[section]`` of an ini file, keeping the
    rest of the file as written; ``%`` in ``value`` is escaped for configparser unless
    ``escape`` is False (for values meant to interpolate, such as ``%(here)s``)."""
    lines = path.read_text().splitlines() if path.exists() else []
    header = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*$")
    keyline = re.compile(rf"^\s*{re.escape(key)}\s*[=:]")
    start = next(
        (i for i, line in enumerate(lines) if (m := header.match(line)) and m["name"] == section),
        None,
    )
    if value is not None and escape:
        value = value.replace("%", "%%")
    new = None if value is None else f"{key} = {value}"
    if start is None:
        if new is not None:
            lines += ["", f"[{section}]", new]
    else:
        end = next((i for i in range(start + 1, len(lines)) if header.match(lines[i])), len(lines))
        found = next((i for i in range(start + 1, end) if keyline.match(lines[i])), None)
        if found is not None and new is None:
            del lines[found]
        elif found is not None and new is not None:
            lines[found] = new
        elif new is not None:
            lines.insert(start + 1, new)
    path.write_text("\n".join(lines) + "\n")


# -- sides and comparisons ------------------------------------------------------------------
@dataclass
class Side:
    """One runner with its own copy of the project, its databases and its environment."""

    runner: str
    project: Path
    databases: dict[str, Database]
    env: dict[str, str] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)

    @property
    def plain(self) -> bool:
        """True for plain alembic (the reference), False for asyncmig's runners."""
        return self.runner == ALEMBIC

    @property
    def db(self) -> Database:
        """The side's only (or ``main``) database."""
        return self.databases.get("main") or next(iter(self.databases.values()))

    def set_ini(
        self, key: str, value: str | None, section: str = "alembic", file: str = "alembic.ini"
    ) -> None:
        set_ini_option(self.project / file, section, key, value)

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> Run:
        run = RUNNER_FUNCTIONS[self.runner](self.project, args, {**self.env, **(env or {})})
        self.runs.append(run)
        return run

    def snapshot(self) -> list[str]:
        lines: list[str] = []
        for label in sorted(self.databases):
            lines.append(f"== database {label}")
            lines.extend(self.databases[label].snapshot())
        return lines


Configure = Callable[[Side], None]


class Mismatch(AssertionError):
    """A side did not do what plain alembic did; the message holds every run's output."""


class Comparison:
    """The sides of one test; ``sides[0]`` is plain alembic."""

    def __init__(self, sides: Sequence[Side]) -> None:
        assert sides and sides[0].plain, "plain alembic must be the first side"
        self.sides = list(sides)
        #: What the last :meth:`assert_same` found on every side.
        self.snapshot: list[str] = []

    @property
    def reference(self) -> Side:
        return self.sides[0]

    @property
    def subjects(self) -> list[Side]:
        return self.sides[1:]

    def side(self, runner: str) -> Side:
        return next(s for s in self.sides if s.runner == runner)

    def run(
        self,
        *args: str,
        asyncmig_args: Sequence[str] | None = None,
        expect: int = 0,
        expect_asyncmig: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> dict[str, Run]:
        """Run ``args`` on every side (``asyncmig_args`` on asyncmig's, when they differ) and
        require exit ``expect`` from plain alembic and ``expect_asyncmig`` (default: the same)
        from asyncmig."""
        wanted_asyncmig = expect if expect_asyncmig is None else expect_asyncmig

        def argv(side: Side) -> tuple[str, ...]:
            return args if side.plain or asyncmig_args is None else tuple(asyncmig_args)

        # Subprocesses run side by side; the in-process run meanwhile in this thread.
        with ThreadPoolExecutor(max_workers=len(self.sides)) as pool:
            pending = {
                side.runner: pool.submit(side.run, *argv(side), env=env)
                for side in self.sides
                if side.runner != CLI
            }
            runs = {
                side.runner: side.run(*argv(side), env=env)
                for side in self.sides
                if side.runner == CLI
            }
            runs.update({runner: future.result() for runner, future in pending.items()})
        runs = {side.runner: runs[side.runner] for side in self.sides}
        wrong = [
            run
            for run in runs.values()
            if run.exit_code != (expect if run.runner == ALEMBIC else wanted_asyncmig)
        ]
        if wrong:
            wanted = f"alembic exit {expect}, asyncmig exit {wanted_asyncmig}"
            got = "; ".join(f"{r.runner} exit {r.exit_code}: {r.first_error_line}" for r in wrong)
            raise Mismatch(
                f"unexpected exit code(s) (wanted {wanted}) -- {got}\n"
                + "\n".join(str(r) for r in runs.values())
            )
        return runs

    def assert_same(self, what: str = "") -> list[str]:
        """Every side's databases hold what plain alembic's hold; return that snapshot."""
        expected = self.reference.snapshot()
        problems = []
        for side in self.subjects:
            got = side.snapshot()
            if got != expected:
                problems.append(diff(expected, got, (ALEMBIC, side.runner)))
        self.snapshot = expected
        if problems:
            last = [side.runs[-1] for side in self.sides if side.runs]
            raise Mismatch(
                f"databases differ{' after ' + what if what else ''}:\n"
                + "\n".join(problems)
                + "\n-- last runs --\n"
                + "\n".join(str(r) for r in last)
            )
        return expected

    def step(self, *args: str, **kwargs: object) -> dict[str, Run]:
        """:meth:`run`, then :meth:`assert_same`."""
        runs = self.run(*args, **kwargs)  # type: ignore[arg-type]
        self.assert_same(" ".join(args))
        return runs

    def assert_same_stdout(self, runs: Mapping[str, Run], what: str = "") -> None:
        """Every runner printed on stdout what plain alembic printed."""
        expected = runs[ALEMBIC].stdout
        if any(run.stdout != expected for run in runs.values()):
            raise Mismatch(f"stdout differs {what}:\n" + "\n".join(str(r) for r in runs.values()))

    def files(self, relative: str) -> dict[str, list[str]]:
        """The file names under ``relative`` in each side's project (sorted)."""
        return {
            side.runner: sorted(p.name for p in (side.project / relative).glob("*.py"))
            for side in self.sides
        }


# -- where each side's URL goes (the ``configure`` of a comparison) ------------------------
def url_in_ini(
    flavour: str = "sync", section: str = "alembic", file: str = "alembic.ini"
) -> Configure:
    """Plain alembic: the ``flavour`` URL in the ini, as its users write it. asyncmig: the
    ini keeps Alembic's placeholder and ``DATABASE_URL`` holds the provider's URL."""

    def configure(side: Side) -> None:
        if side.plain:
            side.set_ini("sqlalchemy.url", side.db.url(flavour), section=section, file=file)
        else:
            side.env["DATABASE_URL"] = side.db.url("provider")

    return configure


def url_in_env(flavour: str = "sync") -> Configure:
    """``DATABASE_URL`` on both sides: the ``flavour`` URL for plain alembic, the provider's
    URL for asyncmig (for env.py files that read the config, which asyncmig fills from it,
    or the variable when the config has none)."""

    def configure(side: Side) -> None:
        side.env["DATABASE_URL"] = side.db.url(flavour if side.plain else "provider")

    return configure


def same_env(**url: str) -> Configure:
    """The same ``DATABASE_URL`` spelling on every side (env.py converts it itself);
    ``url`` is passed to :meth:`Database.url` (``form``, ``password``)."""

    def configure(side: Side) -> None:
        side.env["DATABASE_URL"] = side.db.url(**url)

    return configure
