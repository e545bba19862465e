"""The options and arguments several commands share (``--sql``, ``--json``, ``-v``...),
declared once for :mod:`asyncmig.cli_commands`, :mod:`asyncmig.cli_scripts` and the other
command modules."""

from __future__ import annotations

from typing import Annotated

import typer

from .cli import CliState


def json_mode(ctx: typer.Context, value: bool) -> bool:
    if value and isinstance(ctx.obj, CliState):
        ctx.obj.json_owed = True
    return value


SqlOpt = Annotated[
    bool, typer.Option("--sql", help="Don't touch the database: print the SQL (offline mode).")
]
TagOpt = Annotated[
    str | None, typer.Option("--tag", help="Arbitrary tag for custom env.py scripts.")
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        callback=json_mode,
        help="Print one JSON document on stdout, also on failure (with an 'error' object).",
    ),
]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="Verbose output.")]
LintOpt = Annotated[
    bool,
    typer.Option(
        "--lint",
        help="Lint the revisions first (asyncmig lint); exit 4 on an error-level finding.",
    ),
]
ValidateOpt = Annotated[
    bool,
    typer.Option(
        "--validate",
        help="Validate the history first (asyncmig validate); exit 4 on a problem, before "
        "anything is applied.",
    ),
]
AllOpt = Annotated[
    bool,
    typer.Option(
        "-a",
        "--all",
        help="Every revision, applied or pending, with when and by which deploy it was "
        "applied (from the history table).",
    ),
]
MessageOpt = Annotated[str | None, typer.Option("-m", "--message", help="Message of the revision.")]
BranchLabelOpt = Annotated[
    str | None, typer.Option("--branch-label", help="Branch label for the new revision.")
]
RevIdOpt = Annotated[
    str | None, typer.Option("--rev-id", help="Revision id to use instead of a generated one.")
]
