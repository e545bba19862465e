"""What a migration run leaves in a database, as comparable text.

A snapshot is read through SQLAlchemy's inspector on a *sync* connection (psycopg,
pymysql, sqlite3): none of asyncmig's code or drivers are involved in judging it.
It lists, per schema and table, the columns (type, nullability, server default),
primary key, indexes, unique/foreign-key/check constraints, and every row (tables
in these tests are small), so ``alembic_version`` and data a revision inserted are
part of it. Database names never appear, so two databases compare equal when
their contents do.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import MetaData, NullPool, Table, create_engine, inspect, select
from sqlalchemy.engine import Connection, Inspector

#: Schemas PostgreSQL creates itself; every other schema of the database is compared.
_PG_SYSTEM = ("information_schema", "pg_catalog", "pg_toast")
#: asyncmig's own schema history, which plain alembic does not keep (tests/test_history.py
#: checks it); every other table is compared.
_OWN_TABLES = ("asyncmig_history",)


def _schemas(conn: Connection, inspector: Inspector) -> list[str | None]:
    if conn.dialect.name != "postgresql":
        return [None]  # MariaDB lists every database of the server; SQLite has "main"
    names = inspector.get_schema_names()
    return sorted(n for n in names if n not in _PG_SYSTEM and not n.startswith("pg_"))


def _type(conn: Connection, column: dict[str, Any]) -> str:
    try:
        return str(column["type"].compile(dialect=conn.dialect))
    except Exception:  # a reflected type the dialect cannot render back
        return repr(column["type"])


def _optional(call: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    try:
        result: list[dict[str, Any]] = call(*args, **kwargs)
    except NotImplementedError:
        return []
    return result


def _table_lines(
    conn: Connection, inspector: Inspector, schema: str | None, name: str
) -> list[str]:
    lines = [f"table {schema + '.' if schema else ''}{name}"]
    for col in inspector.get_columns(name, schema=schema):
        null = "NULL" if col["nullable"] else "NOT NULL"
        default = f" DEFAULT {col['default']}" if col.get("default") is not None else ""
        lines.append(f"  column {col['name']} {_type(conn, col)} {null}{default}")
    pk = inspector.get_pk_constraint(name, schema=schema)
    if pk.get("constrained_columns"):
        lines.append(f"  primary key {pk.get('name')} ({', '.join(pk['constrained_columns'])})")
    for ix in sorted(inspector.get_indexes(name, schema=schema), key=lambda i: str(i["name"])):
        unique = "unique " if ix.get("unique") else ""
        cols = ", ".join(str(c) for c in ix["column_names"])
        lines.append(f"  {unique}index {ix['name']} ({cols})")
    for uq in sorted(
        _optional(inspector.get_unique_constraints, name, schema=schema),
        key=lambda u: str(u["name"]),
    ):
        lines.append(f"  unique {uq['name']} ({', '.join(uq['column_names'])})")
    for fk in sorted(inspector.get_foreign_keys(name, schema=schema), key=lambda f: str(f["name"])):
        lines.append(
            f"  foreign key {fk['name']} ({', '.join(fk['constrained_columns'])}) -> "
            f"{fk['referred_table']} ({', '.join(fk['referred_columns'])})"
        )
    for ck in sorted(
        _optional(inspector.get_check_constraints, name, schema=schema),
        key=lambda c: str(c["name"]),
    ):
        lines.append(f"  check {ck['name']} {ck['sqltext']}")
    table = Table(name, MetaData(), schema=schema, autoload_with=conn)
    rows = sorted(repr(tuple(row)) for row in conn.execute(select(table)))
    lines.extend(f"  row {row}" for row in rows)
    return lines


def snapshot(sync_url: str) -> list[str]:
    """Every schema, table and row of the database at ``sync_url``, as sorted text lines."""
    engine = create_engine(sync_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            lines: list[str] = []
            for schema in _schemas(conn, inspector):
                if schema is not None:
                    lines.append(f"schema {schema}")
                for name in sorted(inspector.get_table_names(schema=schema)):
                    if name in _OWN_TABLES:
                        continue
                    lines.extend(_table_lines(conn, inspector, schema, name))
            return lines
    finally:
        engine.dispose()


def diff(expected: Sequence[str], actual: Sequence[str], labels: tuple[str, str]) -> str:
    """A unified diff of two snapshots; empty when they are equal."""
    return "\n".join(
        difflib.unified_diff(
            list(expected), list(actual), fromfile=labels[0], tofile=labels[1], lineterm=""
        )
    )


def indent(lines: Iterable[str], prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in lines)
