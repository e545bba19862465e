"""What a config's text becomes as an engine argument: the kinds of ``create_engine``'s
arguments, and the coercion of a value to its kind.

Split out of :mod:`asyncmig.engineargs` (which decides, per ``sqlalchemy.*`` key, whether
the engine gets it): these tables say *how* a value must reach the engine, because
``engine_from_config`` leaves booleans, integers and dicts as strings, which are wrong as
strings (``"false"`` is truthy; a ``connect_args`` string fails).
"""

from __future__ import annotations

import ast
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engineargs import EngineArguments


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Arguments ``create_engine`` / ``create_async_engine`` pop by name before the class stages.
CREATE_ENGINE_OWN = _names(
    "connect_args creator async_creator enable_from_linting future module plugins pool "
    "poolclass strategy empty_in_strategy"
)

#: ``create_engine`` computes these itself; a value from a config can only break it.
INTERNAL = frozenset({"cls", "compiler_linting", "dbapi", "dialect", "url"})

#: Arguments that need a Python object, which a config value (text) cannot be.
OBJECTS = {
    "creator": "a Python callable",
    "async_creator": "an async Python callable",
    "module": "a DBAPI module",
    "pool": "a Pool instance",
    "pool_events": "a list of (listener, event name) pairs",
    "json_serializer": "a Python callable",
    "json_deserializer": "a Python callable",
    "plugins": "a list of plugin names (or name them in the URL: ?plugin=NAME)",
}

#: The kinds of the arguments SQLAlchemy does not coerce itself, for create_engine, the
#: pools, Engine, DefaultDialect and the async dialects SQLAlchemy ships (a test checks
#: that every argument they accept has one).
BOOLS = _names(
    "enable_from_linting hide_parameters pool_pre_ping pool_use_lifo implicit_returning "
    "server_side_cursors skip_autocommit_rollback supports_native_boolean use_insertmanyvalues "
    "native_inet_types use_native_hstore native_datetime is_mariadb auto_convert_lobs "
    "coerce_to_decimal enable_offset_fetch optimize_limits use_ansi use_binds_for_limits "
    "use_nchar_for_unicode deprecate_large_types fast_executemany "
    "ignore_no_transaction_on_rollback supports_comments use_scope_identity "
    "use_setinputsizes"
)
INTS = _names(
    "query_cache_size label_length max_identifier_length insertmanyvalues_page_size "
    "pool_recycle pool_size max_overflow pool_timeout arraysize query_timeout"
)
DICTS = frozenset({"connect_args", "execution_options"})
#: Text the engine takes as it is (SQLAlchemy or the driver checks it on connect).
TEXTS = _names(
    "isolation_level logging_name pool_logging_name client_encoding encoding_errors schema_name"
)
CHOICES = {
    "pool_reset_on_return": ("rollback", "commit", "none"),
    "paramstyle": ("qmark", "numeric", "numeric_dollar", "named", "format", "pyformat"),
}
#: Values SQLAlchemy refuses for an async engine on NullPool, with why.
REFUSED_VALUES: dict[str, tuple[Any, str]] = {
    "future": (False, "not valid: create_engine accepts only future=true"),
    "server_side_cursors": (
        True,
        "not valid for an async engine: SQLAlchemy refuses server_side_cursors=true "
        "(use connection.stream())",
    ),
}


class UnusableValue(ValueError):
    """A value the engine cannot take; the message is the verdict's reason."""


def as_bool(text: str) -> bool:
    from sqlalchemy.util import asbool

    try:
        return asbool(text)
    except ValueError:
        raise UnusableValue(f"not a valid boolean: {text!r} (use true or false)") from None


def as_int(text: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise UnusableValue(f"not a valid integer: {text!r}") from None


def as_dict(text: str) -> dict[str, Any]:
    """JSON, else a Python literal; never quotes the text (it may hold a password)."""
    example = 'use JSON or a Python dict literal, e.g. {"timeout": 3}'
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise UnusableValue(f"not a valid dict: {example}") from None
    if not isinstance(value, dict):
        raise UnusableValue(f"not a valid dict: the value is a {type(value).__name__}; {example}")
    if not all(isinstance(k, str) for k in value):
        raise UnusableValue(f"not a valid dict: its keys must be strings; {example}")
    return value


def coerce_value(arg: str, text: str, args: EngineArguments) -> tuple[Any, bool]:
    """The value the engine gets for ``arg``, and whether env.py must be handed it coerced
    (``engine_from_config`` would pass it on as a string); :class:`UnusableValue` says why none."""
    from sqlalchemy import util

    coerced = True
    if arg in OBJECTS:
        raise UnusableValue(
            f"not settable from a config: {arg} needs {OBJECTS[arg]}; pass it in env.py"
        )
    if arg in args.config_types:
        convert = args.config_types[arg]
        try:
            value = convert(text)
        except ValueError:
            if convert is util.asint:
                raise UnusableValue(f"not a valid integer: {text!r}") from None
            if convert is util.asbool:
                raise UnusableValue(f"not a valid boolean: {text!r} (use true or false)") from None
            if arg in ("echo", "echo_pool"):
                raise UnusableValue(
                    f"not a valid value: {text!r} (use true, false or debug)"
                ) from None
            raise UnusableValue(f"not a valid value: {text!r}") from None
        coerced = False  # engine_from_config applies the same conversion
    elif arg in BOOLS:
        value = as_bool(text)
    elif arg in INTS:
        value = as_int(text)
    elif arg in DICTS:
        value = as_dict(text)
    elif arg in CHOICES:
        if text not in CHOICES[arg]:
            raise UnusableValue(f"not a valid value: {text!r} (use {', '.join(CHOICES[arg])})")
        value, coerced = text, False
    else:
        value, coerced = text, False
    refused = REFUSED_VALUES.get(arg)
    if refused is not None and value == refused[0]:
        raise UnusableValue(refused[1])
    return value, coerced
