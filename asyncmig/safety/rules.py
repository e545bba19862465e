"""asyncmig's lint rules, read from the operation objects a revision invokes.

They work on every dialect, and see what SQL text hides (a ``batch_alter_table``
on SQLite renders a drop column as a table copy). Each rule has an id, a level, a
one-line explanation and a section in docs/safety.md named after its id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from alembic.operations import ops
from sqlalchemy import types as sqltypes
from sqlalchemy.sql import Delete
from sqlalchemy.sql.type_api import to_instance

from .record import Recorded, RevisionRecord

ERROR, WARNING = "error", "warning"
LEVELS = (ERROR, WARNING)


@dataclass(frozen=True)
class Rule:
    id: str
    level: str
    explanation: str

    @property
    def docs(self) -> str:
        return f"docs/safety.md#{self.id}"


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule("drop-table", ERROR, "Dropping a table destroys its data and breaks code that "
             "still uses it while the deploy rolls out."),
        Rule("drop-column", ERROR, "Dropping a column destroys its data and breaks code that "
             "still reads or writes it while the deploy rolls out."),
        Rule("rename-table", ERROR, "Renaming a table breaks code that still uses the old name "
             "while the deploy rolls out."),
        Rule("rename-column", ERROR, "Renaming a column breaks code that still uses the old name "
             "while the deploy rolls out."),
        Rule("narrow-type", ERROR, "A narrower type fails on, or truncates, values that no "
             "longer fit, and usually rewrites the table under an exclusive lock."),
        Rule("change-type", WARNING, "The column's type changes and asyncmig cannot tell "
             "whether the new type holds every old value (give existing_type=)."),
        Rule("not-null-without-default", ERROR, "Adding a NOT NULL column without a server "
             "default fails on a table that has rows."),
        Rule("set-not-null", WARNING, "Making a column NOT NULL fails if a row holds NULL, and "
             "scans the table under an exclusive lock."),
        Rule("empty-downgrade", WARNING, "This revision cannot be rolled back: its downgrade() "
             "is missing, empty or raises."),
        Rule("destructive-downgrade", WARNING, "Rolling this revision back destroys data its "
             "upgrade() did not create."),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Hit:
    """A rule broken at a line of a revision file."""

    rule: str
    line: int
    message: str


def check(record: RevisionRecord) -> list[Hit]:
    """Every rule broken by one revision, in the order of its lines."""
    hits = _upgrade_hits(record) + _downgrade_hits(record)
    return sorted(hits, key=lambda hit: hit.line)


def _upgrade_hits(record: RevisionRecord) -> list[Hit]:
    created = _created_tables(record.upgrade)
    hits: list[Hit] = []
    for item in record.upgrade:
        op = item.op
        if isinstance(op, (ops.CreateTableOp, ops.AddColumnOp)) or op is None:
            if isinstance(op, ops.AddColumnOp) and _table(op) not in created:
                hits += _added_column(op, item)
            continue
        if _table(op) in created:
            continue  # a table made by this same revision holds no rows yet
        if isinstance(op, ops.DropTableOp):
            hits.append(Hit("drop-table", item.line, f"drops table {_name(op)}"))
        elif isinstance(op, ops.DropColumnOp):
            hits.append(Hit("drop-column", item.line, f"drops column {_column(op)}"))
        elif isinstance(op, ops.RenameTableOp):
            hits.append(Hit("rename-table", item.line,
                            f"renames table {_name(op)} to {op.new_table_name}"))  # fmt: skip
        elif isinstance(op, ops.AlterColumnOp):
            hits += _altered_column(op, item)
    return hits


def _added_column(op: ops.AddColumnOp, item: Recorded) -> list[Hit]:
    column = op.column
    if column.nullable or column.primary_key:
        return []
    if column.server_default is not None or column.computed is not None:
        return []
    if getattr(column, "identity", None) is not None:
        return []
    added = f"{_name(op)}.{column.name}"
    return [Hit("not-null-without-default", item.line,
                f"adds NOT NULL column {added} without a server_default")]  # fmt: skip


def _altered_column(op: ops.AlterColumnOp, item: Recorded) -> list[Hit]:
    hits = []
    if op.modify_name is not None:
        hits.append(Hit("rename-column", item.line,
                        f"renames column {_column(op)} to {op.modify_name}"))  # fmt: skip
    if op.modify_type is not None:
        narrow = narrows(op.existing_type, op.modify_type)
        change = f"{_column(op)} from {_type(op.existing_type)} to {_type(op.modify_type)}"
        if narrow:
            hits.append(Hit("narrow-type", item.line, f"narrows {change}"))
        elif narrow is None:
            hits.append(Hit("change-type", item.line, f"changes {change}"))
    if op.modify_nullable is False and op.existing_nullable is not False:
        hits.append(Hit("set-not-null", item.line, f"makes {_column(op)} NOT NULL"))
    return hits


def _downgrade_hits(record: RevisionRecord) -> list[Hit]:
    if record.downgrade_problem is not None:
        kind, text = record.downgrade_problem
        if kind == "unreadable":
            return []  # offline mode's limit (a query in downgrade()), not the revision's
        return [Hit("empty-downgrade", record.downgrade_line, text)]
    if record.upgrade and not record.downgrade:
        count = sum(1 for item in record.upgrade if item.op is not None)
        noun = "operation" if count == 1 else "operations"
        return [Hit("empty-downgrade", record.downgrade_line,
                    f"downgrade() does nothing, but upgrade() runs {count} {noun}")]  # fmt: skip
    created = _created_tables(record.upgrade)
    added = {
        (_table(item.op), item.op.column.name)
        for item in record.upgrade
        if isinstance(item.op, ops.AddColumnOp)
    }
    hits: list[Hit] = []
    for item in record.downgrade:
        op = item.op
        what = None
        if isinstance(op, ops.DropTableOp) and _table(op) not in created:
            what = f"drops table {_name(op)}, which upgrade() did not create"
        elif isinstance(op, ops.DropColumnOp) and (_table(op), op.column_name) not in added:
            if _table(op) not in created:
                what = f"drops column {_column(op)}, which upgrade() did not add"
        elif isinstance(op, ops.AlterColumnOp) and op.modify_type is not None:
            if narrows(op.existing_type, op.modify_type):
                what = (f"narrows {_column(op)} from {_type(op.existing_type)} to "
                        f"{_type(op.modify_type)}")  # fmt: skip
        elif isinstance(op, ops.ExecuteSQLOp) and _deletes(op.sqltext):
            what = "deletes rows (DELETE or TRUNCATE)"
        if what is not None:
            hits.append(Hit("destructive-downgrade", item.line, f"downgrade() {what}"))
    return hits


_DELETING = re.compile(r"^\s*(DELETE\b|TRUNCATE\b)", re.IGNORECASE)


def _deletes(sqltext: Any) -> bool:
    if isinstance(sqltext, Delete):
        return True
    text = sqltext if isinstance(sqltext, str) else getattr(sqltext, "text", None)
    return isinstance(text, str) and any(_DELETING.match(part) for part in text.split(";"))


# -- types ------------------------------------------------------------------------------------
_INF = float("inf")
#: Exact and approximate decimals (SQLAlchemy 2.1 no longer makes Float a Numeric).
_DECIMAL: tuple[type[Any], ...] = (sqltypes.Numeric, sqltypes.Float)


def narrows(old: Any, new: Any) -> bool | None:
    """Whether a column of type ``old`` changed to ``new`` can lose values (True), cannot
    (False), or asyncmig cannot tell (None: no ``existing_type``, or types it cannot compare).
    """
    if old is None:
        return None
    old, new = to_instance(old), to_instance(new)
    if isinstance(new, sqltypes.Enum):
        return _enum_narrows(old, new)
    if isinstance(old, sqltypes.Enum) and isinstance(new, sqltypes.String):
        return _length(new) < max((len(value) for value in old.enums), default=0)
    if isinstance(old, sqltypes.String) and isinstance(new, sqltypes.String):
        return _length(new) < _length(old)
    if isinstance(old, sqltypes.Integer) and isinstance(new, sqltypes.Integer):
        return _int_rank(new) < _int_rank(old)
    if isinstance(old, _DECIMAL) and isinstance(new, _DECIMAL):
        return _numeric_narrows(old, new)
    if isinstance(old, _DECIMAL) and isinstance(new, sqltypes.Integer):
        return True  # fractions are lost
    if isinstance(old, sqltypes.DateTime):
        if isinstance(new, sqltypes.DateTime):
            return bool(old.timezone) and not new.timezone
        if isinstance(new, (sqltypes.Date, sqltypes.Time)):
            return True  # the time, or the date, is lost
    widening: tuple[tuple[type[Any], tuple[type[Any], ...]], ...] = (
        (sqltypes.Integer, _DECIMAL),
        (sqltypes.Date, (sqltypes.DateTime,)),
        (sqltypes.Boolean, (sqltypes.Integer, *_DECIMAL)),
    )
    if any(isinstance(old, a) and isinstance(new, b) for a, b in widening):
        return False
    if isinstance(new, sqltypes.String) and new.length is None:
        return False  # any value can be written as text
    old_kind, new_kind = _kind(old), _kind(new)
    if old_kind is None or new_kind is None:
        return None if type(old) is not type(new) or repr(old) != repr(new) else False
    return old_kind != new_kind


def _enum_narrows(old: Any, new: sqltypes.Enum) -> bool | None:
    if isinstance(old, sqltypes.Enum):
        return bool(set(old.enums) - set(new.enums))
    return True if isinstance(old, sqltypes.String) else None  # free text into a closed set


def _numeric_narrows(old: Any, new: Any) -> bool | None:
    if isinstance(new, sqltypes.Float) and not isinstance(old, sqltypes.Float):
        return True  # exact decimals become approximate
    if isinstance(old, sqltypes.Float) and not isinstance(new, sqltypes.Float):
        return None
    precision = (new.precision or _INF) < (old.precision or _INF)
    scale = _scale(new) < _scale(old)
    return precision or scale


def _scale(value: Any) -> float:
    scale = getattr(value, "scale", None)
    return _INF if scale is None else float(scale)


def _length(value: Any) -> float:
    length = getattr(value, "length", None)
    return _INF if length is None else float(length)


def _int_rank(value: Any) -> int:
    if isinstance(value, sqltypes.SmallInteger):
        return 1
    return 3 if isinstance(value, sqltypes.BigInteger) else 2


def _kind(value: Any) -> str | None:
    kinds = (
        (sqltypes.Boolean, "boolean"),
        (sqltypes.Integer, "number"),
        (sqltypes.Numeric, "number"),
        (sqltypes.Float, "number"),
        (sqltypes.String, "text"),
        (sqltypes.DateTime, "time"),
        (sqltypes.Date, "time"),
        (sqltypes.Time, "time"),
        (sqltypes.Interval, "interval"),
        (sqltypes.LargeBinary, "binary"),
    )
    return next((kind for cls, kind in kinds if isinstance(value, cls)), None)


def _type(value: Any) -> str:
    if value is None:
        return "an unstated type"
    try:
        return str(to_instance(value))
    except Exception:  # a dialect type the default dialect cannot compile
        return repr(to_instance(value))


# -- names ------------------------------------------------------------------------------------
def _table(op: Any) -> tuple[str | None, str] | None:
    """``(schema, table)`` of an operation on a table; None for others (``op.execute``)."""
    name = getattr(op, "table_name", None)
    return None if name is None else (getattr(op, "schema", None), str(name))


def _name(op: Any) -> str:
    schema, table = getattr(op, "schema", None), str(op.table_name)
    return f"{schema}.{table}" if schema else table


def _column(op: Any) -> str:
    return f"{_name(op)}.{op.column_name}"


def _created_tables(items: list[Recorded]) -> set[tuple[str | None, str] | None]:
    return {_table(item.op) for item in items if isinstance(item.op, ops.CreateTableOp)}
