"""Keep Pydantic out of the command line's start-up.

Typer (0.25+) coerces every non-flag parameter through a Pydantic ``TypeAdapter``,
built on first use: any ``asyncmig upgrade`` would import Pydantic (~60 ms, ~12 MiB
peak RSS) just to check that a string is a string. asyncmig's parameters are all
``str``, ``Optional[str]`` or lists of them, so they get a plain pass-through
instead, and boolean flags one that passes booleans through. Any other value,
any other annotation, or a Typer without these internals keeps Typer's own coercion.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace, UnionType
from typing import Any, Union, get_args, get_origin

try:
    from typer._coercion import RuntimeParam, build_runtime_param, resolve_type_descriptor

    HAVE_ADAPTERS = True
except ImportError:  # pragma: no cover - a Typer without the adapter layer
    HAVE_ADAPTERS = False


def _kind(annotation: Any) -> str | None:
    """``bool``, ``str`` or ``list`` for the annotations handled here (``X | None`` too)."""
    if annotation is bool:
        return "bool"
    if annotation is str:
        return "str"
    if annotation == list[str]:
        return "list"
    args = get_args(annotation)
    if get_origin(annotation) in (Union, UnionType) and len(args) == 2 and type(None) in args:
        return _kind(args[0] if args[1] is type(None) else args[1])
    return None


if HAVE_ADAPTERS:

    @dataclass(frozen=True)
    class _PassThrough(RuntimeParam):
        """Values of the expected type pass as Typer's adapter would return them."""

        kind: str = "str"

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if self.kind == "list":
                if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                    return list(value)
            elif isinstance(value, bool if self.kind == "bool" else str):
                return value
            descriptor = resolve_type_descriptor(self.annotation, self.parameter_info)
            return build_runtime_param(descriptor)._coerce_value(value, param=param, ctx=ctx)


def install(command: Any, ctx: Any) -> None:
    """Give every string or boolean parameter of ``command`` and its subcommands, their
    ``--help`` options included (made on demand from the context's option names), a
    pass-through."""
    if not HAVE_ADAPTERS:
        return
    try:
        _install(command, ctx)
    except (AttributeError, TypeError):  # pragma: no cover - Typer internals changed
        return  # Typer's own coercion stays in place: slower, never wrong


def _install(command: Any, ctx: Any) -> None:
    stack = [command]
    while stack:
        cmd = stack.pop()
        stack.extend(getattr(cmd, "commands", {}).values())
        names = cmd.context_settings.get("help_option_names", ctx.help_option_names)
        help_option = cmd.get_help_option(SimpleNamespace(help_option_names=names))
        for param in (*cmd.params, *((help_option,) if help_option is not None else ())):
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is None or getattr(param, "_runtime_param", 0) is not None:
                continue
            info = descriptor.parameter_info
            if info.parser is not None or descriptor.file_annotation is not None:
                continue
            kind = _kind(descriptor.annotation)
            if kind is not None:
                param._runtime_param = _PassThrough(
                    parameter_info=info, annotation=descriptor.annotation, kind=kind
                )
