"""A verdict for every ``sqlalchemy.*`` key: what the engine gets from it, or why nothing.

``create_engine`` consumes its keyword arguments in stages and raises
``TypeError: Invalid argument(s) ...`` for any left over: its own named
arguments, then ``util.get_cls_kwargs`` of the dialect class, the keywords of
the dialect's ``import_dbapi``, ``get_cls_kwargs`` of the pool class (``pool_``
names translated) and of ``Engine``. :func:`engine_arguments` computes the same
sets from the classes alone, so a typo is caught before anything connects and
without importing the driver (``_get_entrypoint()`` loads the dialect class;
the DBAPI is imported only when a dialect is instantiated).

Values are coerced as the engine must receive them: the dialect's
``engine_config_types`` (what ``engine_from_config`` applies itself), then the
booleans, integers and dicts it leaves as strings, which are wrong as strings
(``"false"`` is truthy; a ``connect_args`` string fails).
"""

from __future__ import annotations

import ast
import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .errors import ConfigError
from .settings import PREFIX, URL_KEY, Setting, Settings
from .urls import MASK, mask_text, mask_url, render_url

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

Status = Literal["used", "overridden", "dropped", "unusable"]

#: The pool every migration engine gets (asyncmig's env.py and Alembic's templates pass it).
POOLCLASS = "NullPool"


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Arguments ``create_engine`` / ``create_async_engine`` pop by name before the class stages.
_CREATE_ENGINE_OWN = _names(
    "connect_args creator async_creator enable_from_linting future module plugins pool "
    "poolclass strategy empty_in_strategy"
)

#: ``create_engine`` computes these itself; a value from a config can only break it.
_INTERNAL = frozenset({"cls", "compiler_linting", "dbapi", "dialect", "url"})

#: Arguments that need a Python object, which a config value (text) cannot be.
_OBJECTS = {
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
_BOOLS = _names(
    "enable_from_linting hide_parameters pool_pre_ping pool_use_lifo implicit_returning "
    "server_side_cursors skip_autocommit_rollback supports_native_boolean use_insertmanyvalues "
    "native_inet_types use_native_hstore native_datetime is_mariadb auto_convert_lobs "
    "coerce_to_decimal enable_offset_fetch optimize_limits use_ansi use_binds_for_limits "
    "use_nchar_for_unicode deprecate_large_types fast_executemany "
    "ignore_no_transaction_on_rollback supports_comments use_scope_identity "
    "use_setinputsizes"
)
_INTS = _names(
    "query_cache_size label_length max_identifier_length insertmanyvalues_page_size "
    "pool_recycle pool_size max_overflow pool_timeout arraysize query_timeout"
)
_DICTS = frozenset({"connect_args", "execution_options"})
#: Text the engine takes as it is (SQLAlchemy or the driver checks it on connect).
_TEXTS = _names(
    "isolation_level logging_name pool_logging_name client_encoding encoding_errors schema_name"
)
_CHOICES = {
    "pool_reset_on_return": ("rollback", "commit", "none"),
    "paramstyle": ("qmark", "numeric", "numeric_dollar", "named", "format", "pyformat"),
}
#: Values SQLAlchemy refuses for an async engine on NullPool, with why.
_REFUSED_VALUES: dict[str, tuple[Any, str]] = {
    "future": (False, "not valid: create_engine accepts only future=true"),
    "server_side_cursors": (
        True,
        "not valid for an async engine: SQLAlchemy refuses server_side_cursors=true "
        "(use connection.stream())",
    ),
}
# Until SQLAlchemy 2.0.10 this mapping lived inside create_engine.
_POOL_TRANSLATE_FALLBACK = {
    "logging_name": "pool_logging_name",
    "echo": "echo_pool",
    "timeout": "pool_timeout",
    "recycle": "pool_recycle",
    "events": "pool_events",
    "reset_on_return": "pool_reset_on_return",
    "pre_ping": "pool_pre_ping",
    "use_lifo": "pool_use_lifo",
}
_SECRET_NAME = re.compile(r"pass|secret|token", re.IGNORECASE)


@dataclass(frozen=True)
class KeyVerdict:
    """One ``sqlalchemy.*`` key: whether the engine gets it, as what, and why (not)."""

    key: str
    engine_arg: str
    source: str
    status: Status
    #: The coerced value with secrets masked: for display and JSON.
    value: Any
    #: One line, None for a plain ``used`` key.
    reason: str | None = None
    #: The key the user probably meant (``sqlalchemy.echo`` for ``sqlalchemy.echoo``).
    suggestion: str | None = None
    #: What env.py's ``config.get_section()`` must hold for this key (real secrets):
    #: the text where SQLAlchemy coerces it itself or takes text, else the coerced value.
    section_value: Any = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "engine_arg": self.engine_arg,
            "value": self.value,
            "source": self.source,
            "status": self.status,
            "reason": self.reason,
            "suggestion": self.suggestion,
        }

    def problem(self) -> str:
        """The one-line error for an unusable key (names the key and its source)."""
        return f"{self.key} from {self.source} is {self.reason}"


