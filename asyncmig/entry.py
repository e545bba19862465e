"""The console script: a no-op answered before the command line is even built.

``asyncmig upgrade head`` on a database with nothing pending is most deploys. Typer
and the command tree cost more than the fast path itself (:mod:`asyncmig.fastpath`),
so :func:`main` first reads the command line the simple way: only the global options
of :mod:`asyncmig.options`, each as ``--flag value`` or ``--flag=value``, then
``upgrade [head|heads] [--json]``, ``status [--json]`` or
``current [-c|--check-heads] [-v|--verbose] [--json]``. The options become exactly
the values the Typer callback would build, so the recording is found under the same
key. Anything else (help, another command or flag, a short option written together
with its value) goes to the full command line (:func:`asyncmig.cli.main`), as does
every request the fast path does not answer, carrying what it learned so that the
database is not asked twice.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fastpath import Request

#: Each command's flags the fast path understands, and the argument each one sets.
_FLAGS: dict[str, dict[str, str]] = {
    "upgrade": {"--json": "json"},
    "status": {"--json": "json"},
    "current": {
        "--json": "json",
        "-c": "check_heads",
        "--check-heads": "check_heads",
        "-v": "verbose",
        "--verbose": "verbose",
    },
}


_COMMANDS = frozenset(_FLAGS)
_HELP = frozenset({"-h", "--help", "--version"})


def parse(argv: list[str]) -> tuple[Request, dict[str, bool]] | None:
    """The request and the command's flags, or None for anything but the simple forms."""
    from .options import CLI_ONLY, specs

    by_flag = {flag: (name, spec) for name, spec in specs().items() for flag in spec.flags}
    switches = {flag: name for name, spec in CLI_ONLY.items() for flag in spec.flags}
    given: dict[str, Any] = {}
    state = {"quiet": False, "traceback": False}
    words = iter(argv)
    for word in words:
        flag, eq, inline = word.partition("=")
        if word in switches:
            state[switches[word]] = True
        elif word in by_flag and by_flag[word][1].cli == "off":
            name = by_flag[word][0]  # --no-history: a switch that turns the option off
            if name in given:
                return None
            given[name] = "false"
        elif flag in by_flag and (eq or word == flag):
            name, spec = by_flag[flag]
            value = inline if eq else next(words, None)
            if value is None:
                return None
            if spec.cli == "list":
                given.setdefault(name, []).append(value)
            elif name in given:
                return None  # given twice: Click's rules, not ours
            else:
                given[name] = value
        elif word in _FLAGS:
            return _command(word, list(words), given, state)
        else:
            return None
    return None


def _command(
    command: str, rest: list[str], given: dict[str, Any], state: dict[str, bool]
) -> tuple[Request, dict[str, bool]] | None:
    from .fastpath import Request
    from .options import specs

    flags = dict.fromkeys(set(_FLAGS[command].values()), False)
    revision = None
    for word in rest:
        if word in _FLAGS[command]:
            flags[_FLAGS[command][word]] = True
        elif command == "upgrade" and revision is None and word in ("head", "heads"):
            revision = word
        else:
            return None
    options: dict[str, Any] = {}
    for name, spec in specs().items():
        if name not in given:
            continue
        value = given[name]
        if spec.cli == "list":
            value = tuple(value)
        elif spec.parse is not None:
            value = spec.parse(value, spec.flags[-1])
        options[name] = value
    arguments: dict[str, Any] = {}
    if command == "upgrade":
        arguments = {
            "revision": revision or "head",
            "sql": False,
            "tag": None,
            "lint": False,
            "validate": False,
        }
    request = Request(command, arguments, options, state["quiet"], state["traceback"])
    return request, flags


def answer(argv: list[str]) -> bool:
    """Answer ``argv`` from the fast path if it can (True: done, exit 0)."""
    from . import fastpath

    try:
        parsed = parse(argv)
    except Exception:  # a value the full command line reports properly
        return False
    if parsed is None:
        return False
    request, flags = parsed
    consulted = fastpath.consult(request)
    fastpath.remember(request, consulted)
    found = consulted.answer
    if found is None:
        return False
    try:
        _write(found, request, flags)
    except BrokenPipeError:  # the reader went away (``| head``): as the full path does
        from .cli import _discard

        _discard(sys.stdout)
    return True


def _write(found: Any, request: Request, flags: dict[str, bool]) -> None:
    from . import render

    found.replay(sys.stdout, sys.stderr)
    printer = render.Printer(sys.stdout, sys.stderr, quiet=request.quiet, json_mode=flags["json"])
    if request.command == "upgrade":
        result = found.run_result(request.arguments["revision"])
        if flags["json"]:
            printer.json(result.to_json())
        else:
            render.summary(printer, result)
    elif request.command == "status":
        status = found.status()
        if flags["json"]:
            printer.json(status.to_json())
        else:
            render.status(printer, status)
    else:
        current = found.current_result()
        if flags["json"]:
            printer.json(current.to_json())
        else:
            render.current(printer, current, verbose=flags["verbose"])
    sys.stdout.flush()


#: Imports the console script refuses, each with the importer that treats it as optional.
#: Mako (imported by every Alembic command) loads its Pygments plugin at import, to colour
#: the HTML error pages of a web framework; Alembic renders none, and falls back to plain
#: text when the plugin is missing. The plugin and Pygments' lexers are 40 modules,
#: ~5 MiB of peak memory and ~20 ms of start-up: a tenth of Alembic's own footprint.
SKIPPED_IMPORTS = ("mako.ext.pygmentplugin",)


def skip_optional_imports() -> None:
    """Make the imports of :data:`SKIPPED_IMPORTS` fail, as if the package were absent
    (``None`` in ``sys.modules``). Only in the console script: a program using the
    library keeps whatever it imports."""
    for name in SKIPPED_IMPORTS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def main() -> None:
    """Console-script entry point."""
    skip_optional_imports()
    argv = sys.argv[1:]
    # Help, version, completion and other commands: straight to the command line.
    try:
        if _COMMANDS.intersection(argv) and not _HELP.intersection(argv) and answer(argv):
            return
    except KeyboardInterrupt:  # Ctrl-C during the connect: the exit code the CLI uses
        sys.exit(130)
    from .cli import main as full

    full()
