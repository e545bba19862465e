"""``config.cmd_opts``: the same argparse Namespace Alembic's own command line builds.

Real env.py files read it (``cmd_opts.autogenerate`` in Alembic's "don't generate
empty migrations" recipe, ``cmd_opts.cmd`` in multi-tenant set-ups, ``cmd_opts.x``),
so it must hold every attribute Alembic's parser sets for the command, with
Alembic's defaults. It is built from Alembic's own option table
(``CommandLine._KWARGS_OPTS``) rather than by running its parser, which would
build twenty sub-parsers on every run; tests compare the two for every command.
"""

from __future__ import annotations

import inspect
from argparse import Namespace
from collections.abc import Mapping, Sequence
from typing import Any


def _signature(fn: Any) -> tuple[list[str], list[str]]:
    """Positional and keyword parameter names, as ``CommandLine._inspect_function`` splits them."""
    from alembic.config import CommandLine

    spec = inspect.getfullargspec(fn)
    names = spec.args[1:]
    count = len(spec.defaults or ())
    positional, keywords = (names[:-count], names[-count:]) if count else (names, [])
    renames = CommandLine._POSITIONAL_TRANSLATIONS.get(fn, {})
    return [renames.get(name, name) for name in positional], keywords


def _default(option: tuple[Any, ...]) -> Any:
    settings: dict[str, Any] = option[-1]
    if settings.get("action") == "store_true":
        return False
    return settings.get("default")


def alembic_namespace(
    command: str,
    arguments: Mapping[str, Any],
    *,
    config_files: Sequence[str] = (),
    section: str = "alembic",
    x: Sequence[str] = (),
    quiet: bool = False,
    raiseerr: bool = False,
) -> Namespace:
    """The Namespace ``alembic [globals] COMMAND [arguments]`` would give env.py.

    ``command`` is Alembic's function name (``upgrade``, ``ensure_version``);
    ``arguments`` are that function's parameters as asyncmig calls it.
    """
    from alembic import command as commands
    from alembic.config import CommandLine

    fn = getattr(commands, command)
    positional, keywords = _signature(fn)
    namespace = Namespace(
        config=list(config_files) or None,
        name=section,
        x=list(x) or None,
        raiseerr=raiseerr,
        quiet=quiet,
        cmd=(fn, positional, keywords),
    )
    for name in positional:
        setattr(namespace, name, arguments.get(name))
    for name in keywords:
        option = CommandLine._KWARGS_OPTS.get(name)
        if option is not None:  # only the options Alembic's parser offers become attributes
            value = arguments.get(name)
            setattr(namespace, name, _default(option) if value is None else value)
    return namespace
