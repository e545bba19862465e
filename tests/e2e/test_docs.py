"""The docs cover the CLI as it is: every command, every flag, every exit code.

Commands and options are introspected from the Typer app, so adding a command or
a flag without documenting it fails here (as sqlite-utils does). The README's
quickstart is run for real against a copy of examples/quickstart.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer.main
from support.projects import make_project
from support.scripts import run_script
from typer.testing import Result

from asyncmig.cli import EXIT_CODES, app
from asyncmig.errors import ExitCode
from asyncmig.options import specs
from asyncmig.settings import ALEMBIC_KEYS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
QUICKSTART = ROOT / "examples" / "quickstart"

#: Options every command has through Click; not documented per command.
IMPLICIT = {"-h", "--help"}

_GROUP: Any = typer.main.get_command(app)
COMMANDS: dict[str, Any] = {n: c for n, c in _GROUP.commands.items() if not c.hidden}
#: Alembic's spellings of two-word commands (``ensure_version``), accepted and hidden.
ALIASES: list[str] = sorted(n for n, c in _GROUP.commands.items() if c.hidden)


def _sections() -> dict[str, tuple[Path, str]]:
    """``## asyncmig <name>`` sections of docs/commands/*.md: name -> (page, section text)."""
    found: dict[str, tuple[Path, str]] = {}
    for page in sorted((DOCS / "commands").glob("*.md")):
        text = page.read_text(encoding="utf-8")
        parts = re.split(r"^## asyncmig ([\w-]+)[ \t]*$", text, flags=re.MULTILINE)
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            assert name not in found, f"asyncmig {name} documented twice"
            found[name] = (page, body)
    return found


SECTIONS = _sections()


def _flags(command: Any) -> list[str]:
    """Every option string of a command (Click's Option objects; arguments are not flags)."""
    return [
        flag
        for param in command.params
        if param.param_type_name == "option"
        for flag in (*param.opts, *param.secondary_opts)
        if flag not in IMPLICIT
    ]


