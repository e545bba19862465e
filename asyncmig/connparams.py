"""URL query parameters translated into what each async driver accepts.

SQLAlchemy hands every URL query key to the driver's ``connect()`` as a keyword
argument. Users paste libpq URLs (``?sslmode=require``) and MySQL-client ones
(``?ssl_mode=REQUIRED``), which asyncpg and asyncmy do not take under those names.
:func:`translate_connect_params` rewrites the arguments so that each parameter
means what its author's tool means by it, and refuses (:class:`ConfigError`)
those the driver cannot honour, before any connection is tried.

asyncpg gets libpq's SSL parameters through its own libpq-compatible DSN parser
(a ``dsn="postgresql://?sslmode=..."`` argument; the keyword arguments still
supply host, user and password), so ``prefer``/``allow`` fall back exactly as
libpq does. Nothing here imports a DB driver: ``show-config`` uses the same code.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from .errors import ConfigError
from .urls import MASK

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

#: libpq 18's connection keywords (``PQconndefaults()``; tests compare with psycopg's libpq).
LIBPQ_KEYWORDS = frozenset(
    "application_name channel_binding client_encoding connect_timeout dbname "  # noqa: SIM905
    "fallback_application_name gssdelegation gssencmode gsslib host hostaddr keepalives "
    "keepalives_count keepalives_idle keepalives_interval krbsrvname load_balance_hosts "
    "max_protocol_version min_protocol_version oauth_client_id oauth_client_secret oauth_issuer "
    "oauth_scope options passfile password port replication require_auth requirepeer "
    "scram_client_key scram_server_key service ssl_max_protocol_version "
    "ssl_min_protocol_version sslcert sslcertmode sslcompression sslcrl sslcrldir sslkey "
    "sslkeylogfile sslmode sslnegotiation sslpassword sslrootcert sslsni target_session_attrs "
    "tcp_user_timeout user".split()
)
#: Keys whose values are never shown (libpq marks the first three as secret).
SECRET_KEYS = frozenset(
    {"password", "sslpassword", "oauth_client_secret", "scram_client_key", "scram_server_key"}
    | {"passwd", "ssl_key_password"}
)

_TLS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
#: libpq's enumerated values, checked for every PostgreSQL driver.
PG_VALUES: dict[str, tuple[str, ...]] = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "target_session_attrs": (
        "any", "read-write", "read-only", "primary", "standby", "prefer-standby",
    ),
    "channel_binding": ("disable", "prefer", "require"),
    "gssencmode": ("disable", "prefer", "require"),
    "sslnegotiation": ("postgres", "direct"),
    "sslcertmode": ("disable", "allow", "require"),
    "load_balance_hosts": ("disable", "random"),
    "gsslib": ("gssapi", "sspi"),
    "ssl_min_protocol_version": _TLS,
    "ssl_max_protocol_version": _TLS,
}  # fmt: skip

_PSYCOPG_OWN = frozenset(
    {"conninfo", "autocommit", "prepare_threshold", "context", "row_factory", "cursor_factory"}
)
_ASYNCPG_OWN = frozenset(
    "dsn host port user password passfile service servicefile database loop timeout "  # noqa: SIM905
    "statement_cache_size max_cached_statement_lifetime max_cacheable_statement_size "
    "command_timeout ssl direct_tls connection_class record_class server_settings "
    "target_session_attrs krbsrvname gsslib".split()
)
#: Keys SQLAlchemy's asyncpg adapter takes out of the arguments before calling asyncpg.
_SQLALCHEMY_ASYNCPG = frozenset(
    {"async_creator_fn", "prepared_statement_cache_size", "prepared_statement_name_func"}
)
#: libpq keywords asyncpg's DSN parser implements as libpq does.
_ASYNCPG_DSN = (
    "sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslpassword", "sslnegotiation",
    "ssl_min_protocol_version", "ssl_max_protocol_version", "service",
)  # fmt: skip
_UTF8 = ("utf8", "utf-8", "unicode", "auto")
#: libpq keywords asyncpg honours only at their default value: (values dropped, why not others).
_ASYNCPG_DEFAULT_ONLY: dict[str, tuple[tuple[str, ...], str]] = {
    "channel_binding": (("disable", "prefer"), "it never uses SCRAM channel binding"),
    "gssencmode": (("disable", "prefer"), "it has no GSSAPI encryption"),
    "gssdelegation": (("0",), "it does not delegate GSSAPI credentials"),
    "sslsni": (("1",), "it always sends SNI"),
    "sslcompression": (("0", "1"), ""),  # libpq ignores it too (OpenSSL has no compression)
    "sslcertmode": (("allow",), "it sends a client certificate whenever one is configured"),
    "load_balance_hosts": (("disable",), "it tries hosts in order"),
    "keepalives": (("0",), "it sets no TCP keepalives"),
    "client_encoding": (_UTF8, "it speaks UTF8 only"),
}
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
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def translate_connect_params(
    dialect_name: str, driver: str, cparams: Mapping[str, Any]
) -> dict[str, Any]:
    """The keyword arguments ``driver`` should receive for ``cparams`` (from
    ``dialect.create_connect_args(url)`` plus ``connect_args``).

    Raises :class:`ConfigError` naming a parameter the driver cannot honour. Pure
    and idempotent: translating the result again returns it unchanged.
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
    close = close or difflib.get_close_matches(key, sorted(known), n=1)
    hint = (
        f": did you mean '{close[0]}'?"
        if close
        else "; see 'URL parameters' in docs/configuration.md"
    )
    return ConfigError(f"unknown URL parameter '{key}' for {driver}{hint}")


