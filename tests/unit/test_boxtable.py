"""Terminal tables drawn without Rich are exactly what Rich draws (else Rich draws them)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text

from asyncmig.boxtable import render

CASES = [
    (("revision", "parent", "message", ""), [("0002aa", "0001aa", "create t2", "head")]),
    (("a",), []),
    (("", "b"), [("", ""), ("x", "  y  ")]),
    (("template", "description"), [("asyncmig", "Async env.py [bold] x")]),
    (("k",), [("a" * 76,)]),  # exactly 80 columns
    (("k",), [("a" * 77,)]),  # one too many: Rich wraps, so Rich draws it
    (("k",), [("naïve",)]),  # not ASCII
    (("k",), [("tab\there",)]),  # not printable
]


def rich(header: tuple[str, ...], body: list[tuple[str, ...]], color: bool) -> str:
    buf = io.StringIO()
    console = Console(
        file=buf,
        highlight=False,
        soft_wrap=True,
        no_color=not color,
        force_terminal=True,
        color_system="standard" if color else None,
        width=80,
    )
    table = Table()
    for column in header:
        table.add_column(Text(column))
    for row in body:
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)
    return buf.getvalue()


@pytest.mark.parametrize("color", [True, False])
@pytest.mark.parametrize(("header", "body"), CASES)
def test_same_as_rich_or_none(
    header: tuple[str, ...],
    body: list[tuple[str, ...]],
    color: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    drawn = render(header, body, width=80, bold=color)
    fits = (
        sum(max([len(h)] + [len(r[i]) for r in body]) + 3 for i, h in enumerate(header)) + 1 <= 80
    )
    plain = all(c.isascii() and c.isprintable() for row in (header, *body) for c in row)
    if fits and plain:
        assert drawn == rich(header, body, color)
    else:
        assert drawn is None


def test_rich_decides_on_a_dumb_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    assert render(("a",), [("b",)], width=80, bold=True) is None
    assert render(("a",), [("b",)], width=80, bold=False) is not None
