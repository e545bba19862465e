"""Property tests for asyncmig.urls: masking never shows the password; normalising is idempotent."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import URL

from asyncmig.urls import mask_text, mask_url, normalize_url, render_url

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
def test_known_secret_masked_anywhere(item: tuple[URL, str]) -> None:
    """A password a driver echoes outside any URL is masked once it is a known secret."""
    _, password = item
    assume(password not in "Error: : login failed")
    masked = mask_text(f"Error: {password}: login failed", {password})
    assert password not in masked


@settings(max_examples=150, deadline=None)
@given(urls())
def test_normalize_url_is_idempotent(item: tuple[URL, str]) -> None:
    url, _ = item
    once = normalize_url(url)
    assert normalize_url(once) == once
    # A round trip through the string the engine receives changes nothing either.
    assert normalize_url(render_url(once)) == once
    assert once.password == url.password