@dataclass(frozen=True)
class EngineArguments:
    """The keyword arguments ``create_async_engine`` accepts for one URL, as it decides."""

    driver: str
    #: Accepted with ``poolclass=NullPool``.
    accepted: frozenset[str]
    #: Accepted by the queue pools only (``pool_size``...): NullPool refuses them.
    pool_only: frozenset[str]
    #: ``engine_from_config``'s own coercion (the dialect's ``engine_config_types``).
    config_types: Mapping[str, Callable[[Any], Any]]
    #: CreateEnginePlugin names in the URL; they may consume any other argument.
    plugins: tuple[str, ...] = ()


def engine_arguments(url: URL) -> EngineArguments:
    """What ``create_async_engine(url, poolclass=NullPool, ...)`` would accept, and coerce."""
    from sqlalchemy import pool, util
    from sqlalchemy.engine import base

    translate: Mapping[str, str]
    try:
        from sqlalchemy.engine.create import _pool_translate_kwargs as translate
    except ImportError:  # pragma: no cover - SQLAlchemy < 2.0.10
        translate = _POOL_TRANSLATE_FALLBACK
    try:
        dialect_cls = url._get_entrypoint().get_async_dialect_cls(url)
    except Exception as exc:  # NoSuchModuleError, or a broken third-party dialect
        raise ConfigError(f"cannot load the SQLAlchemy dialect {url.drivername}: {exc}") from exc

    def pool_args(pool_cls: type) -> set[str]:
        return {translate.get(k, k) for k in util.get_cls_kwargs(pool_cls)}

    common = (
        set(_CREATE_ENGINE_OWN)
        | util.get_cls_kwargs(dialect_cls)
        | set(util.get_func_kwargs(dialect_cls.import_dbapi))
        | util.get_cls_kwargs(base.Engine)
    )
    nullpool = pool_args(pool.NullPool)
    # The queue pool's arguments are dropped whatever the URL's default pool (StaticPool
    # for SQLite in memory): ini files share them with the application's engine.
    own_pool: type = dialect_cls.get_pool_class(url)  # type: ignore[attr-defined]
    default_pool = pool_args(own_pool) | pool_args(pool.AsyncAdaptedQueuePool)
    hidden = {k for k in common | nullpool | default_pool if k.startswith("_")}
    accepted = frozenset((common | nullpool) - hidden)
    plugin = url.query.get("plugin", ())
    plugins = (plugin,) if isinstance(plugin, str) else tuple(plugin)
    return EngineArguments(
        driver=url.drivername,
        accepted=accepted,
        pool_only=frozenset(default_pool - accepted - hidden),
        config_types=dict(dialect_cls.engine_config_types),
        plugins=plugins,
    )


class _Unusable(ValueError):
    """A value the engine cannot take; the message is the verdict's reason."""


def _as_bool(text: str) -> bool:
    from sqlalchemy.util import asbool

    try:
        return asbool(text)
    except ValueError:
        raise _Unusable(f"not a valid boolean: {text!r} (use true or false)") from None