def bad_value(key: str, value: Any, expected: str, choices: tuple[str, ...] = ()) -> ConfigError:
    shown = MASK if key in SECRET_KEYS else repr(value)
    close = difflib.get_close_matches(str(value), choices, n=1) if choices else []
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ConfigError(f"URL parameter {key}={shown} is invalid: expected {expected}{hint}")


def conflict(first: str, second: str) -> ConfigError:
    return ConfigError(f"URL parameters '{first}' and '{second}' disagree: keep one")


# -- planning (pure, no I/O) ------------------------------------------------------------------
class Deferred:
    """A planned argument: rendered for show-config, built only when connecting."""

    def build(self) -> Any:
        raise NotImplementedError

    def render(self) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class _Dsn(Deferred):
    """asyncpg's ``dsn=`` argument: libpq parameters its DSN parser implements."""

    base: str
    query: tuple[tuple[str, str], ...]

    def text(self, masked: bool = False) -> str:
        pairs = [(k, MASK if masked and k in SECRET_KEYS else v) for k, v in self.query]
        if not pairs:
            return self.base
        glue = "&" if "?" in self.base else "?"
        return self.base + glue + urlencode(pairs, quote_via=quote, safe="/~:*")

    def render(self) -> str:
        return self.text(masked=True)

    def build(self) -> str:
        """The DSN, once the files asyncpg will load for its sslmode are known to exist:
        a missing certificate is a configuration error, not a server still starting."""
        given = dict(self.query)
        mode = given.get("sslmode") or os.environ.get("PGSSLMODE") or "prefer"
        level = PG_VALUES["sslmode"].index(mode) if mode in PG_VALUES["sslmode"] else 0
        for key, needs in (("sslcert", 1), ("sslkey", 1), ("sslrootcert", 3), ("sslcrl", 3)):
            path = given.get(key)
            if path and level >= needs and not os.path.isfile(path):
                raise ConfigError(f"URL parameter {key}={path}: no such file")
        return self.text()


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
        _check_pg_values(params)
        return _asyncpg(params) if driver == "asyncpg" else _psycopg(params)
    if dialect_name in ("mysql", "mariadb") and driver == "asyncmy":
        from ._connparams_mysql import plan_asyncmy

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
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise bad_value(key, value, "true or false")


def _check_pg_values(params: dict[str, Any]) -> None:
    for key, choices in PG_VALUES.items():
        value = params.get(key)
        if isinstance(value, str) and value and value not in choices:
            raise bad_value(key, value, "one of " + ", ".join(choices), choices)
    mode = params.get("sslmode") or "prefer"
    if params.get("sslnegotiation") == "direct" and mode in ("disable", "allow", "prefer"):
        raise ConfigError(
            f"URL parameter sslnegotiation=direct needs sslmode=require, verify-ca or "
            f"verify-full (sslmode is {mode})"
        )


