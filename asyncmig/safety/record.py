"""See what each revision does without a database: its operation objects and its SQL.

Every ``op.*`` call in a revision builds an operation object
(:mod:`alembic.operations.ops`: ``DropColumnOp``, ``AlterColumnOp``...) and hands it
to ``Operations.invoke``, which renders it. Pending revisions run through env.py in
Alembic's offline mode (``upgrade --sql``); while each one's ``upgrade()`` runs,
``alembic.op`` is an :class:`~alembic.operations.Operations` whose ``invoke`` notes
the object, the revision file's line that made it, and the span of SQL it rendered.

``downgrade()`` runs the same way right after, against a second offline context
whose SQL is thrown away: its operations are what the rules on rollbacks read.
The SQL of the main run is unchanged, so ``plan --lint`` prints what ``plan`` prints.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from alembic.operations import BatchOperations, Operations
from alembic.runtime.migration import MigrationContext


@dataclass(frozen=True)
class Recorded:
    """One operation a revision invoked.

    ``op`` is None for a ``batch_alter_table`` block, whose SQL is rendered as the
    block closes: its span covers that SQL, its line is the ``with`` statement.
    """

    op: Any
    line: int
    #: Character offsets of the SQL it rendered, in the revision's SQL.
    start: int
    end: int


@dataclass
class RevisionRecord:
    """What one revision's ``upgrade()`` and ``downgrade()`` invoked."""

    revision: str
    path: str
    upgrade: list[Recorded] = field(default_factory=list)
    downgrade: list[Recorded] = field(default_factory=list)
    #: Why downgrade() was not read: ``("missing" | "irreversible" | "unreadable", text)``.
    downgrade_problem: tuple[str, str] | None = None
    #: The SQL its upgrade() rendered (the version table's statements are not in it).
    sql: str = ""
    upgrade_line: int = 1
    downgrade_line: int = 1
    #: Tables of batch blocks whose SQL needs a live database ("move and copy" on SQLite).
    unrendered: list[str] = field(default_factory=list)

    def line_of(self, offset: int) -> int:
        """The revision file's line whose operation rendered the SQL at ``offset``."""
        best: Recorded | None = None
        for item in self.upgrade:
            if item.start <= offset < item.end and (
                best is None or item.end - item.start < best.end - best.start
            ):
                best = item
        return best.line if best is not None else self.upgrade_line


@dataclass
class Recorder:
    """Wraps the steps of an offline run; collects a :class:`RevisionRecord` per revision."""

    revisions: list[RevisionRecord] = field(default_factory=list)
    dialect: str | None = None
    #: Whether each revision runs inside a transaction (transactional DDL).
    transactional: bool = False
    _scratch: MigrationContext | None = None

    def wrap(self, steps: list[Any], context: MigrationContext) -> list[Any]:
        """``steps`` (Alembic's migration steps), each upgrade step recording as it runs."""
        self.dialect = context.dialect.name
        self.transactional = bool(context.impl.transactional_ddl)
        for step in steps:
            script = getattr(step, "revision", None)
            if script is not None and step.is_upgrade:
                step.migration_fn = self._recording(script, step.migration_fn, context)
        return steps

    def _recording(
        self, script: Any, upgrade: Callable[..., None], context: MigrationContext
    ) -> Callable[..., None]:
        @functools.wraps(upgrade)  # Alembic names the step after the function
        def recording(**kw: Any) -> None:
            record = RevisionRecord(script.revision, script.path)
            record.upgrade_line = _first_line(upgrade)
            impl = context.impl
            target = impl.output_buffer
            own = io.StringIO()
            impl.output_buffer = own
            try:
                record.upgrade = _run(context, upgrade, kw, own, script.path, record.unrendered)
            finally:
                impl.output_buffer = target
                record.sql = own.getvalue()
                if target is not None:
                    target.write(record.sql)
            self._read_downgrade(record, script, context, kw)
            self.revisions.append(record)

        return recording

    def _read_downgrade(
        self, record: RevisionRecord, script: Any, context: MigrationContext, kw: dict[str, Any]
    ) -> None:
        downgrade = getattr(script.module, "downgrade", None)
        if not callable(downgrade):
            record.downgrade_problem = ("missing", "the revision has no downgrade() function")
            return
        record.downgrade_line = _first_line(downgrade)
        scratch = self._scratch_context(context)
        buffer = scratch.impl.output_buffer
        assert isinstance(buffer, io.StringIO)
        buffer.seek(0)
        buffer.truncate()
        try:
            record.downgrade = _run(scratch, downgrade, kw, buffer, script.path, [])
        except NotImplementedError as exc:
            detail = f": {exc}" if str(exc) else ""
            record.downgrade_problem = (
                "irreversible",
                f"downgrade() raises NotImplementedError{detail}",
            )
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            record.downgrade_problem = (
                "unreadable",
                f"downgrade() could not run offline ({type(exc).__name__}: {first})",
            )

    def _scratch_context(self, context: MigrationContext) -> MigrationContext:
        """An offline context like ``context`` whose output nobody reads."""
        if self._scratch is None:
            skipped = {"fn", "output_buffer", "on_version_apply", "starting_rev", "destination_rev"}
            opts = {k: v for k, v in context.opts.items() if k not in skipped}
            opts.update(as_sql=True, output_buffer=io.StringIO())
            log = logging.getLogger("alembic.runtime.migration")
            disabled, log.disabled = log.disabled, True  # its "Context impl" lines once is enough
            try:
                self._scratch = MigrationContext.configure(dialect=context.dialect, opts=opts)
            finally:
                log.disabled = disabled
        return self._scratch