def _mentions(text: str, flag: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_a_docs_section(name: str) -> None:
    assert name in SECTIONS, f"no '## asyncmig {name}' heading in docs/commands/*.md"


@pytest.mark.parametrize("name", ALIASES)
def test_every_alias_is_documented(name: str) -> None:
    text = "\n".join(body for _, body in SECTIONS.values())
    assert _mentions(text, name), f"Alembic's spelling {name} is not mentioned in docs/commands"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_flag_is_documented_in_its_section(name: str) -> None:
    _, body = SECTIONS[name]
    missing = [flag for flag in _flags(COMMANDS[name]) if not _mentions(body, flag)]
    assert not missing, f"asyncmig {name}: undocumented flags {missing}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_section_lists_its_exit_codes(name: str) -> None:
    _, body = SECTIONS[name]
    assert "Exit codes:" in body, f"asyncmig {name}: no 'Exit codes:' line"
    assert "**0**" in body


def test_no_docs_section_for_a_command_that_does_not_exist() -> None:
    assert set(SECTIONS) <= set(COMMANDS)


def test_every_global_option_is_documented() -> None:
    text = (DOCS / "global-options.md").read_text(encoding="utf-8")
    missing = [flag for flag in _flags(_GROUP) if not _mentions(text, flag)]
    assert not missing, f"undocumented global options: {missing}"


def test_global_option_environment_variables_are_documented() -> None:
    text = (DOCS / "global-options.md").read_text(encoding="utf-8")
    names = ["ALEMBIC_CONFIG", "DATABASE_URL", "ASYNCMIG_URL", "ASYNCMIG_SQLALCHEMY_"]
    names += [spec.env for spec in specs().values() if spec.env]
    assert [name for name in names if name not in text] == []


def test_every_option_of_the_spec_is_documented() -> None:
    """Each option in asyncmig.options: its flags in global-options.md, its ini key in the
    example ini, its API name in api.md."""
    flags_text = (DOCS / "global-options.md").read_text(encoding="utf-8")
    ini_text = (ROOT / "alembic.ini.example").read_text(encoding="utf-8")
    api_text = (DOCS / "api.md").read_text(encoding="utf-8")
    for name, spec in specs().items():
        assert all(_mentions(flags_text, flag) for flag in spec.flags), name
        assert spec.ini is None or spec.ini in ini_text, name
        assert f"`{name}`" in api_text, name


def test_every_exit_code_is_documented() -> None:
    text = (DOCS / "exit-codes.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert f"| {int(code)} | `{code.name}` |" in text, code


def test_help_ends_with_the_exit_codes(cli: Callable[..., Result]) -> None:
    result = cli("--help")
    assert result.exit_code == 0, result.output
    assert " ".join(EXIT_CODES.split()) in " ".join(result.stdout.split())
    for code in ExitCode:
        if code != ExitCode.OK:
            assert f"{int(code)} " in result.stdout, code


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_help_ends_with_the_exit_codes(cli: Callable[..., Result], name: str) -> None:
    result = cli(name, "--help")
    assert result.exit_code == 0, result.output
    assert " ".join(result.stdout.split()).endswith(" ".join(EXIT_CODES.split()))


def test_example_ini_names_every_key_asyncmig_reads() -> None:
    text = (ROOT / "alembic.ini.example").read_text(encoding="utf-8")
    ini_keys = [spec.ini for spec in specs().values() if spec.ini]
    keys = [*ALEMBIC_KEYS, "sqlalchemy.url", *ini_keys]
    keys.remove("version_path_separator")  # legacy spelling, mentioned in prose
    missing = [k for k in keys if not re.search(rf"^#? ?{re.escape(k)} =", text, re.MULTILINE)]
    assert missing == []
    assert "version_path_separator" in text


def test_example_ini_is_a_working_config(cli: Callable[..., Result], tmp_path: Path) -> None:
    make_project(tmp_path)
    shutil.copy(ROOT / "alembic.ini.example", tmp_path / "alembic.ini")
    result = cli("show-config", "--json")
    assert result.exit_code == 0, result.output
    assert f"sqlite+aiosqlite:///{tmp_path}/app.db" in result.stdout
    result = cli("upgrade", "head")
    assert result.exit_code == 0, result.output


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    return re.findall(r"\]\(([^)\s]+)\)", text)


OWN_PAGES = [
    README,
    DOCS / "index.md",
    DOCS / "global-options.md",
    DOCS / "exit-codes.md",
    DOCS / "templates.md",
    *sorted((DOCS / "commands").glob("*.md")),
]


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", OWN_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for link in _links(page):
        if re.match(r"^[a-z]+:", link):
            continue
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(link)
        elif anchor and path.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
            if anchor not in {_anchor(h) for h in headings}:
                broken.append(link)
    assert broken == []


# -- README ---------------------------------------------------------------------------------
def _quickstart() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Quickstart")
    return text[start : text.index("\n## ", start + 1)]


def _shell_blocks(text: str) -> list[list[str]]:
    return [block.strip().splitlines() for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL)]


def test_readme_quickstart_first_and_second_commands() -> None:
    blocks = _shell_blocks(_quickstart())
    assert blocks[0] == ["pip install . && cd examples/quickstart && asyncmig upgrade head"]
    assert ["pip install -e '.[test]' && pytest"] in blocks
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "set -euo pipefail" in ci
    assert re.search(r"^pytest( |$)", ci, re.MULTILINE), ".ci/run must run the README's pytest"
    assert os.stat(ROOT / ".ci" / "run").st_mode & stat.S_IXUSR


def test_readme_quickstart_runs(tmp_path: Path) -> None:
    """Every ``asyncmig`` command of the quickstart, in order, on a copy of the example."""
    project = tmp_path / "quickstart"
    skip = shutil.ignore_patterns("*.db", "*.lock", "__pycache__")
    shutil.copytree(QUICKSTART, project, ignore=skip)
    text = _quickstart()
    commands = [
        part.strip()
        for block in _shell_blocks(text[: text.index("Your own project")])
        for line in block
        for part in line.split("&&")
        if part.strip().startswith("asyncmig ")
    ]
    assert commands[0] == "asyncmig upgrade head"
    assert len(commands) > 3
    for i, command in enumerate(commands):
        result = run_script(*command.split()[1:], cwd=project)
        assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
        if i == 0:
            assert "Upgraded 2 revisions" in result.stdout
            assert "the database is at 0002." in result.stdout
    assert (project / "quickstart.db").is_file()
    final = run_script("status", "--json", cwd=project)
    assert final.returncode == 0, final.stderr
    assert '"up_to_date": true' in final.stdout


def test_quickstart_example_is_clean() -> None:
    """The example ignores the database and lock file the quickstart creates in it."""
    ignore = (QUICKSTART / ".gitignore").read_text(encoding="utf-8").split()
    assert "*.db" in ignore
    assert "*-asyncmig.lock" in ignore
    assert "sqlite+aiosqlite:///%(here)s/quickstart.db" in (QUICKSTART / "alembic.ini").read_text()


def test_documented_relative_downgrade_is_not_taken_for_an_option(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    """docs/commands/migrating.md promises ``asyncmig downgrade -1``, as in alembic."""
    ids = make_project(tmp_path).revisions(2)
    assert cli("-q", "upgrade", "head").exit_code == 0
    result = cli("downgrade", "-1")
    assert result.exit_code == 0, result.output
    assert "Downgraded 1 revision in" in result.stdout
    assert cli("current").stdout.strip() == ids[0]
