"""Database URL handling: parse, normalise to an async driver, mask secrets.

Hosting platforms hand out ``postgres://`` URLs and people paste
``postgresql+psycopg2://`` ones; an async engine needs an async driver, so
each URL is normalised once here before anything else sees it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

from .errors import ConfigError

if TYPE_CHECKING:  # SQLAlchemy is imported on use: mask_text runs on every line of output
    from sqlalchemy.engine import URL

#: The driver chosen when a URL names a dialect but no driver.
DEFAULT_ASYNC_DRIVER = {
    "postgresql": "asyncpg",
    "sqlite": "aiosqlite",
    "mysql": "asyncmy",
    "mariadb": "asyncmy",
}

#: Async drivers SQLAlchemy ships a dialect for, by dialect.
ASYNC_DRIVERS = {
    "postgresql": ("asyncpg", "psycopg", "psycopg_async"),
    "sqlite": ("aiosqlite",),
    "mysql": ("asyncmy", "aiomysql"),
    "mariadb": ("asyncmy", "aiomysql"),
    "oracle": ("oracledb_async",),
    "mssql": ("aioodbc",),
}

_DIALECT_ALIASES = {"postgres": "postgresql", "pgsql": "postgresql"}

_SUGGESTION = {
    "postgresql": "postgresql+asyncpg:// (or postgresql+psycopg://)",
    "sqlite": "sqlite+aiosqlite://",
    "mysql": "mysql+asyncmy://",
    "mariadb": "mariadb+asyncmy://",
    "oracle": "oracle+oracledb_async://",
    "mssql": "mssql+aioodbc://",
}

MASK = "***"

# scheme://user:password@ -- the password part is whatever sits between the
# first ':' after the user name and the last '@' before the host. SQLAlchemy
# renders spaces and '+' in user names and passwords unescaped, so both may
# hold spaces (never a line break).
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@\r\n]*:)(?P<password>[^\r\n/?#]*)(?P<at>@)"
)


def parse_url(raw: str) -> URL:
    """Parse ``raw`` into a SQLAlchemy URL, or raise :class:`ConfigError` (secret-free)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = raw.strip()
    if not text:
        raise ConfigError("the database URL is empty")
    try:
        return make_url(text)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"malformed database URL {_mask_malformed(text)!r}: "
            "expected dialect+driver://user:password@host/database"
        ) from exc


def _mask_malformed(text: str) -> str:
    """A URL that did not parse: hide everything before its last ``@`` (the regex of
    :func:`mask_text` needs a well-formed ``scheme://user:`` to find the password)."""
    masked = mask_text(text)
    if "@" not in masked:
        return masked
    scheme, sep, _ = masked.partition("://")
    return (f"{scheme}{sep}" if sep else "") + MASK + "@" + masked.rsplit("@", 1)[1]


def normalize_url(raw: str | URL) -> URL:
    """Return ``raw`` with an async driver, or raise :class:`ConfigError` naming the fix.

    Idempotent: normalising a normalised URL returns it unchanged.
    """
    url = parse_url(raw) if isinstance(raw, str) else raw
    name = url.drivername
    dialect, _, driver = name.partition("+")
    dialect = _DIALECT_ALIASES.get(dialect, dialect)
    if dialect not in ASYNC_DRIVERS:
        known = ", ".join(f"{d}+{DEFAULT_ASYNC_DRIVER[d]}" for d in DEFAULT_ASYNC_DRIVER)
        raise ConfigError(
            f"unknown database dialect {dialect!r} in URL {mask_url(url)}; "
            f"asyncmig runs on async drivers such as {known}"
        )
    if not driver:
        if dialect not in DEFAULT_ASYNC_DRIVER:
            raise ConfigError(f"URL {mask_url(url)} names no driver; use {_SUGGESTION[dialect]}")
        driver = DEFAULT_ASYNC_DRIVER[dialect]
    elif driver not in ASYNC_DRIVERS[dialect]:
        raise ConfigError(
            f"driver {driver!r} in URL {mask_url(url)} is synchronous; "
            f"use {_SUGGESTION[dialect]} instead"
        )
    return url.set(drivername=f"{dialect}+{driver}")


def render_url(url: URL) -> str:
    """The URL as a string with the real password: for engines, never for output."""
    return url.render_as_string(hide_password=False)


def mask_url(url: URL | str) -> str:
    """The URL as a string with its password replaced by ``***``."""
    if isinstance(url, str):
        return mask_text(url)
    if url.password is None:
        return url.render_as_string(hide_password=False)
    return url.render_as_string(hide_password=True)


def url_secrets(url: URL | str | None) -> tuple[str, ...]:
    """Every spelling of the URL's password that could end up in a message."""
    if url is None:
        return ()
    if isinstance(url, str):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(url)
        except (ArgumentError, ValueError):
            return ()
    password = url.password
    if not password:
        return ()
    text = str(password)
    # quote(safe=" +") is how SQLAlchemy renders a password inside a URL.
    spellings = {text, quote(text, safe=""), quote_plus(text), quote(text), quote(text, safe=" +")}
    return tuple(spellings)


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask URL passwords and each known secret in ``text``.

    This is the one masking function: every output path of asyncmig goes
    through it. Secrets shorter than 3 characters are only masked inside URLs,
    since replacing every 'a' in a message would garble it.
    """
    masked = _URL_PASSWORD.sub(
        lambda m: m.group("head") + (MASK if m.group("password") else "") + m.group("at"), text
    )
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= 3:
            masked = masked.replace(secret, MASK)
    return masked
