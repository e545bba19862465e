"""Property tests for asyncmig.urls: masking never shows the password; normalising is idempotent;
the last-@ rule reads every raw password; only distinctive secrets are masked outside positions."""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus, unquote

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import URL, make_url

from asyncmig.masking import is_distinctive
from asyncmig.urls import DatabaseURL, mask_text, mask_url, normalize_url, parse_url, render_url

DRIVERS = [
    "postgresql",
    "postgres",
    "postgresql+asyncpg",
    "postgresql+psycopg",
    "sqlite+aiosqlite",
    "mysql",
    "mysql+asyncmy",
    "mariadb+aiomysql",
]
word = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
)
passwords = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=3, max_size=20
)


@st.composite
def urls(draw: st.DrawFn) -> tuple[URL, str]:
    password = draw(passwords)
    url = URL.create(
        draw(st.sampled_from(DRIVERS)),
        username=draw(word),
        password=password,
        host=draw(st.from_regex(r"[a-z][a-z0-9.-]{0,15}", fullmatch=True)),
        port=draw(st.none() | st.integers(1, 65535)),
        database=draw(st.none() | word),
        query=draw(
            st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), word, max_size=2)
        ),
    )
    return url, password


def spellings(password: str) -> set[str]:
    return {
        password,
        quote(password),
        quote(password, safe=""),
        quote_plus(password),
        quote(password, safe=" +"),
    }


def without_password(url: URL) -> str:
    return url._replace(password=None).render_as_string(hide_password=False)


@settings(max_examples=150, deadline=None)
@given(urls())
def test_masked_url_never_contains_password(item: tuple[URL, str]) -> None:
    url, password = item
    assume("*" not in password)  # '**' would be found in the mask itself
    rendered = render_url(url)
    rest = without_password(url)
    for spelling in spellings(password):
        assume(spelling not in rest)
    for masked in (
        mask_url(url),
        mask_url(rendered),
        mask_text(rendered),
        mask_text(f"could not connect to {rendered}: refused"),
    ):
        for spelling in spellings(password):
            assert spelling not in masked, (rendered, masked)


@settings(max_examples=100, deadline=None)
@given(urls())
def test_distinctive_secret_masked_anywhere(item: tuple[URL, str]) -> None:
    """A password a driver echoes outside any URL is masked once it is a known, distinctive
    secret; a common word stays in ordinary text (it masks only its own positions)."""
    _, password = item
    text = f"Error: {password}: login failed"
    masked = mask_text(text, {password})
    if is_distinctive(password):
        assert password not in masked
    else:
        assert masked == mask_text(text)


@settings(max_examples=150, deadline=None)
@given(urls())
@example(  # found by a plain run of the suite: the rendered string ended in a space
    (URL.create("postgresql", username="u", password="pwd", host="h", database=" "), "pwd")
)
def test_normalize_url_is_idempotent(item: tuple[URL, str]) -> None:
    url, _ = item
    once = normalize_url(url)
    assert normalize_url(once) == once
    # A round trip through the string the engine receives changes nothing either.
    assert normalize_url(render_url(once)) == once
    assert once.password == url.password


@settings(max_examples=150, deadline=None)
@given(urls())
def test_rendered_string_is_one_word_that_sqlalchemy_reads_back(item: tuple[URL, str]) -> None:
    """The root cause of the flake: SQLAlchemy renders spaces raw, and a URL read from
    the environment is stripped. asyncmig's rendering encodes them."""
    url, _ = item
    rendered = render_url(url)
    assert not any(c.isspace() for c in rendered)
    assert make_url(rendered) == url
    assert parse_url(rendered) == url
    native = url.render_as_string(hide_password=False)
    if native == native.strip():  # where SQLAlchemy's own string survives stripping
        assert parse_url(native) == make_url(native)


# printable ASCII, the URL delimiters included; no white space at the ends
raw_passwords = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126) | st.just(" "),
    min_size=1,
    max_size=16,
).map(lambda s: s.strip())


@settings(max_examples=300, deadline=None)
@given(
    raw_passwords,
    st.sampled_from(["u", "app_user", "me@srv"]),
    st.sampled_from(["db.example.com", "127.0.0.1:5432", "[::1]:5432", "h"]),
    st.sampled_from(["/app", "/app?sslmode=require", "", "/my@db", "/db?application_name=a@b"]),
)
@example("Pw@Secret", "u", "host", "/db")
def test_raw_password_is_read_whole(password: str, user: str, host: str, tail: str) -> None:
    """The last-@ rule: a password pasted unencoded is read whole and never shown, unless it
    is one of the two documented ambiguous shapes."""
    assume(password and "*" not in password)
    assume(not re.search(r"@.*[/?]", password))  # '@' then '/' or '?': no rule can tell
    assume(not re.match(r"\d+[/?]", password))  # digits then '/': read as a port
    raw = f"postgresql://{user}:{password}@{host}{tail}"
    url = DatabaseURL.parse(raw)
    assert url.url.password == unquote(password)
    assert url.url.username == user
    assert url.render() == DatabaseURL.parse(url.render()).render()
    shown = [url.masked, mask_url(url.url), mask_text(url.render())]
    if " " not in password:
        shown.append(mask_text(raw))
    for text in shown:
        for spelling in spellings(unquote(password)) | {password}:
            assert f":{spelling}@" not in text, (raw, text)
