"""The shape of the test suite: unit tests mirror the package, tests use only public names.

* ``tests/unit`` mirrors ``asyncmig/``: ``asyncmig/a/b.py`` is tested in
  ``tests/unit/a/test_b.py``. A module without one is listed in :data:`COVERED_ELSEWHERE`
  with the test files that cover it and why it has no module of its own; the list is
  checked both ways (a listed module that gets its test module must leave the list).
* End-to-end suites (``tests/e2e``, ``tests/realworld``, ``tests/reliability``,
  ``tests/pooler``, ``tests/fleet``) are organised by scenario, not by module.
* No test imports a private name (a leading underscore) of asyncmig or of a conftest:
  what a test needs is public API, or is tested through the public function.
* One conftest for shared fixtures; a suite keeps its own only for fixtures nothing else
  uses (:data:`SUITE_CONFTESTS`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PACKAGE = ROOT / "asyncmig"
UNIT = TESTS / "unit"

#: asyncmig modules without a tests/unit module: where they are tested instead, and why.
COVERED_ELSEWHERE: dict[str, tuple[tuple[str, ...], str]] = {
    "render_safety": (
        ("unit/commands/test_safety.py", "unit/safety/test_stairway.py"),
        "the lint and verify reports, asserted line by line with the commands",
    ),
    "cli_params": (
        ("unit/test_cli_commands.py", "e2e/test_docs.py"),
        "option declarations shared by the command modules; asserted through the commands",
    ),
    "cli_scripts": (
        ("unit/test_cli_commands.py", "e2e/test_plain_alembic.py"),
        "init and the revision-file commands, tested with the rest of the command line",
    ),
    "entry": (
        ("test_fastpath.py",),
        "the console script's own parsing and answer, compared with the Typer path",
    ),
    "fastpath": (
        ("test_fastpath.py",),
        "eligibility, the key and the answer: byte-identical output with and without it",
    ),
    "fastpath_record": (
        ("test_fastpath.py",),
        "what a full run records, asserted by the answers replayed from it",
    ),
    "fastpath_store": (
        ("test_fastpath.py",),
        "the recordings file and its input checks, through fallbacks on changes",
    ),
    "cli_history": (
        ("test_history.py",),
        "argument parsing of log and validate; asserted through the commands",
    ),
    "commands/schema_history": (
        ("test_history.py",),
        "log, status --all and validate as commands, on the three databases",
    ),
    "history/checksum": (
        ("test_history.py",),
        "the normalised checksum, asserted against the rows the runs write",
    ),
    "history/read": (
        ("test_history.py",),
        "reading the history table, through log and status --all",
    ),
    "history/record": (
        ("test_history.py",),
        "rows written in each step's transaction: a scenario on real databases",
    ),
    "history/table": (
        ("test_history.py",),
        "the table's definition, created by real runs on the three databases",
    ),
    "history/validate": (
        ("test_history.py",),
        "validate's verdicts on edited, missing and disagreeing revisions",
    ),
    "render_history": (
        ("test_history.py",),
        "the text, table and JSON of log, status --all and validate",
    ),
    "cli_fleet": (
        ("fleet/test_fleet_targets.py", "fleet/test_fleet_schemas.py"),
        "argument parsing of the fleet commands; asserted through the commands it runs",
    ),
    "fleet/pool": (
        ("fleet/test_fleet_schemas.py", "fleet/test_fleet_databases.py"),
        "worker processes: only meaningful with real targets and --jobs above 1",
    ),
    "fleet/results": (
        ("fleet/test_fleet_targets.py",),
        "per-target results and the worst exit code; asserted with the fleet's output",
    ),
    "fleet/run": (
        ("fleet/test_fleet_schemas.py", "fleet/test_fleet_databases.py", "fleet/test_fleet_env.py"),
        "gathers, shards and runs targets: a scenario on real databases",
    ),
    "fleet/targets": (
        ("fleet/test_fleet_targets.py",),
        "target sources (file, SQL, config) and shards, in the fleet suite with the commands",
    ),
    "fleet/view": (
        ("fleet/test_fleet_targets.py",),
        "the live view, plain lines and summary, tested with the fleet's output",
    ),
    "fleet/worker": (
        ("fleet/test_fleet_schemas.py", "fleet/test_fleet_env.py"),
        "one target's run inside a worker: a scenario on real databases",
    ),
    "_typerfast": (
        ("unit/test_cli.py",),
        "private start-up shortcut of cli.py; tested by what --help/--version import and cost",
    ),
    "alembic_config": (
        ("unit/test_settings.py", "unit/test_cli_commands.py"),
        "the Alembic Config built from resolved settings; asserted through build_config and "
        "the commands that read it",
    ),
    "bridge": (
        ("realworld", "e2e/test_drivers.py"),
        "the greenlet bridge runs every env.py: only real env.py files on real drivers test it",
    ),
    "cli_safety": (
        ("unit/commands/test_safety.py", "unit/safety/test_stairway.py"),
        "the CLI side of lint/verify, tested with the commands it renders",
    ),
    "commands/inspect": (
        ("unit/test_cli_commands.py", "unit/test_api.py", "unit/test_results.py"),
        "current/status/plan/check: tested through the CLI and the API that call them",
    ),
    "commands/migrate": (
        ("unit/test_cli_commands.py", "unit/test_api.py", "unit/test_render.py"),
        "upgrade/downgrade/stamp/ensure-version: tested through the CLI and the API",
    ),
    "commands/scripts": (
        ("unit/test_cli_commands.py", "e2e/test_plain_alembic.py"),
        "revision/merge/history/heads...: tested through the CLI, compared with plain alembic",
    ),
    "configfiles": (
        ("unit/test_settings.py", "realworld/test_config_layouts.py"),
        "finding alembic.ini/pyproject.toml as Alembic does: compared with plain alembic",
    ),
    "connparams_mysql": (
        ("unit/test_connparams.py",),
        "MariaDB's half of connparams, tested with it on the real server",
    ),
    "connparams_pg": (
        ("unit/test_connparams.py",),
        "PostgreSQL's half of connparams, tested with it on the real server",
    ),
    "dbwait": (
        ("unit/test_connparams.py", "unit/test_deploy.py", "reliability/test_waits.py"),
        "waiting for the database: its classification is asserted with the connect errors "
        "of test_connparams, its bounds end to end",
    ),
    "engine_values": (
        ("unit/test_engineargs.py",),
        "split out of engineargs (argument kinds and coercion); its tests stayed whole",
    ),
    "env": (
        ("unit/test_cli_commands.py", "realworld"),
        "asyncmig's env.py entry point: runs inside Alembic, tested by running migrations",
    ),
    "errors": (
        ("e2e/test_docs.py", "reliability/test_bad_input.py"),
        "the exception hierarchy: its exit codes are asserted by every failing command",
    ),
    "events": (
        ("unit/test_api.py", "unit/test_render.py"),
        "the Events protocol: asserted by recording events through the API and the progress",
    ),
    "failures": (
        ("reliability/test_failing_revisions.py", "reliability/test_bad_input.py"),
        "turning what a run raised into one line: only real failures test it",
    ),
    "hooks": (
        ("unit/test_deploy.py", "realworld"),
        "the process-wide patches of Alembic/SQLAlchemy, observed through real env.py runs",
    ),
    "locks": (
        ("unit/test_deploy.py", "reliability/test_interruptions.py"),
        "the migration lock, held from other sessions of the real servers",
    ),
    "options": (
        ("e2e/test_docs.py", "unit/test_settings.py", "unit/test_showconfig.py"),
        "the options spec: each option's flag, env var and ini key asserted where they resolve",
    ),
    "pooler": (
        ("pooler",),
        "poolers in front of PostgreSQL: the pooler suite runs every command through PgBouncer",
    ),
    "process_lock": (
        ("unit/test_api.py",),
        "the in-process lock, asserted with concurrent API calls",
    ),
    "runner": (
        ("unit/test_cli_commands.py", "unit/test_api.py"),
        "the core every command runs through",
    ),
    "safety/lintconfig": (
        ("unit/safety/test_rules.py", "unit/commands/test_safety.py"),
        "what a project silences, asserted with the rules and the lint command",
    ),
    "safety/record": (
        ("unit/commands/test_safety.py", "unit/safety/test_squawk.py"),
        "recording revisions' operations, asserted through lint and squawk findings",
    ),
    "safety/report": (
        ("unit/commands/test_safety.py", "unit/safety/test_stairway.py"),
        "the lint/verify result types, asserted in their --json and text output",
    ),
    "safety/scratch": (
        ("unit/safety/test_stairway.py", "unit/test_pytest_plugin.py"),
        "throwaway databases, made and dropped by verify and the pytest plugin",
    ),
    "scaffold": (
        ("unit/test_cli_commands.py",),
        "asyncmig init: every project fixture is made by it",
    ),
    "sessions": (
        ("reliability/test_session_settings.py",),
        "what the migration session sets, read back from inside a running revision",
    ),
    "testing": (
        ("unit/test_pytest_plugin.py",),
        "the ready-made tests of the pytest plugin, run by an inner pytest",
    ),
    "tracks": (
        ("unit/test_deploy.py", "unit/test_api.py"),
        "per-connection run state, asserted through the versions a run reports",
    ),
    "watchdog": (
        ("reliability/test_waits.py",),
        "the client-side statement bound: only a network partition tests it",
    ),
}

#: Suite conftests allowed beside tests/conftest.py, with why their fixtures stay there.
SUITE_CONFTESTS = {
    "pooler/conftest.py": "PgBouncer processes per session, used by the pooler suite only",
    "realworld/conftest.py": "alembic init output and plain-alembic comparisons (realworld only)",
}


def package_modules() -> list[str]:
    """``a/b`` for every module asyncmig/a/b.py (packages' __init__ and templates aside)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "templates" or path.name in ("__init__.py", "__main__.py"):
            continue
        found.append(relative.with_suffix("").as_posix())
    return found


def unit_test_path(module: str) -> Path:
    """tests/unit/a/test_b.py for module a/b (a private module's underscore dropped)."""
    *folders, name = module.split("/")
    return UNIT.joinpath(*folders, f"test_{name.lstrip('_')}.py")


def test_every_module_has_a_test_module_or_says_where_it_is_tested() -> None:
    missing = [
        f"{m}: add {unit_test_path(m).relative_to(TESTS)} (or list it in COVERED_ELSEWHERE)"
        for m in package_modules()
        if not unit_test_path(m).exists() and m not in COVERED_ELSEWHERE
    ]
    assert missing == []


def test_the_covered_elsewhere_list_is_current() -> None:
    modules = set(package_modules())
    stale = [m for m in COVERED_ELSEWHERE if m not in modules or unit_test_path(m).exists()]
    assert stale == [], "gone, or it has its own test module now: remove it from the list"
    absent = [
        f"{m}: {where}"
        for m, (places, _) in COVERED_ELSEWHERE.items()
        for where in places
        if not (TESTS / where).exists()
    ]
    assert absent == []


def test_every_unit_test_module_mirrors_a_module() -> None:
    mirrored = {unit_test_path(m) for m in package_modules()}
    strays = [
        str(path.relative_to(TESTS))
        for path in sorted(UNIT.rglob("test_*.py"))
        if path not in mirrored
    ]
    assert strays == [], "tests/unit mirrors asyncmig/: name the module it tests"


def test_one_conftest_for_shared_fixtures() -> None:
    conftests = sorted(str(p.relative_to(TESTS)) for p in TESTS.rglob("conftest.py"))
    assert conftests == sorted(["conftest.py", *SUITE_CONFTESTS])


# -- private names -----------------------------------------------------------------------
def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def watched(module: str | None, level: int) -> bool:
    """asyncmig and its modules, and the conftests (``conftest``, ``.conftest``)."""
    if module is None:
        return False
    return (level == 0 and module.split(".")[0] == "asyncmig") or module == "conftest"


def private_imports(source: str) -> list[str]:
    """Each private asyncmig or conftest name ``source`` imports or reads, as ``line: name``.

    Catches ``from asyncmig.m import _x``, ``from asyncmig._m import x``, ``import
    asyncmig._m``, ``from conftest import _x``, ``m._x`` on a name bound to something
    imported from asyncmig, and ``"asyncmig.m._x"`` strings (monkeypatch targets).
    """
    tree = ast.parse(source)
    found: list[str] = []
    bound: set[str] = set()  # local names of what was imported from asyncmig
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "asyncmig":
                    continue
                if any(is_private(part) for part in alias.name.split(".")):
                    found.append(f"{node.lineno}: {alias.name}")
                bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and watched(node.module, node.level):
            module = node.module or ""
            if any(is_private(part) for part in module.split(".")):
                found.append(f"{node.lineno}: {module}")
            for alias in node.names:
                if is_private(alias.name):
                    found.append(f"{node.lineno}: {module}.{alias.name}")
                if module != "conftest":
                    bound.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and is_private(node.attr)
            and isinstance(node.value, (ast.Name, ast.Attribute))
            and ast.unparse(node.value).split(".")[0] in bound
        ):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"asyncmig(\.\w+)*", node.value)
            and any(is_private(part) for part in node.value.split("."))
        ):
            found.append(f"{node.lineno}: {node.value!r}")
    return sorted(set(found), key=lambda entry: (int(entry.split(":")[0]), entry))


def test_the_private_name_check_finds_each_form() -> None:
    source = (
        "import asyncmig\n"
        "import asyncmig._typerfast\n"
        "from asyncmig.engineargs import _BOOLS, KeyVerdict\n"
        "from asyncmig._connparams_pg import LIBPQ\n"
        "from conftest import _pg_admin, Project\n"
        "from .conftest import _helper\n"
        "from asyncmig import engineargs as ea\n"
        "ea._INTS, asyncmig.urls._parse, asyncmig.__version__, KeyVerdict.__name__\n"
        "target = 'asyncmig.runner._execute'\n"
        "from other import _fine\n"
        "other._fine\n"
    )
    assert private_imports(source) == [
        "2: asyncmig._typerfast",
        "3: asyncmig.engineargs._BOOLS",
        "4: asyncmig._connparams_pg",
        "5: conftest._pg_admin",
        "6: conftest._helper",
        "8: asyncmig.urls._parse",
        "8: ea._INTS",
        "9: 'asyncmig.runner._execute'",
    ]


def test_no_test_imports_a_private_name() -> None:
    offenders = {
        str(path.relative_to(TESTS)): found
        for path in sorted(TESTS.rglob("*.py"))
        if path != Path(__file__).resolve()
        and (found := private_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
