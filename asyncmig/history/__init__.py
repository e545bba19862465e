"""The schema history: one row per applied step in ``asyncmig_history``, beside the
version table, written in the step's own transaction.

* :mod:`.table`: the table's definition, and creating it when first needed;
* :mod:`.checksum`: the checksum of a revision file (its bytes, never an import);
* :mod:`.record`: what :class:`asyncmig.deploy.Run` writes for each step;
* :mod:`.read`: the rows, read back for ``log``, ``status --all`` and ``validate``;
* :mod:`.validate`: applied files that changed, applied revisions that are gone, and a
  history that disagrees with the version table.

See docs/history.md.
"""

from __future__ import annotations

from .table import TABLE_NAME

__all__ = ["TABLE_NAME"]
