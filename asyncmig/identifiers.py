"""PostgreSQL identifiers quoted for SQL text, with no SQLAlchemy import: the no-op fast
path (:mod:`asyncmig.fastpath`) builds its one query without loading SQLAlchemy."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, quoted (a schema named by a tenant list is data, not SQL)."""
    return '"' + name.replace('"', '""') + '"'
