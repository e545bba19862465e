"""URL query parameters translated into what each async driver accepts.

SQLAlchemy hands every URL query key to the driver's ``connect()`` as a keyword
argument. Users paste libpq URLs (``?sslmode=require``) and MySQL-client ones
(``?ssl_mode=REQUIRED``), which asyncpg and asyncmy do not take under those names.
:func:`translate_connect_params` rewrites the arguments so that each parameter
means what its author's tool means by it, and refuses (:class:`ConfigError`)
those the driver cannot honour, before any connection is tried.

The drivers' halves live in :mod:`asyncmig.connparams_pg` and
:mod:`asyncmig.connparams_mysql`. Nothing here imports a DB driver:
``show-config`` uses the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .urls import MASK

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

#: Keys whose values are never shown (libpq marks the first three as secret).
SECRET_KEYS = frozenset(
    {"password", "sslpassword", "oauth_client_secret", "scram_client_key", "scram_server_key"}
    | {"passwd", "ssl_key_password"}
)

_INT_ARGS = {
    "asyncpg": ("statement_cache_size", "max_cached_statement_lifetime",
                "max_cacheable_statement_size", "port"),
    "asyncmy": ("port", "connect_timeout", "read_timeout", "max_allowed_packet",
                "stmt_cache_size", "client_flag"),
}  # fmt: skip
_FLOAT_ARGS = {"asyncpg": ("timeout", "command_timeout")}
_BOOL_ARGS = {
    "asyncpg": ("direct_tls",),
    "psycopg": ("autocommit",),
    "asyncmy": ("autocommit", "binary_prefix", "echo", "local_infile", "use_unicode"),
}
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def translate_connect_params(
    dialect_name: str, driver: str, cparams: Mapping[str, Any]
) -> dict[str, Any]:
    """The keyword arguments ``driver`` should receive for ``cparams`` (from
    ``dialect.create_connect_args(url)`` plus ``connect_args``).

    Raises :class:`ConfigError` naming a parameter the driver cannot honour.
    Idempotent (translating the result again returns it unchanged) and pure but for
    the certificate files the URL names: asyncpg's are checked to exist, asyncmy's
    loaded into an ``ssl.SSLContext``.
    """
    plan = _plan(dialect_name, driver, cparams)
    return {key: v.build() if isinstance(v, Deferred) else v for key, v in plan.items()}


def do_connect_listener(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
    """A ``do_connect`` listener: translate ``cparams`` in place and let the next one connect."""
    translated = translate_connect_params(dialect.name, dialect.driver, cparams)
    cparams.clear()
    cparams.update(translated)


def describe_connect_params(url: URL) -> dict[str, Any]:
    """What the driver will receive for ``url``, secrets masked, without importing it.

    Raises the :class:`ConfigError` a connection would raise, so it doubles as an
    up-front check.
    """
    dialect_cls = url.get_dialect()
    dialect = dialect_cls()
    if (dialect.name, dialect.driver) not in _TRANSLATED:
        # Passed through untouched; their dialects may need the driver to build arguments.
        return {key: _render(key, value) for key, value in url.query.items()}
    if dialect.name == "sqlite":
        _check_sqlite_url(url, dialect.driver)
    elif dialect.name in ("mysql", "mariadb"):
        # asyncmy's dialect imports asyncmy for this one constant (CLIENT.FOUND_ROWS).
        dialect._found_rows_client_flag = lambda: 2  # type: ignore[attr-defined]
    cargs, cparams = dialect.create_connect_args(url)
    if dialect.name == "sqlite" and cargs:
        cparams = {"database": cargs[0], **cparams}
    plan = _plan(dialect.name, dialect.driver, cparams)
    return {key: _render(key, value) for key, value in plan.items()}


_TRANSLATED = {
    ("postgresql", "asyncpg"),
    ("postgresql", "psycopg"),
    ("postgresql", "psycopg_async"),
    ("mysql", "asyncmy"),
    ("mariadb", "asyncmy"),
    ("sqlite", "aiosqlite"),
}


# -- errors -----------------------------------------------------------------------------------
_FIX = {
    "asyncpg": "use postgresql+psycopg:// (libpq) or remove it",
    "asyncmy": "remove it",
    "aiosqlite": "remove it",
}


#: Other drivers' spellings of one parameter, for the did-you-mean hint.
_SPELLINGS = {"ssl": "sslmode", "ssl_mode": "sslmode", "ssl-mode": "sslmode", "sslmode": "ssl_mode"}


def unsupported(
    key: str, driver: str, value: str | None = None, why: str = "", fix: str = ""
) -> ConfigError:
    """``URL parameter 'key' is not supported by driver (why): fix``."""
    what = f"URL parameter {key}={value}" if value is not None else f"URL parameter '{key}'"
    because = f" ({why})" if why else ""
    fix = fix or _FIX.get(driver, "remove it")
    return ConfigError(f"{what} is not supported by {driver}{because}: {fix}")


def unknown(key: str, driver: str, known: frozenset[str]) -> ConfigError:
    close = [_SPELLINGS[key]] if key in _SPELLINGS and _SPELLINGS[key] in known else []
    import difflib

    close = close or difflib.get_close_matches(key, sorted(known), n=1)
    hint = (
        f": did you mean '{close[0]}'?"
        if close
        else "; see 'URL parameters' in docs/configuration.md"
    )
    return ConfigError(f"unknown URL parameter '{key}' for {driver}{hint}")


def bad_value(key: str, value: Any, expected: str, choices: tuple[str, ...] = ()) -> ConfigError:
    shown = MASK if key in SECRET_KEYS else repr(value)
    import difflib

    close = difflib.get_close_matches(str(value), choices, n=1) if choices else []
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ConfigError(f"URL parameter {key}={shown} is invalid: expected {expected}{hint}")


def conflict(first: str, second: str) -> ConfigError:
    return ConfigError(f"URL parameters '{first}' and '{second}' disagree: keep one")


# -- planning ------------------------------------------------------------------
class Deferred:
    """A planned argument: rendered for show-config, built only when connecting."""

    def build(self) -> Any:
        raise NotImplementedError

    def render(self) -> Any:
        raise NotImplementedError


def _render(key: str, value: Any) -> Any:
    if isinstance(value, Deferred):
        return value.render()
    if key in SECRET_KEYS and value:
        return MASK
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, dict):
        return {k: _render(k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_render(key, v) for v in value]
    return f"<{type(value).__name__}>"


def _plan(dialect_name: str, driver: str, cparams: Mapping[str, Any]) -> dict[str, Any]:
    params = dict(cparams)
    for key, value in params.items():
        if isinstance(value, tuple) and key not in ("host", "port"):
            raise ConfigError(f"URL parameter '{key}' is given more than once: keep one")
    driver = "psycopg" if driver == "psycopg_async" else driver
    if dialect_name == "postgresql" and driver in ("asyncpg", "psycopg"):
        from . import connparams_pg as pg

        pg.check_values(params)
        return pg.plan_asyncpg(params) if driver == "asyncpg" else pg.plan_psycopg(params)
    if dialect_name in ("mysql", "mariadb") and driver == "asyncmy":
        from .connparams_mysql import plan_asyncmy

        return plan_asyncmy(params)
    if dialect_name == "sqlite" and driver == "aiosqlite":
        return _aiosqlite(params)
    return params  # other drivers (aiomysql, oracledb_async, aioodbc): passed through as given


def coerce(params: dict[str, Any], driver: str) -> None:
    """URL values arrive as strings: give the driver the types it compares against."""
    for key in _INT_ARGS.get(driver, ()):
        value = params.get(key)
        if isinstance(value, str):
            try:
                params[key] = int(value)
            except ValueError:
                raise bad_value(key, value, "a whole number") from None
    for key in _FLOAT_ARGS.get(driver, ()):
        value = params.get(key)
        if isinstance(value, str):
            try:
                params[key] = float(value)
            except ValueError:
                raise bad_value(key, value, "a number of seconds") from None
    for key in _BOOL_ARGS.get(driver, ()):
        if isinstance(params.get(key), str):
            params[key] = as_bool(key, params[key])


def as_bool(key: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE or lowered in FALSE:
        return lowered in TRUE
    raise bad_value(key, value, "true or false")


#: sqlite3.connect() and aiosqlite.connect() arguments (SQLAlchemy reads the first six from URLs).
_SQLITE_URL_KEYS = frozenset(
    {"uri", "timeout", "isolation_level", "detect_types", "check_same_thread", "cached_statements"}
)
_SQLITE_ARGS = _SQLITE_URL_KEYS | {
    "database", "factory", "autocommit", "iter_chunk_size", "loop", "async_creator_fn",
}  # fmt: skip


def _aiosqlite(params: dict[str, Any]) -> dict[str, Any]:
    for key in params:
        if key not in _SQLITE_ARGS:
            raise unknown(key, "aiosqlite", _SQLITE_ARGS)
    return params


def _check_sqlite_url(url: URL, driver: str) -> None:
    """SQLAlchemy drops (with a warning) SQLite URL keys it does not know unless uri=true."""
    query = dict(url.query)
    if str(query.get("uri", "")).lower() in TRUE:
        return
    for key in query:
        if key not in _SQLITE_URL_KEYS:
            import difflib

            close = difflib.get_close_matches(key, sorted(_SQLITE_URL_KEYS), n=1)
            if close:
                raise unknown(key, driver, _SQLITE_URL_KEYS)
            raise ConfigError(
                f"URL parameter '{key}' is not supported by {driver}: SQLite URI parameters "
                "need uri=true in the URL; or remove it"
            )


__all__ = [
    "SECRET_KEYS",
    "describe_connect_params",
    "do_connect_listener",
    "translate_connect_params",
]
