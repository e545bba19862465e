"""Database URLs: parsed once into a :class:`DatabaseURL` that knows its async form and secrets.

Hosting platforms hand out ``postgres://`` URLs and people paste
``postgresql+psycopg2://`` ones; an async engine needs an async driver, so a URL
is parsed and normalised once here, and everything downstream reads the value
object: ``.url`` for engines, ``.masked`` for output, ``.secrets`` for the
masking streams, ``.notice`` for the line that says a driver was moved.

A raw ``@`` in the password (``postgresql://u:Pw@Secret@host/db``): the userinfo
ends at the *last* ``@`` before the host -- the first ``@`` not followed by
another one before the host ends (``/``, ``?`` or the end). Measured here:
SQLAlchemy's ``make_url`` and libpq (psycopg's ``conninfo_to_dict``) both split at
the *first* ``@`` and read the host as ``Secret@host``, a name that can never
resolve, and then print the password's tail as the host in every error. Python's
``urllib`` and browsers (WHATWG URL) split at the last ``@``. A host never holds
an ``@``, so the last-``@`` reading is the only one that can connect; it also
keeps Azure's ``user@server`` user names working. As SQLAlchemy reads it (libpq
refuses a raw ``/`` or space, browsers a raw ``/``, ``?`` or ``#``) the password may
hold a raw ``:``, ``/``, ``?``, ``#``, ``%``, space or ``+``; ``%XX`` is decoded.
The one case no rule can read is a raw ``@`` *and* a later ``/`` or ``?`` in one
password (``u:a@b/c@host``): ``b`` is taken as the host; percent-encode such a
password (``%40``).

Masking of text lives in :mod:`asyncmig.masking` (re-exported here).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, quote_plus, unquote

from .errors import ConfigError
from .masking import MASK, SECRET_KEYS, mask_text, spellings

if TYPE_CHECKING:  # SQLAlchemy is imported on use: mask_text runs on every line of output
    from sqlalchemy.engine import URL

__all__ = [
    "MASK",
    "DatabaseURL",
    "mask_text",
    "mask_url",
    "missing_driver_hint",
    "normalize_url",
    "parse_url",
    "render_url",
    "url_secrets",
]

#: The driver chosen when a URL names a dialect but no driver.
DEFAULT_ASYNC_DRIVER = {
    "postgresql": "asyncpg",
    "sqlite": "aiosqlite",
    "mysql": "asyncmy",
    "mariadb": "asyncmy",
    "oracle": "oracledb_async",
    "mssql": "aioodbc",
}

#: Async drivers SQLAlchemy ships a dialect for, by dialect. ``postgresql+psycopg``
#: stays as it is: ``create_async_engine`` picks psycopg's async dialect itself.
ASYNC_DRIVERS = {
    "postgresql": ("asyncpg", "psycopg", "psycopg_async"),
    "sqlite": ("aiosqlite",),
    "mysql": ("asyncmy", "aiomysql"),
    "mariadb": ("asyncmy", "aiomysql"),
    "oracle": ("oracledb_async",),
    "mssql": ("aioodbc",),
}

#: Sync drivers moved to the async driver that speaks the same protocol and
#: takes the same URL. Others (``sqlite+pysqlcipher``, ``mssql+pymssql``,
#: ``mysql+pyodbc``) take different parameters and are refused.
SYNC_TO_ASYNC = {
    "postgresql": dict.fromkeys(("psycopg2", "psycopg2cffi", "pg8000", "pygresql"), "asyncpg"),
    "mysql": dict.fromkeys(
        ("pymysql", "mysqldb", "mysqlconnector", "cymysql", "mariadbconnector"), "asyncmy"
    ),
    "sqlite": {"pysqlite": "aiosqlite"},
    "oracle": dict.fromkeys(("cx_oracle", "oracledb"), "oracledb_async"),
    "mssql": {"pyodbc": "aioodbc"},
}
SYNC_TO_ASYNC["mariadb"] = SYNC_TO_ASYNC["mysql"]

_NAMED_IN_ERRORS = ("postgresql", "sqlite", "mysql", "mariadb")

_DIALECT_ALIASES = {"postgres": "postgresql", "pgsql": "postgresql"}

_SUGGESTION = {
    "postgresql": "postgresql+asyncpg:// (or postgresql+psycopg://)",
    "sqlite": "sqlite+aiosqlite://",
    "mysql": "mysql+asyncmy://",
    "mariadb": "mariadb+asyncmy://",
    "oracle": "oracle+oracledb_async://",
    "mssql": "mssql+aioodbc://",
}

#: What to install for a missing async driver: an asyncmig extra where there is one.
_INSTALL = {
    "asyncpg": "pip install asyncpg",
    "aiosqlite": "pip install aiosqlite",
    "psycopg": "pip install 'asyncmig[psycopg]'",
    "psycopg_async": "pip install 'asyncmig[psycopg]'",
    "asyncmy": "pip install 'asyncmig[mysql]'",
    "aiomysql": "pip install aiomysql",
    "oracledb_async": "pip install oracledb",
    "aioodbc": "pip install aioodbc",
}

_SCHEME = re.compile(r"(?P<name>[\w+]+)://(?P<rest>.*)", re.DOTALL)
# What follows the userinfo: SQLAlchemy's grammar for host, port, database, query.
_LOCATION = re.compile(
    r"(?:\[(?P<ipv6host>[^/?]+)\]|(?P<ipv4host>[^/:?]+))?"
    r"(?::(?P<port>[^/?]*))?"
    r"(?:/(?P<database>[^?]*))?"
    r"(?:\?(?P<query>.*))?",
    re.DOTALL,
)
# host:port/... in userinfo's clothes (``h:5432/db?x=a@b``): the '@' is not a userinfo's.
_PORT_THEN_PATH = re.compile(r"\d+[/?]")
_HOST_END = re.compile(r"[/?]")
_HOST_PORT = re.compile(r"(?:\[[^\]@]*\]|[^:@\[\]]*)(?::\d+)?")


def split_userinfo(rest: str) -> tuple[str | None, str]:
    """``(userinfo, location)``: the userinfo ends at the last ``@`` before the host.

    That is the first ``@`` followed by a well-formed ``host[:port]`` (no ``@``, a
    numeric port) that ends at ``/``, ``?`` or the end; failing that, the first
    followed by no other ``@`` before the host ends (SQLAlchemy then judges the port).
    """
    loose: tuple[str, str] | None = None
    start = 0
    while (at := rest.find("@", start)) >= 0:
        userinfo, location = rest[:at], rest[at + 1 :]
        user, colon, password = userinfo.partition(":")
        if "/" in user or "?" in user or (colon and _PORT_THEN_PATH.match(password)):
            break  # this '@' (and any later one) lies in the path or query
        host = _HOST_END.split(location, maxsplit=1)[0]
        if "@" not in host:
            if _HOST_PORT.fullmatch(host):
                return userinfo, location
            loose = loose or (userinfo, location)
        start = at + 1
    return loose or (None, rest)


def _malformed(text: str) -> ConfigError:
    return ConfigError(
        f"malformed database URL {_mask_malformed(text)!r}: "
        "expected dialect+driver://user:password@host/database"
    )


def _mask_malformed(text: str) -> str:
    """A URL that did not parse: hide everything before its last ``@``."""
    masked = mask_text(text)
    if "@" not in masked:
        return masked
    scheme, sep, _ = masked.partition("://")
    return (f"{scheme}{sep}" if sep else "") + MASK + "@" + masked.rsplit("@", 1)[1]


def _raw_secrets(text: str) -> set[str]:
    """Secrets of a URL string as written, read lexically: also when it fails to parse."""
    found: set[str] = set()
    match = _SCHEME.match(text)
    if match is None:
        return found
    userinfo, location = split_userinfo(match["rest"])
    if userinfo is not None and ":" in userinfo:
        password = userinfo.partition(":")[2]
        found |= {password, unquote(password)}
    query = location.partition("?")[2]
    for item in query.split("&"):
        key, _, value = item.partition("=")
        if unquote(key).lower() in SECRET_KEYS and value:
            found |= {value, unquote(value), unquote(value.replace("+", " "))}
    return {secret for secret in found if secret}


def parse_url(raw: str) -> URL:
    """Parse ``raw`` (as written: no driver change) into a SQLAlchemy URL.

    Raises :class:`ConfigError` without the secret when it is not a URL.
    """
    from sqlalchemy.engine import URL

    text = raw.strip()
    if not text:
        raise ConfigError("the database URL is empty")
    scheme = _SCHEME.match(text)
    if scheme is None:
        raise _malformed(text)
    userinfo, rest = split_userinfo(scheme["rest"])
    where = _LOCATION.fullmatch(rest)
    if where is None:
        raise _malformed(text)
    username = password = None
    if userinfo is not None:
        user, colon, secret = userinfo.partition(":")
        username, password = unquote(user), unquote(secret) if colon else None
    query: dict[str, list[str]] = {}
    for key, value in parse_qsl(where["query"] or ""):
        query.setdefault(key, []).append(value)
    try:
        return URL.create(
            scheme["name"],
            username=username,
            password=password,
            host=where["ipv4host"] or where["ipv6host"] or None,
            port=None if where["port"] is None else int(where["port"]),
            database=None if where["database"] is None else unquote(where["database"]),
            query={key: values[0] if len(values) == 1 else values for key, values in query.items()},
        )
    except (TypeError, ValueError) as exc:
        raise _malformed(text) from exc


def _render(url: URL, *, masked: bool) -> str:
    """SQLAlchemy's rendering with every space encoded (so the string survives
    ``strip()``, shell words and ini values) and ``:`` kept raw in the database
    (``sqlite:///file:x.db``, ``C:/app.db``); secret query values as ``***`` when masked."""
    text = url.drivername + "://"
    if url.username is not None:
        text += quote(url.username, safe="+")
        if url.password is not None:
            password = str(url.password)  # an empty one stays empty: nothing to hide
            text += ":" + (MASK if masked and password else quote(password, safe="+"))
        text += "@"
    if url.host is not None:
        text += f"[{url.host}]" if ":" in url.host else url.host
    if url.port is not None:
        text += f":{url.port}"
    if url.database is not None:
        text += "/" + quote(url.database, safe="+/:")
    if url.query:
        text += "?" + "&".join(
            f"{quote_plus(key)}="
            + (MASK if masked and key.lower() in SECRET_KEYS else quote_plus(value))
            for key, value in _query_items(url)
        )
    return text


def _query_items(url: URL) -> list[tuple[str, str]]:
    """``(key, value)`` pairs of the query, sorted by key, multi-valued keys repeated."""
    items: list[tuple[str, str]] = []
    for key in sorted(url.query):
        value = url.query[key]
        items += [(key, value)] if isinstance(value, str) else [(key, v) for v in value]
    return items


def _normalize(url: URL) -> tuple[URL, str | None]:
    """The async form of ``url`` and the notice when a sync driver was moved."""
    dialect, _, driver = url.drivername.partition("+")
    dialect = _DIALECT_ALIASES.get(dialect, dialect)
    if dialect not in ASYNC_DRIVERS:
        known = ", ".join(f"{d}+{DEFAULT_ASYNC_DRIVER[d]}" for d in _NAMED_IN_ERRORS)
        raise ConfigError(
            f"unknown database dialect {dialect!r} in URL {mask_url(url)}; "
            f"asyncmig runs on async drivers such as {known}"
        )
    notice = None
    if not driver:
        driver = DEFAULT_ASYNC_DRIVER[dialect]
    elif driver in SYNC_TO_ASYNC[dialect]:
        driver = SYNC_TO_ASYNC[dialect][driver]
        notice = f"{url.drivername} is a synchronous driver; using {dialect}+{driver}"
    elif driver not in ASYNC_DRIVERS[dialect]:
        raise ConfigError(
            f"driver {driver!r} in URL {mask_url(url)} is not an async driver; "
            f"use {_SUGGESTION[dialect]} instead"
        )
    return url.set(drivername=f"{dialect}+{driver}"), notice


@dataclass(frozen=True, repr=False)
class DatabaseURL:
    """A database URL parsed once: its async form, what was written, its secrets.

    ``repr()`` and ``str()`` show the masked form; only :meth:`render` holds the password.
    """

    #: The SQLAlchemy URL with an async driver: what engines get.
    url: URL
    #: The URL as the user wrote it (``postgres://``, ``+psycopg2``...), parsed.
    original: URL
    #: Every spelling of every secret (password, secret query values) as it could
    #: appear in output: for :class:`asyncmig.output.MaskingStream`.
    secrets: frozenset[str]
    #: One line when a sync driver was moved to its async counterpart, else None.
    notice: str | None = None

    @classmethod
    def parse(cls, raw: str) -> DatabaseURL:
        """Parse and normalise a URL as users paste it; :class:`ConfigError` (exit 2) if
        it is malformed or names a dialect or driver without an async counterpart."""
        return cls._build(parse_url(raw), _raw_secrets(raw.strip()))

    @classmethod
    def from_url(cls, url: URL) -> DatabaseURL:
        """The value object for an already parsed SQLAlchemy URL."""
        return cls._build(url, set())

    @classmethod
    def _build(cls, original: URL, secrets: set[str]) -> DatabaseURL:
        secrets = secrets | set(_url_secret_values(original))
        url, notice = _normalize(original)
        return cls(url, original, frozenset(_all_spellings(secrets)), notice)

    @property
    def raw_driver(self) -> str:
        """The driver name as written: ``postgres``, ``postgresql+psycopg2``..."""
        return str(self.original.drivername)

    @property
    def masked(self) -> str:
        """The async URL with its password and secret query values as ``***``."""
        return _render(self.url, masked=True)

    def render(self) -> str:
        """The async URL with the real password: for engines, never for output."""
        return _render(self.url, masked=False)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"DatabaseURL({self.masked!r})"


def _url_secret_values(url: URL) -> list[str]:
    values = [str(url.password)] if url.password else []
    values += [value for key, value in _query_items(url) if key.lower() in SECRET_KEYS]
    return [value for value in values if value]


def _all_spellings(secrets: Iterable[str]) -> set[str]:
    return {form for secret in secrets for form in spellings(secret)}


def normalize_url(raw: str | URL) -> URL:
    """Return ``raw`` with an async driver, or raise :class:`ConfigError` naming the fix.

    Idempotent: normalising a normalised URL returns it unchanged.
    """
    value = DatabaseURL.parse(raw) if isinstance(raw, str) else DatabaseURL.from_url(raw)
    return value.url


def render_url(url: URL) -> str:
    """The URL as a string with the real password: for engines, never for output."""
    return _render(url, masked=False)


def mask_url(url: URL | str) -> str:
    """The URL as a string with its password and secret query values as ``***``."""
    if isinstance(url, str):
        return mask_text(url)
    return _render(url, masked=True)


def url_secrets(url: URL | str | None) -> tuple[str, ...]:
    """Every spelling of the URL's secrets (password, secret query values) that could
    end up in output; a string is read lexically, so a malformed URL still yields them."""
    if url is None:
        return ()
    if isinstance(url, str):
        found = _raw_secrets(url.strip())
        with suppress(ConfigError):
            found |= set(_url_secret_values(parse_url(url)))
    else:
        found = set(_url_secret_values(url))
    return tuple(sorted(_all_spellings(found)))


def missing_driver_hint(drivername: str) -> str:
    """The line saying what to install for ``drivername`` (``mysql+asyncmy`` or ``asyncmy``)."""
    driver = drivername.partition("+")[2] or drivername
    command = _INSTALL.get(driver, f"pip install {driver}")
    return f"the {driver} driver is not installed: {command}"
