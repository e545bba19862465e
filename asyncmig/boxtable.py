"""Terminal tables without Rich, for the common case: the same characters Rich draws.

``history`` on a terminal prints a table of every revision; building it with Rich
(importing it, measuring and laying out every cell) cost more than the whole of
Alembic's ``history``. For tables whose cells are plain ASCII, on one line, and that
fit the terminal, the layout is trivial: Rich's default box (``HEAVY_HEAD``), one
space of padding, the header in bold when colour is on. Anything else (a title,
wide or control characters, a table wider than the terminal, which Rich would wrap)
returns None and the caller uses Rich.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TextIO

BOLD, RESET = "\x1b[1m", "\x1b[0m"


def terminal_width(stream: TextIO) -> int:
    """The width Rich would use: the first standard stream's terminal size (stdin first),
    over which ``COLUMNS`` wins; 80 when that says 0 (a pseudo-terminal of no size)."""
    width = 0
    for fd in (0, 1, 2):
        try:
            width = os.get_terminal_size(fd).columns
        except (AttributeError, OSError, ValueError):
            continue
        break
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        width = int(columns)
    return width or 80


def _plain(cell: str) -> bool:
    return cell.isascii() and cell.isprintable()


def render(
    header: Sequence[str], body: Sequence[Sequence[str]], *, width: int | None, bold: bool
) -> str | None:
    """The table as Rich would print it, or None when only Rich can lay it out."""
    if width is None or not header:
        return None
    if bold and os.environ.get("TERM", "").lower() in ("dumb", "unknown"):
        return None  # Rich finds no colour system there: its own plain output
    if not all(_plain(cell) for row in (header, *body) for cell in row):
        return None
    widths = [max([len(h)] + [len(row[i]) for row in body]) for i, h in enumerate(header)]
    if sum(widths) + 3 * len(widths) + 1 > width:
        return None
    lines = ["┏" + "┳".join("━" * (w + 2) for w in widths) + "┓"]
    if bold:
        cells = [
            f"{BOLD} {RESET}{BOLD}{h.ljust(w)}{RESET}{BOLD} {RESET}"
            for h, w in zip(header, widths, strict=True)
        ]
    else:
        cells = [f" {h.ljust(w)} " for h, w in zip(header, widths, strict=True)]
    lines.append("┃" + "┃".join(cells) + "┃")
    lines.append("┡" + "╇".join("━" * (w + 2) for w in widths) + "┩")
    for row in body:
        lines.append(
            "│" + "│".join(f" {c.ljust(w)} " for c, w in zip(row, widths, strict=True)) + "│"
        )
    lines.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    return "\n".join(lines) + "\n"
