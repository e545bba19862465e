"""asyncmig.masking: masking by position, distinctive secrets masked anywhere, MaskingStream.

(Split out of test_urls.py, assertions unchanged.)
"""

from __future__ import annotations

import io
import sys
import threading
from pathlib import Path

import pytest

from asyncmig.masking import SECRET_KEYS, MaskingStream, is_distinctive, mask_text
from asyncmig.urls import DatabaseURL, mask_url


# -- masking by position ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "could not connect to postgresql+asyncpg://u:Pw@Secret@host/db: refused",
            "could not connect to postgresql+asyncpg://u:***@host/db: refused",
        ),
        (
            "oracle+oracledb_async://u:pw@h/db and postgresql+psycopg_async://u:pw@h/db",
            "oracle+oracledb_async://u:***@h/db and postgresql+psycopg_async://u:***@h/db",
        ),
        (
            "Azure: postgresql://me@srv:s3cr@t@srv.example.com/db",
            "Azure: postgresql://me@srv:***@srv.example.com/db",
        ),
        ("mysql://root:@h/db", "mysql://root:@h/db"),
        (
            "url=mysql://u@h/app?password=x%2By&charset=utf8",
            "url=mysql://u@h/app?password=***&charset=utf8",
        ),
        ("host=db user=u password=pw dbname=app", "host=db user=u password=*** dbname=app"),
        ("host=db password = 'p w\\'x' port=5432", "host=db password = '***' port=5432"),
        (
            "sslpassword=k1 PGPASSWORD=k2 MYSQL_PWD=k3",
            "sslpassword=*** PGPASSWORD=*** MYSQL_PWD=***",
        ),
        ("DRIVER={ODBC 18};PWD={se;cret};UID=sa", "DRIVER={ODBC 18};PWD={***};UID=sa"),
        ("connect(host='h', password='pw')", "connect(host='h', password='***')"),
        (
            "{'user': 'u', 'password': 'pw', \"Password\": \"p\\\"w\"}",
            "{'user': 'u', 'password': '***', \"Password\": \"***\"}",
        ),
        # no password in these: nothing to mask, nothing garbled
        ("see http://example.com:8080/docs or mail admin@corp.com", None),
        ("postgresql://h:5432 failed for user@example.com", None),
        ("postgresql://h:5432/db?application_name=a@b", None),
        ("postgresql+asyncpg://postgres@127.0.0.1:5432/app", None),
        (  # the example in the message is URL-shaped: its "password" is masked too
            "malformed database URL 'postgresql+asyncpg://***@127.0.0.1:5432:port/app': "
            "expected dialect+driver://user:password@host/database",
            "malformed database URL 'postgresql+asyncpg://***@127.0.0.1:5432:port/app': "
            "expected dialect+driver://user:***@host/database",
        ),
        (
            'mysql+asyncmy://root:***@127.0.0.1:3306: (1045, "Access denied for user '
            "'root'@'localhost' (using password: YES)\")",
            None,
        ),
        ("the password is required; password: YES; passwords=3", None),
    ],
)
def test_masking_by_position(text: str, masked: str | None) -> None:
    assert mask_text(text) == (text if masked is None else masked)
    assert mask_text(mask_text(text)) == mask_text(text)  # idempotent


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_every_secret_key_is_masked(key: str) -> None:
    for spelled in (key, key.upper()):
        assert mask_text(f"x {spelled}=v4lue&y=1") == f"x {spelled}=***&y=1"
        assert mask_text(f"{{'{spelled}': 'v4lue'}}") == f"{{'{spelled}': '***'}}"
        assert mask_url(f"mysql://u@h/db?{spelled}=v4lue") == f"mysql://u@h/db?{spelled}=***"


def test_a_common_word_password_masks_only_itself() -> None:
    """docs/ci.md's service container: user, password and database all ``postgres``."""
    url = DatabaseURL.parse("postgresql://postgres:postgres@postgres:5432/postgres")
    text = (
        f"Current revision(s) for {url.render()}:\n"
        "postgres server postgres:5432 database postgres: the postgres role\n"
        "host=postgres password=postgres dbname=postgres\n"
        "{'password': 'postgres', 'user': 'postgres'}\n"
    )
    assert mask_text(text, url.secrets) == (
        "Current revision(s) for postgresql+asyncpg://postgres:***@postgres:5432/postgres:\n"
        "postgres server postgres:5432 database postgres: the postgres role\n"
        "host=postgres password=*** dbname=postgres\n"
        "{'password': '***', 'user': 'postgres'}\n"
    )


@pytest.mark.parametrize(
    ("secret", "distinctive"),
    [
        ("postgres", False),
        ("mysecretpassword", False),
        ("hunter2", False),
        ("secret123", False),
        ("Password1", True),
        ("Sup3rS3cret%pw", True),
        ("Pw-8d3f_hunter2", True),
        ("correct horse battery", True),
        ("3f9a1c0e77b24d6a", True),
    ],
)
def test_distinctive_secrets_are_masked_anywhere(secret: str, distinctive: bool) -> None:
    assert is_distinctive(secret) is distinctive
    text = f"Error: {secret} was rejected"
    assert mask_text(text, {secret}) == ("Error: *** was rejected" if distinctive else text)


# -- MaskingStream ------------------------------------------------------------------------------
def test_stream_masks_a_url_written_in_pieces() -> None:
    out = io.StringIO()
    stream = MaskingStream(out, set())
    stream.write("connecting to postgresql://u:Sup3rS")
    stream.write("3cret@h")
    assert out.getvalue() == ""  # a partial line waits for its end
    stream.write("/db\nnext line: postgresql://u:p")
    assert out.getvalue() == "connecting to postgresql://u:***@h/db\n"
    stream.write("w@h/db")
    stream.flush()  # a flush shows what was written so far
    assert (
        out.getvalue()
        == "connecting to postgresql://u:***@h/db\nnext line: postgresql://u:***@h/db"
    )
    stream.write("?password=a")
    stream.write("bc\r\n")
    assert out.getvalue().endswith("?password=***\r\n")


def test_stream_emits_the_rest_on_close_and_keeps_the_target_open() -> None:
    out = io.StringIO()
    secrets: set[str] = set()
    stream = MaskingStream(out, secrets)
    secrets.add("Sup3rS3cret%pw")  # filled after the stream is installed, as the CLI does
    print("echo: Sup3rS3cret%pw", end="", file=stream)
    stream.close()
    assert out.getvalue() == "echo: ***"
    assert stream.closed and not out.closed


def test_stream_passes_through_terminal_properties(tmp_path: Path) -> None:
    with open(tmp_path / "out.txt", "w", encoding="latin-1") as target:
        stream = MaskingStream(target, set())
        assert stream.fileno() == target.fileno()
        assert stream.encoding == "latin-1"
        assert stream.isatty() is False
        assert stream.writable()
    assert MaskingStream(io.StringIO(), set()).encoding == "utf-8"
    assert MaskingStream(sys.__stdout__ or io.StringIO(), set()).isatty() == (
        sys.__stdout__ is not None and sys.__stdout__.isatty()
    )


def test_stream_lines_from_threads_stay_whole() -> None:
    out = io.StringIO()
    stream = MaskingStream(out, set())

    def writer(n: int) -> None:
        for _ in range(200):
            stream.write(f"t{n} postgresql://u:")
            stream.write(f"secret{n}@h/db\n")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert "secret" not in out.getvalue()
    assert len(out.getvalue().splitlines()) == 800