def _asyncpg(params: dict[str, Any]) -> dict[str, Any]:
    driver = "asyncpg"
    out: dict[str, Any] = {}
    dsn: list[tuple[str, str]] = []
    settings: dict[str, Any] = {}
    for key, value in params.items():
        if key in _ASYNCPG_DSN:
            if value not in ("", None):  # libpq: an empty value means the default
                dsn.append((key, value))
        elif key == "server_settings":
            settings.update(value or {})
        elif key == "dbname":
            out["database"] = value
        elif key in ("application_name", "options"):
            settings.setdefault(key, value)
        elif key in _ASYNCPG_DEFAULT_ONLY:
            allowed, why = _ASYNCPG_DEFAULT_ONLY[key]
            if str(value).lower() not in allowed:
                raise unsupported(key, driver, str(value), why)
        elif key in _ASYNCPG_OWN or key in _SQLALCHEMY_ASYNCPG:
            out[key] = value
        elif key in LIBPQ_KEYWORDS and key not in ("fallback_application_name", "connect_timeout"):
            raise unsupported(key, driver)
        elif key not in ("fallback_application_name", "connect_timeout"):
            raise unknown(key, driver, LIBPQ_KEYWORDS | _ASYNCPG_OWN | _SQLALCHEMY_ASYNCPG)
    if "fallback_application_name" in params:
        settings.setdefault("application_name", params["fallback_application_name"])
    if "connect_timeout" in params:
        seconds = _connect_timeout(params["connect_timeout"])
        if params.get("timeout") is not None and float(params["timeout"]) != seconds:
            raise conflict("connect_timeout", "timeout")
        out["timeout"] = seconds
    _asyncpg_ssl(out, dsn)
    if dsn:
        out["dsn"] = _Dsn(out.get("dsn") or "postgresql://", tuple(dsn))
    if settings:
        out["server_settings"] = {k: str(v) for k, v in settings.items()}
    coerce(out, driver)
    return out


def _connect_timeout(value: Any) -> float | None:
    """libpq: whole seconds; zero or negative waits forever; 1 means 2 (as psycopg does too)."""
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        raise bad_value("connect_timeout", value, "a whole number of seconds") from None
    return None if seconds <= 0 else float(max(seconds, 2))


def _asyncpg_ssl(out: dict[str, Any], dsn: list[tuple[str, str]]) -> None:
    """Fold asyncpg's own ``ssl=<mode>`` spelling and libpq's ``sslrootcert=system`` in."""
    given = dict(dsn)
    ssl_arg = out.get("ssl")
    if isinstance(ssl_arg, str):
        lowered = ssl_arg.strip().lower()
        if lowered in _TRUE or lowered in _FALSE:
            out["ssl"] = lowered in _TRUE
        elif lowered in PG_VALUES["sslmode"]:
            if given.get("sslmode", lowered) != lowered:
                raise conflict("ssl", "sslmode")
            del out["ssl"]
            if "sslmode" not in given:
                dsn.append(("sslmode", lowered))
        else:
            raise bad_value("ssl", ssl_arg, "true, false or an sslmode", PG_VALUES["sslmode"])
    if given.get("sslrootcert") == "system":
        # libpq 16+: the system's trusted roots, and nothing weaker than verify-full.
        mode = given.get("sslmode", "verify-full")
        if mode != "verify-full":
            raise ConfigError(
                f"URL parameter sslmode={mode} may not be used with sslrootcert=system: "
                "use sslmode=verify-full"
            )
        extra = [k for k, _ in dsn if k in ("sslcert", "sslkey", "sslcrl", "sslpassword")]
        if extra:
            raise unsupported(extra[0], "asyncpg", why="with sslrootcert=system")
        dsn[:] = [(k, v) for k, v in dsn if k not in ("sslmode", "sslrootcert")]
        out["ssl"] = True  # asyncpg: the default context, system roots, hostname checked


def _psycopg(params: dict[str, Any]) -> dict[str, Any]:
    for key in params:
        if key not in LIBPQ_KEYWORDS and key not in _PSYCOPG_OWN and key != "async_creator_fn":
            raise unknown(key, "psycopg", LIBPQ_KEYWORDS | _PSYCOPG_OWN)
    out = dict(params)
    threshold = out.get("prepare_threshold")
    if isinstance(threshold, str):
        none = threshold.strip().lower() in ("", "none", "null")
        try:
            out["prepare_threshold"] = None if none else int(threshold)
        except ValueError:
            raise bad_value("prepare_threshold", threshold, "a whole number or none") from None
    coerce(out, "psycopg")
    return out


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
    if str(query.get("uri", "")).lower() in _TRUE:
        return
    for key in query:
        if key not in _SQLITE_URL_KEYS:
            close = difflib.get_close_matches(key, sorted(_SQLITE_URL_KEYS), n=1)
            if close:
                raise unknown(key, driver, _SQLITE_URL_KEYS)
            raise ConfigError(
                f"URL parameter '{key}' is not supported by {driver}: SQLite URI parameters "
                "need uri=true in the URL; or remove it"
            )


__all__ = [
    "LIBPQ_KEYWORDS",
    "SECRET_KEYS",
    "describe_connect_params",
    "do_connect_listener",
    "translate_connect_params",
]
