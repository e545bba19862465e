"""A verdict for every ``sqlalchemy.*`` key: what the engine gets from it, or why nothing.

``create_engine`` consumes its keyword arguments in stages and raises
``TypeError: Invalid argument(s) ...`` for any left over: its own named
arguments, then ``util.get_cls_kwargs`` of the dialect class, the keywords of
the dialect's ``import_dbapi``, ``get_cls_kwargs`` of the pool class (``pool_``
names translated) and of ``Engine``. :func:`engine_arguments` computes the same
sets from the classes alone, so a typo is caught before anything connects and
without importing the driver (``_get_entrypoint()`` loads the dialect class;
the DBAPI is imported only when a dialect is instantiated).

Values are coerced as the engine must receive them (:mod:`asyncmig.engine_values`):
the dialect's ``engine_config_types`` (what ``engine_from_config`` applies itself), then
the booleans, integers and dicts it leaves as strings, which are wrong as strings
(``"false"`` is truthy; a ``connect_args`` string fails).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .engine_values import (
    CREATE_ENGINE_OWN,
    INTERNAL,
    UnusableValue,
    coerce_value,
)
from .errors import ConfigError
from .settings import PREFIX, URL_KEY, Setting, Settings
from .urls import MASK, mask_text, mask_url, render_url

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

Status = Literal["used", "overridden", "dropped", "unusable"]

#: The pool every migration engine gets (asyncmig's env.py and Alembic's templates pass it).
POOLCLASS = "NullPool"


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
        set(CREATE_ENGINE_OWN)
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
    names = sorted((args.accepted | args.pool_only) - INTERNAL)
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
            return coerce_value(arg, text, args)[0]
        except UnusableValue:
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
    if arg in INTERNAL or arg.startswith("_") or not arg:
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
        value, coerced = coerce_value(arg, text, args)
    except UnusableValue as exc:
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
