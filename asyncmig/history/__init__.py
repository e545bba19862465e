"""The schema history: one row per applied step in ``asyncmig_history``, beside the
version table, written in the step's own transaction.

* :mod:`.table`: the table's definition, and creating it when first needed;
* :mod:`.checksum`: the checksum of a revision file (its bytes, never an import);
* :mod:`.record`: what :class:`asyncmig.deploy.Run` writes for each step;
* :mod:`.read`: the rows, read back for ``log``, ``status --all`` and ``validate``;
* :mod:`.validate`: applied files that changed, applied revisions that are gone, and a
  history that disagrees with the version table.

This module itself imports nothing heavy: every run asks it for the autogenerate filter.
See docs/history.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TABLE_NAME = "asyncmig_history"


def autogenerate_filter(
    original: Callable[..., bool] | None, schema: str | None
) -> Callable[..., bool]:
    """An ``include_name`` for ``context.configure`` that hides the history table from
    autogenerate (as Alembic hides its version table), then asks env.py's own filter."""

    def include_name(name: Any, type_: str, parent_names: dict[str, Any]) -> bool:
        if (
            type_ == "table"
            and name == TABLE_NAME
            and parent_names.get("schema_name") in (None, schema)
        ):
            return False
        return original(name, type_, parent_names) if original is not None else True

    return include_name


__all__ = ["TABLE_NAME", "autogenerate_filter"]
