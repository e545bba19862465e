"""Alembic's whole command-line interface, walked from Alembic's own parser.

Every command and every option spelling Alembic's ``CommandLine`` offers must be
accepted by asyncmig, and ``config.cmd_opts`` must be the Namespace Alembic's
parser builds. The lists come from the installed Alembic, so a new release that
adds a command or an option fails here until asyncmig takes it too.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest
import typer.main
from alembic.config import CommandLine

from asyncmig.cli import app
from asyncmig.cmdopts import alembic_namespace

PARSER = CommandLine(prog="alembic").parser
GROUP: Any = typer.main.get_command(app)
#: Values for options and positionals that take one.
VALUES = {
    "config": "alembic.ini",
    "name": "alembic",
    "x": "tenant=acme",
    "template": "generic",
    "message": "a message",
    "tag": "blue",
    "head": "head",
    "depends_on": "0001",
    "rev_id": "0002",
    "version_path": "versions",
    "branch_label": "feature",
    "rev_range": "base:head",
    "directory": "migrations",
    "revision": "head",
    "revisions": "head",
    "rev": "head",
}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    (action,) = (a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


SUBPARSERS = _subparsers()
GLOBAL_OPTIONS = [a for a in PARSER._actions if a.option_strings and a.dest != "help"]


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _arguments(action: argparse.Action) -> list[str]:
    """Command-line words for one argparse action (each of its spellings gets a test)."""
    return [VALUES[action.dest]] if _takes_value(action) else []


def _positionals(parser: argparse.ArgumentParser) -> list[str]:
    return [VALUES[a.dest] for a in parser._actions if not a.option_strings]


def _parse(args: list[str]) -> Any:
    """Parse like asyncmig does, without running anything."""
    root = GROUP.make_context("asyncmig", list(args), resilient_parsing=False)
    words = [*getattr(root, "_protected_args", getattr(root, "protected_args", [])), *root.args]
    name, cmd, rest = GROUP.resolve_command(root, words)
    assert cmd is not None, args
    return cmd.make_context(name, rest, parent=root)


@pytest.mark.parametrize(
    "spelling",
    [s for a in GLOBAL_OPTIONS if a.dest != "version" for s in a.option_strings],
)
def test_every_global_option_spelling(spelling: str) -> None:
    action = next(a for a in GLOBAL_OPTIONS if spelling in a.option_strings)
    _parse([spelling, *_arguments(action), "current"])


@pytest.mark.parametrize("command", sorted(SUBPARSERS))
def test_every_command_name(command: str) -> None:
    """Alembic's names (``ensure_version``, ``list_templates``) reach the same command."""
    ctx = _parse([command, *_positionals(SUBPARSERS[command])])
    assert ctx.command.name in (command, command.replace("_", "-"))


@pytest.mark.parametrize(
    ("command", "spelling"),
    [
        (name, spelling)
        for name, parser in sorted(SUBPARSERS.items())
        for action in parser._actions
        if action.option_strings and action.dest != "help"
        for spelling in action.option_strings
    ],
)
def test_every_command_option_spelling(command: str, spelling: str) -> None:
    parser = SUBPARSERS[command]
    action = next(a for a in parser._actions if spelling in a.option_strings)
    ctx = _parse([command, spelling, *_arguments(action), *_positionals(parser)])
    value = ctx.params[action.dest]
    expected = VALUES.get(action.dest, True)
    assert value in (expected, [expected]), (command, spelling, value)


def _full_command_line(command: str) -> list[str]:
    """Every option of ``command`` used once, after every global option."""
    parser = SUBPARSERS[command]
    words = ["-c", "alembic.ini", "-n", "alembic", "-x", "tenant=acme", "-x", "dry-run"]
    words += ["--raiseerr", "-q", command]
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            words += [action.option_strings[-1], *_arguments(action)]
    return words + _positionals(parser)


@pytest.mark.parametrize("command", sorted(SUBPARSERS))
def test_cmd_opts_is_the_namespace_alembic_builds(command: str) -> None:
    """env.py reads config.cmd_opts: the same attributes and values as under Alembic."""
    theirs = PARSER.parse_args(_full_command_line(command))
    _, positional, keywords = theirs.cmd
    arguments = {
        name: getattr(theirs, name) for name in [*positional, *keywords] if hasattr(theirs, name)
    }
    ours = alembic_namespace(
        command,
        arguments,
        config_files=theirs.config,
        section=theirs.name,
        x=theirs.x,
        quiet=theirs.quiet,
        raiseerr=theirs.raiseerr,
    )
    assert vars(ours) == vars(theirs)


@pytest.mark.parametrize("command", sorted(SUBPARSERS))
def test_cmd_opts_defaults_are_alembic_defaults(command: str) -> None:
    """With no options given, every attribute has Alembic's default."""
    theirs = PARSER.parse_args([command, *_positionals(SUBPARSERS[command])])
    _, positional, _ = theirs.cmd
    arguments = {name: getattr(theirs, name) for name in positional}
    assert vars(alembic_namespace(command, arguments)) == vars(theirs)
