"""PostgreSQL's half of :mod:`asyncmig.connparams`: libpq's parameters for asyncpg and psycopg.

psycopg is libpq and takes them as they are (names and enumerated values are
checked). asyncpg gets the SSL ones through its own libpq-compatible DSN parser
(a ``dsn="postgresql://?sslmode=..."`` argument beside host, user and password),
so ``prefer``/``allow`` fall back exactly as libpq does; ``application_name`` and
``options`` go into the startup packet as ``server_settings``, as libpq sends them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from .connparams import (
    FALSE,
    SECRET_KEYS,
    TRUE,
    Deferred,
    bad_value,
    coerce,
    conflict,
    unknown,
    unsupported,
)
from .errors import ConfigError
from .urls import MASK

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
ASYNCPG_OWN = frozenset(
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


def check_values(params: dict[str, Any]) -> None:
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


def plan_asyncpg(params: dict[str, Any]) -> dict[str, Any]:
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
        elif key in ASYNCPG_OWN or key in _SQLALCHEMY_ASYNCPG:
            out[key] = value
        elif key in LIBPQ_KEYWORDS and key not in ("fallback_application_name", "connect_timeout"):
            raise unsupported(key, driver)
        elif key not in ("fallback_application_name", "connect_timeout"):
            raise unknown(key, driver, LIBPQ_KEYWORDS | ASYNCPG_OWN | _SQLALCHEMY_ASYNCPG)
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
        if lowered in TRUE or lowered in FALSE:
            out["ssl"] = lowered in TRUE
        elif lowered in PG_VALUES["sslmode"]:
            if given.get("sslmode", lowered) != lowered:
                raise conflict("ssl", "sslmode")
            del out["ssl"]
            if "sslmode" not in given:
                dsn.append(("sslmode", lowered))
        else:
            raise bad_value("ssl", ssl_arg, "true, false or an sslmode", PG_VALUES["sslmode"])
    given = dict(dsn)
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


def plan_psycopg(params: dict[str, Any]) -> dict[str, Any]:
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
