"""Which type changes asyncmig calls narrowing (True), safe (False) or cannot tell (None)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from asyncmig.safety.lintconfig import allowed
from asyncmig.safety.rules import narrows


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (sa.String(100), sa.String(20), True),
        (sa.String(20), sa.String(100), False),
        (sa.Text, sa.String(255), True),
        (sa.String(255), sa.Text, False),
        (sa.BigInteger, sa.Integer, True),
        (sa.Integer, sa.SmallInteger, True),
        (sa.Integer, sa.BigInteger, False),
        (sa.Numeric(10, 2), sa.Numeric(8, 2), True),
        (sa.Numeric(10, 2), sa.Numeric(10, 1), True),
        (sa.Numeric(10, 2), sa.Numeric(12, 4), False),
        (sa.Numeric(10, 2), sa.Float, True),
        (sa.Numeric(10, 2), sa.Integer, True),
        (sa.Integer, sa.Numeric(20, 0), False),
        (sa.DateTime(timezone=True), sa.DateTime, True),
        (sa.DateTime, sa.DateTime(timezone=True), False),
        (sa.Date, sa.DateTime, False),
        (sa.DateTime, sa.Date, True),
        (sa.Enum("a", "b", name="e"), sa.Enum("a", name="e"), True),
        (sa.Enum("a", name="e"), sa.Enum("a", "b", name="e"), False),
        (sa.String(50), sa.Enum("a", name="e"), True),
        (sa.Enum("short", "longer", name="e"), sa.String(3), True),
        (sa.String(50), sa.Integer, True),
        (sa.Boolean, sa.Integer, False),
        (sa.Integer, sa.Boolean, True),
        (sa.Integer, sa.Text, False),
        (None, sa.String(10), None),
        (postgresql.JSONB, sa.JSON, None),
        (postgresql.JSONB, postgresql.JSONB, False),
    ],
)
def test_narrows(old: Any, new: Any, expected: bool | None) -> None:
    assert narrows(old, new) is expected


def test_allow_comments() -> None:
    source = (
        "# asyncmig: allow drop-column, rename-table\n"
        "op.drop_table('x')  # asyncmig: allow drop-table\n"
        "# Asyncmig: Allow prefer-bigint-over-int  # trailing words\n"
        "# asyncmig: allowance is not a directive\n"
    )
    assert allowed(source) == {
        "drop-column",
        "rename-table",
        "drop-table",
        "prefer-bigint-over-int",
    }
