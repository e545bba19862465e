"""Connect with retries: wait for a database that is starting, never for a wrong password."""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .errors import AsyncmigError, DatabaseUnreachable

T = TypeVar("T")

_FIRST_DELAY = 0.2
_MAX_DELAY = 2.0

# SQLSTATEs (PostgreSQL) and error numbers (MySQL/MariaDB) that heal with time.
_RETRY_SQLSTATE = {"3D000": "database does not exist", "57P03": "the database is starting up"}
_FATAL_SQLSTATE = {"28P01": "authentication failed", "28000": "authentication failed"}
_RETRY_MYSQL = {1049: "database does not exist", 2002: "refused", 2003: "refused", 2013: "lost"}
_FATAL_MYSQL = {1045: "authentication failed", 1044: "access denied"}

_RETRY_TEXT = re.compile(
    r"connection refused|connect call failed|could not translate host name|"
    r"name or service not known|temporary failure in name resolution|nodename nor servname|"
    r"starting up|database .* does not exist|unknown database|can't connect|timed? ?out",
    re.IGNORECASE,
)
_FATAL_TEXT = re.compile(r"password authentication failed|access denied|authentication", re.I)
# The server answered the SSL request with "no": asyncpg, libpq, then a TLS handshake
# against a plain-text server (asyncmy starts TLS without asking).
_NO_SSL_PG = re.compile(r"rejected SSL upgrade|server does not support SSL", re.I)
_NO_SSL_TLS = re.compile(r"WRONG_VERSION_NUMBER", re.I)
_BAD_CERT = re.compile(r"certificate verify failed|does not match host name", re.I)
_CLIENT_SSL = re.compile(r"root certificate file|could not (open|load|read) (certificate|private)")
_CLASS_PREFIX = re.compile(r"^(<class '[^']+'>: )+")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop(0)
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        orig = getattr(item, "orig", None)
        todo.extend(
            [orig if isinstance(orig, BaseException) else None, item.__cause__, item.__context__]
        )
        grouped = getattr(item, "exceptions", None)  # ExceptionGroup, on Python >= 3.11
        if isinstance(grouped, (list, tuple)):
            todo.extend(e for e in grouped if isinstance(e, BaseException))


def first_line(exc: BaseException) -> str:
    """The driver's own message, one line, without SQLAlchemy's class-name prefix."""
    orig = getattr(exc, "orig", None)
    source = orig if isinstance(orig, BaseException) else exc
    text = str(source).strip() or type(source).__name__
    line = _CLASS_PREFIX.sub("", text.splitlines()[0]).strip()
    return line or type(source).__name__


def _ssl_failure(exc: BaseException) -> str | None:
    """The reason, if connecting failed on SSL: the URL asks for what the server lacks."""
    for item in _chain(exc):
        text = first_line(item)
        if _NO_SSL_PG.search(text):
            return "the server does not support SSL (sslmode=require or stricter in the URL)"
        if _NO_SSL_TLS.search(text):
            return "the server does not support SSL (the URL requires SSL)"
        if type(item).__name__ == "ClientConfigurationError" or _CLIENT_SSL.search(text):
            return text  # asyncpg's and libpq's own SSL files (~/.postgresql/root.crt)
        if isinstance(item, ssl.SSLCertVerificationError) or _BAD_CERT.search(text):
            return f"the server's SSL certificate was not accepted: {text}"
    return None


def classify(exc: BaseException) -> tuple[bool, str]:
    """(can a retry heal it?, a short reason) for an error raised while connecting.

    SSL refusals are permanent: a server without SSL does not grow it while we wait.
    """
    ssl_reason = _ssl_failure(exc)
    if ssl_reason is not None:
        return False, ssl_reason
    for item in _chain(exc):
        state = getattr(item, "sqlstate", None) or getattr(item, "pgcode", None)
        if state in _FATAL_SQLSTATE:
            return False, first_line(item)
        if state in _RETRY_SQLSTATE:
            return True, first_line(item)
        args: tuple[Any, ...] = getattr(item, "args", ())
        code = args[0] if args and isinstance(args[0], int) else None
        if code in _FATAL_MYSQL:
            return False, first_line(item)
        if code in _RETRY_MYSQL and not isinstance(item, OSError):
            return True, first_line(item)
        if isinstance(item, (socket.gaierror, ConnectionError, TimeoutError)):
            return True, first_line(item)
    message = " ".join(first_line(item) for item in _chain(exc))
    if _FATAL_TEXT.search(message):
        return False, first_line(exc)
    if _RETRY_TEXT.search(message):
        return True, first_line(exc)
    if any(isinstance(item, OSError) for item in _chain(exc)):
        return True, first_line(exc)
    return False, first_line(exc)


def connect_with_retry(
    connect: Callable[[], T],
    *,
    timeout: float,
    target: str,
    on_wait: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``connect`` until it succeeds, a permanent error, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    delay = _FIRST_DELAY
    while True:
        try:
            return connect()
        except AsyncmigError:
            raise  # a refused URL parameter (exit 2) is not a connection failure
        except Exception as exc:
            retryable, reason = classify(exc)
            remaining = deadline - time.monotonic()
            if not retryable:
                raise DatabaseUnreachable(f"cannot connect to {target}: {reason}") from exc
            if remaining <= 0:
                waited = f" (gave up after {timeout:g} s)" if timeout else ""
                raise DatabaseUnreachable(f"cannot connect to {target}: {reason}{waited}") from exc
            pause = min(delay, remaining)
            on_wait(f"waiting for the database at {target}: {reason}; retrying in {pause:.1f} s")
            sleep(pause)
            delay = min(delay * 2, _MAX_DELAY)
