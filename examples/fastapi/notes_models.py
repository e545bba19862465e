"""The example's tables, shared by the app (queries) and env.py (autogenerate)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("text", sa.String(200), nullable=False),
)
