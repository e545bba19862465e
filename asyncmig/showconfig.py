"""``show-config``: the engine's keyword arguments as the engine will receive them.

Coercion is SQLAlchemy's own (``Dialect.engine_config_types``, what
``engine_from_config`` applies), plus the boolean and integer engine arguments
it leaves as strings. Loading the dialect class imports no DB driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .settings import PREFIX, URL_KEY, Settings
from .urls import mask_text, mask_url

if TYPE_CHECKING:
    from .output import Printer

_BOOL_ARGS = frozenset(
    {
        "pool_pre_ping",
        "pool_use_lifo",
        "hide_parameters",
        "implicit_returning",
        "enable_from_linting",
        "future",
        "use_insertmanyvalues",
    }
)
_INT_ARGS = frozenset(
    {
        "pool_recycle",
        "query_cache_size",
        "max_identifier_length",
        "label_length",
        "insertmanyvalues_page_size",
        "pool_size",
        "max_overflow",
        "pool_timeout",
    }
)


def _coerce(types: dict[str, Any], arg: str, value: str) -> Any:
    from sqlalchemy.util import asbool, asint

    if arg in types:
        return types[arg](value)
    if arg in _BOOL_ARGS:
        return asbool(value)
    if arg in _INT_ARGS:
        return asint(value)
    return value


def describe(settings: Settings) -> dict[str, Any]:
    """The JSON report: ``engine`` is exactly what ``async_engine_from_config`` receives."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.require_url())
    types = dict(url.get_dialect().engine_config_types)

    def entry(setting: Any) -> dict[str, Any]:
        arg = setting.key[len(PREFIX) :]
        if setting.key == URL_KEY:
            value: Any = mask_url(url)
        else:
            value = _coerce(types, arg, mask_text(setting.value, settings.secrets))
        return {"key": setting.key, "engine_arg": arg, "value": value, "source": setting.source}

    keys = [entry(s) for s in settings.sqlalchemy.values()]
    engine = {item["engine_arg"]: item["value"] for item in keys}
    engine["poolclass"] = "NullPool"
    return {
        "config_file": str(settings.config_file) if settings.config_file else None,
        "toml_file": str(settings.toml_file) if settings.toml_file else None,
        "section": settings.section,
        "engine": engine,
        "keys": keys,
        "dropped": [{**entry(s), "reason": "not accepted by NullPool"} for s in settings.dropped],
        "alembic": {
            key: {"value": s.value, "source": s.source} for key, s in settings.alembic.items()
        },
        "asyncmig": {
            "wait_timeout": settings.wait_timeout,
            "lock_timeout": settings.lock_timeout,
            "statement_timeout": settings.statement_timeout,
            "pg_lock_timeout": settings.pg_lock_timeout,
        },
    }


def render(printer: Printer, report: dict[str, Any]) -> None:
    """The human form: one table of engine keys, one of Alembic keys."""
    rows = [
        (
            item["key"],
            item["engine_arg"],
            repr(item["value"]) if not isinstance(item["value"], str) else item["value"],
            item["source"],
        )
        for item in report["keys"]
    ]
    rows += [
        (item["key"], "(dropped: NullPool)", str(item["value"]), item["source"])
        for item in report["dropped"]
    ]
    where = report["config_file"] or report["toml_file"]
    printer.table(
        f"Engine (config: {where}, section [{report['section']}], poolclass=NullPool)",
        ("key", "engine argument", "value", "source"),
        rows,
    )
    printer.table(
        "Alembic",
        ("key", "value", "source"),
        [(key, item["value"], item["source"]) for key, item in report["alembic"].items()],
    )
    timeouts = report["asyncmig"]
    printer.table(
        "asyncmig",
        ("setting", "seconds"),
        [(key, "-" if value is None else f"{value:g}") for key, value in timeouts.items()],
    )