def _as_int(text: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise _Unusable(f"not a valid integer: {text!r}") from None


def _as_dict(text: str) -> dict[str, Any]:
    """JSON, else a Python literal; never quotes the text (it may hold a password)."""
    example = 'use JSON or a Python dict literal, e.g. {"timeout": 3}'
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise _Unusable(f"not a valid dict: {example}") from None
    if not isinstance(value, dict):
        raise _Unusable(f"not a valid dict: the value is a {type(value).__name__}; {example}")
    if not all(isinstance(k, str) for k in value):
        raise _Unusable(f"not a valid dict: its keys must be strings; {example}")
    return value


def _coerce(arg: str, text: str, args: EngineArguments) -> tuple[Any, bool]:
    """The value the engine gets for ``arg``, and whether env.py must be handed it coerced
    (``engine_from_config`` would pass it on as a string); :class:`_Unusable` says why none."""
    from sqlalchemy import util

    coerced = True
    if arg in _OBJECTS:
        raise _Unusable(
            f"not settable from a config: {arg} needs {_OBJECTS[arg]}; pass it in env.py"
        )
    if arg in args.config_types:
        convert = args.config_types[arg]
        try:
            value = convert(text)
        except ValueError:
            if convert is util.asint:
                raise _Unusable(f"not a valid integer: {text!r}") from None
            if convert is util.asbool:
                raise _Unusable(f"not a valid boolean: {text!r} (use true or false)") from None
            if arg in ("echo", "echo_pool"):
                raise _Unusable(f"not a valid value: {text!r} (use true, false or debug)") from None
            raise _Unusable(f"not a valid value: {text!r}") from None
        coerced = False  # engine_from_config applies the same conversion
    elif arg in _BOOLS:
        value = _as_bool(text)
    elif arg in _INTS:
        value = _as_int(text)
    elif arg in _DICTS:
        value = _as_dict(text)
    elif arg in _CHOICES:
        if text not in _CHOICES[arg]:
            raise _Unusable(f"not a valid value: {text!r} (use {', '.join(_CHOICES[arg])})")
        value, coerced = text, False
    else:
        value, coerced = text, False
    refused = _REFUSED_VALUES.get(arg)
    if refused is not None and value == refused[0]:
        raise _Unusable(refused[1])
    return value, coerced


def _mask(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` for display: URL passwords, known secrets and password-like dict entries."""
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, dict):
        return {
            k: MASK if _SECRET_NAME.search(str(k)) and v else _mask(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_mask(v, secrets) for v in value]
    return value


def _suggest(arg: str, args: EngineArguments) -> str | None:
    names = sorted((args.accepted | args.pool_only) - _INTERNAL)
    close = difflib.get_close_matches(arg, names, n=1, cutoff=0.75)
    return PREFIX + close[0] if close else None


def _verdict(setting: Setting, args: EngineArguments, secrets: Sequence[str]) -> KeyVerdict:
    arg = setting.key[len(PREFIX) :]

    def make(
        status: Status,
        value: Any,
        reason: str | None = None,
        suggestion: str | None = None,
        section_value: Any = None,
    ) -> KeyVerdict:
        return KeyVerdict(
            key=setting.key,
            engine_arg=arg,
            source=setting.source,
            status=status,
            value=MASK if _SECRET_NAME.search(arg) and value else _mask(value, secrets),
            reason=reason,
            suggestion=suggestion,
            section_value=section_value,
        )

    def best_effort(text: str) -> Any:
        try:
            return _coerce(arg, text, args)[0]
        except _Unusable:
            return text

    text = setting.value
    if arg == "poolclass":
        return make("overridden", text, f"overridden by poolclass={POOLCLASS}")
    if arg == "empty_in_strategy":
        return make("dropped", text, "SQLAlchemy ignores empty_in_strategy (deprecated in 1.4)")
    if arg in args.pool_only:
        return make("dropped", best_effort(text), f"{POOLCLASS} takes no {arg} argument")
    if arg == "strategy":
        reason = "not usable: create_engine takes only strategy=mock, which builds no real engine"
        return make("unusable", text, reason)
    if arg in _INTERNAL or arg.startswith("_") or not arg:
        return make("unusable", text, f"not settable: create_engine sets {arg or '(empty)'} itself")
    if arg not in args.accepted:
        if args.plugins:
            reason = f"not a create_engine argument; left to plugin(s) {', '.join(args.plugins)}"
            return make("used", text, reason, section_value=text)
        suggestion = _suggest(arg, args)
        reason = f"not an engine argument for {args.driver}"
        if suggestion:
            reason += f" (did you mean {suggestion}?)"
        else:
            reason += " (arguments of the driver's connect() go in sqlalchemy.connect_args)"
        return make("unusable", text, reason, suggestion=suggestion)
    try:
        value, coerced = _coerce(arg, text, args)
    except _Unusable as exc:
        return make("unusable", text, str(exc))
    return make("used", value, section_value=value if coerced else text)


def engine_key_verdicts(
    keys: Sequence[Setting], url: URL, *, secrets: Sequence[str] = ()
) -> list[KeyVerdict]:
    """A verdict per key, in the order given; ``sqlalchemy.url`` is always ``used``.

    ``url`` is the normalised URL (the driver the engine will load). ``secrets``
    are masked in ``value`` (the URL's password always is).
    """
    args = engine_arguments(url)
    verdicts = []
    for setting in keys:
        if setting.key == URL_KEY:
            verdicts.append(
                KeyVerdict(
                    key=URL_KEY,
                    engine_arg="url",
                    source=setting.source,
                    status="used",
                    value=mask_url(url),
                    section_value=render_url(url),
                )
            )
        else:
            verdicts.append(_verdict(setting, args, secrets))
    return verdicts


def check_engine_keys(verdicts: Iterable[KeyVerdict]) -> None:
    """Raise :class:`ConfigError` (exit 2) naming the first unusable key and its source."""
    for verdict in verdicts:
        if verdict.status == "unusable":
            raise ConfigError(verdict.problem())


def engine_section(verdicts: Iterable[KeyVerdict]) -> dict[str, Any]:
    """The ``sqlalchemy.*`` entries env.py's ``config.get_section()`` should return.

    Only ``used`` keys (dropped, overridden and unusable ones are left out).
    A value SQLAlchemy coerces itself, or a string argument, stays the string it
    was; booleans, integers and dicts that ``engine_from_config`` would pass on
    as strings (``pool_pre_ping = false`` would be truthy) are the coerced value.
    """
    return {v.key: v.section_value for v in verdicts if v.status == "used"}


def settings_verdicts(settings: Settings) -> list[KeyVerdict]:
    """The verdicts for resolved settings: every ``sqlalchemy.*`` key, dropped ones included.

    Needs the URL (:class:`ConfigError` without one): the driver decides the arguments.
    """
    from sqlalchemy.engine import make_url

    url = make_url(settings.require_url())
    keys = [*settings.sqlalchemy.values()]
    keys += [s for s in settings.dropped if s.key not in settings.sqlalchemy]
    return engine_key_verdicts(keys, url, secrets=settings.secrets)
