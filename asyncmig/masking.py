"""Masking secrets in text, by position.

Every line asyncmig (and Alembic, SQLAlchemy's echo, logging, tracebacks) writes
under the CLI passes through :func:`mask_text`. It replaces a secret where its
*position* says it is one:

- the password of a URL's userinfo (``scheme://user:***@host``), found with the
  same last-``@`` rule as :meth:`asyncmig.urls.DatabaseURL.parse`;
- the value of a secret-bearing key (:data:`SECRET_KEYS`) written ``key=value``:
  URL query parameters (``?password=``, ``&sslpassword=``), libpq conninfo pairs
  (``host=db password=x``, ``password='x y'``), ODBC ``PWD={x}``, keyword
  arguments in a repr (``password='x'``);
- the value of such a key in a repr or JSON: ``'password': 'x'``, ``"password": "x"``.

Outside those positions a *known* secret (the URL's password and secret query
values, in every spelling) is replaced only when it is distinctive
(:func:`is_distinctive`): at least 8 characters mixing three kinds (lower case,
upper case, digits, other) or at least 12 mixing two. Why not always: a password
that is an ordinary word (``postgres``, as in docs/ci.md's service containers)
would turn every ``postgres``/``postgresql`` of every message into ``***`` and
make errors unreadable, and the word standing in ordinary text does not tell a
reader that it is the password. Why not never: drivers and env.py files can echo
a password outside any URL (``print(settings.db_password)``), and replacing a
distinctive string cannot garble ordinary text. The price: a non-distinctive
password echoed outside every position (a bare ``hunter2`` in a message) is shown.

Pure :mod:`re`: no SQLAlchemy import, since this runs on every line of output.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import TextIO
from urllib.parse import quote, quote_plus

MASK = "***"

#: Keys whose value is a secret, matched case-insensitively: libpq's ``password``,
#: ``sslpassword``, ``oauth_client_secret`` (its "*" display class) and
#: ``scram_client_key``/``scram_server_key`` (they authenticate as the password
#: does); MySQL drivers' ``password``/``passwd`` and MFA ``password1..3``; ODBC's
#: ``PWD``; the environment variables ``PGPASSWORD`` and ``MYSQL_PWD``.
SECRET_KEYS = (
    "password",
    "passwd",
    "pwd",
    "sslpassword",
    "password1",
    "password2",
    "password3",
    "oauth_client_secret",
    "scram_client_key",
    "scram_server_key",
    "pgpassword",
    "mysql_pwd",
)

_KEY = "(?:" + "|".join(sorted(SECRET_KEYS, key=len, reverse=True)) + ")"

# scheme://user:password@host -- the userinfo ends at the last '@' before the
# host: the first '@' not followed by another one before the host ends (white
# space, '/' or '?', as in the URL parser; '#' is no delimiter for SQLAlchemy
# either). The user name may hold '@' (Azure's user@server).
# The password may hold anything but white space: rendered URLs encode spaces
# (asyncmig's renders do; SQLAlchemy's hide the password), and allowing them
# would let a match run across a sentence to some later '@'; a raw password
# with a space, echoed verbatim, is masked only when distinctive. Where this
# reads too far (a compact JSON list of URLs and e-mail addresses) it masks too
# much, never too little. A "password" that starts with digits and then a '/'
# or '?' is a port (``host:5432/db?x=a@b``), as in the URL parser.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[A-Za-z][\w+.\-]*://[^:/?#\s'\"<>\[\]]*:)"
    r"(?!\d+[/?])"
    r"(?P<password>\S*?)"
    r"(?P<at>@)(?![^\s/?@]*@)"
)

# Every key in SECRET_KEYS holds one of these (tests/unit/test_masking.py checks each key).
_KEY_HINT = re.compile("pass|pwd|secret|scram", re.IGNORECASE)

# key=value (URL query, conninfo, keyword arguments): quoted, ODBC-braced or bare.
_ASSIGNED = re.compile(
    rf"(?<![\w.\-])(?P<key>{_KEY})(?P<eq>[ \t]*=[ \t]*)"
    r"(?P<value>'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"|\{[^}\n]*\}|[^\s&'\"]+)",
    re.IGNORECASE,
)

# 'password': 'x' / "password": "x" (reprs of dicts, JSON).
_FIELD = re.compile(
    rf"(?P<q>['\"])(?P<key>{_KEY})(?P=q)(?P<sep>[ \t]*:[ \t]*)"
    r"(?P<value>'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\")",
    re.IGNORECASE,
)


def _masked_value(value: str) -> str:
    """Keep the quoting of a value, hide what is inside."""
    if len(value) >= 2 and value[0] + value[-1] in ("''", '""', "{}"):
        return value[0] + MASK + value[-1]
    return MASK


def is_distinctive(secret: str) -> bool:
    """Whether replacing ``secret`` anywhere in text cannot garble ordinary words."""
    kinds = sum(
        (
            any(c.islower() for c in secret),
            any(c.isupper() for c in secret),
            any(c.isdigit() for c in secret),
            any(not c.isalnum() for c in secret),
        )
    )
    return (len(secret) >= 8 and kinds >= 3) or (len(secret) >= 12 and kinds >= 2)


def spellings(secret: str) -> set[str]:
    """Every way ``secret`` can be written in output: raw, percent- and plus-encoded
    (as SQLAlchemy and asyncmig render it in a URL), and ``%``-doubled for an ini file."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote(secret, safe="+"),
        quote(secret, safe=" +"),
        quote_plus(secret),
    }
    forms |= {form.replace("%", "%%") for form in forms if "%" in form}
    return {form for form in forms if form}


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask secrets in ``text`` by position, and distinctive known ``secrets`` anywhere.

    The one masking function: every output path of asyncmig goes through it.
    """
    masked = text
    if "://" in masked:
        masked = _URL_PASSWORD.sub(
            lambda m: m["head"] + (MASK if m["password"] else "") + m["at"], masked
        )
    if _KEY_HINT.search(masked):  # a cheap test first: most lines hold no secret key
        masked = _ASSIGNED.sub(lambda m: m["key"] + m["eq"] + _masked_value(m["value"]), masked)
        masked = _FIELD.sub(
            lambda m: m["q"] + m["key"] + m["q"] + m["sep"] + _masked_value(m["value"]), masked
        )
    for secret in _replaced_anywhere(frozenset(secrets)):
        masked = masked.replace(secret, MASK)
    return masked


@lru_cache(maxsize=64)
def _replaced_anywhere(secrets: frozenset[str]) -> tuple[str, ...]:
    """The distinctive ``secrets``, longest first (cached: the set rarely changes)."""
    return tuple(sorted((s for s in secrets if is_distinctive(s)), key=len, reverse=True))


class MaskingStream(io.TextIOBase):
    """A text stream that masks secrets (:func:`asyncmig.urls.mask_text`) line by line.

    Complete lines are masked and passed on at once; a partial line waits for its
    end, for :meth:`flush` or :meth:`close`, so a URL written in two pieces
    (``print`` writes its text and the newline apart; libraries build lines from
    fragments) is masked whole. ``secrets`` is read at each line, so a set that
    is filled after the stream is installed (the CLI's) applies to what follows.
    """

    def __init__(self, stream: TextIO, secrets: set[str]) -> None:
        self._stream = stream
        self.secrets = secrets
        self._pending = ""
        self._lock = threading.Lock()  # Alembic and logging may write from worker threads
        #: The reader went away (``asyncmig show-config | head -1``): output is discarded
        #: from then on, and the command itself goes on to its end, as Unix tools do.
        self.broken = False

    def write(self, text: str) -> int:
        with self._lock:
            data = self._pending + text
            end = max(data.rfind("\n"), data.rfind("\r")) + 1
            self._pending = data[end:]
            if end:
                self._emit(data[:end])
        return len(text)

    def _emit(self, text: str) -> None:
        if self.broken:
            return
        try:
            self._stream.write(mask_text(text, self.secrets))
        except BrokenPipeError:
            self.broken = True

    def flush(self) -> None:
        """Emit the partial line too: a flush says "show what was written so far"."""
        if getattr(self._stream, "closed", False):
            return  # at interpreter exit the wrapped stream may go first
        with self._lock:
            pending, self._pending = self._pending, ""
            if pending:
                self._emit(pending)
            if self.broken:
                return
            try:
                self._stream.flush()
            except BrokenPipeError:
                self.broken = True

    def close(self) -> None:
        """Emit what is pending (``IOBase.close`` flushes); the wrapped stream stays open."""
        super().close()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    def fileno(self) -> int:
        return self._stream.fileno()