def _run(
    context: MigrationContext,
    fn: Callable[..., None],
    kw: dict[str, Any],
    buffer: io.StringIO,
    path: str,
    unrendered: list[str],
) -> list[Recorded]:
    """Run ``fn`` with ``alembic.op`` recording into a list; the tables of batch blocks
    whose SQL could not be rendered offline go to ``unrendered``."""
    from alembic import op as op_module

    recorded: list[Recorded] = []
    line = _LineFinder(path)
    operations = Operations(context)

    def invoke(operation: Any) -> Any:
        where, start = line(), buffer.tell()
        result = Operations.invoke(operations, operation)
        recorded.append(Recorded(operation, where, start, buffer.tell()))
        return result

    @contextmanager
    def batch_alter_table(*args: Any, **kwargs: Any) -> Iterator[BatchOperations]:
        where, start = line(), buffer.tell()
        manager = Operations.batch_alter_table(operations, *args, **kwargs)
        batch = manager.__enter__()

        def batch_invoke(operation: Any) -> Any:
            result = BatchOperations.invoke(batch, operation)
            at = buffer.tell()  # its SQL comes when the block closes
            recorded.append(Recorded(operation, line(), at, at))
            return result

        setattr(batch, "invoke", batch_invoke)  # noqa: B010 - this instance only
        try:
            yield batch
        except BaseException:
            if not manager.__exit__(*sys.exc_info()):
                raise
            return
        if _needs_reflection(batch, context):
            # "move and copy" offline needs the table's definition (copy_from=): its
            # operations were recorded, its SQL cannot be rendered without a database.
            manager.__exit__(_Unrendered, _Unrendered(), None)
            unrendered.append(str(getattr(batch.impl, "table_name", "?")))
        else:
            manager.__exit__(None, None, None)
        recorded.append(Recorded(None, where, start, buffer.tell()))

    # This instance only: ``op.*`` proxies call the installed instance's methods.
    setattr(operations, "invoke", invoke)  # noqa: B010
    setattr(operations, "batch_alter_table", batch_alter_table)  # noqa: B010
    previous = getattr(op_module, "_proxy", None)
    operations._install_proxy()
    try:
        fn(**kw)
    finally:
        if previous is not None:
            previous._install_proxy()
        else:
            operations._remove_proxy()
    return recorded


class _Unrendered(Exception):
    """Thrown into ``batch_alter_table`` to close it without rendering."""


def _needs_reflection(batch: Any, context: MigrationContext) -> bool:
    """Whether closing the batch block would reflect the table (impossible offline)."""
    impl = batch.impl
    should_recreate = getattr(impl, "_should_recreate", None)
    return (
        context.as_sql
        and getattr(impl, "copy_from", None) is None
        and callable(should_recreate)
        and bool(should_recreate())
    )


class _LineFinder:
    """The line of the revision file on the call stack (helpers in other files skipped)."""

    def __init__(self, path: str) -> None:
        self._path = os.path.normcase(os.path.abspath(path))
        self._known: dict[str, bool] = {}

    def __call__(self) -> int:
        frame = sys._getframe(1)
        while frame is not None:
            name = frame.f_code.co_filename
            hit = self._known.get(name)
            if hit is None:
                hit = self._known[name] = os.path.normcase(os.path.abspath(name)) == self._path
            if hit:
                return frame.f_lineno
            frame = frame.f_back  # type: ignore[assignment]
        return 0


def _first_line(fn: Any) -> int:
    code = getattr(fn, "__code__", None)
    return int(code.co_firstlineno) if code is not None else 1
