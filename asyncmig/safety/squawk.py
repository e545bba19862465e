"""squawk on the SQL of each revision, its findings mapped back to the revision files.

squawk (``pip install 'asyncmig[lint]'``: the ``squawk-cli`` package ships its binary)
lints PostgreSQL migration SQL. Each revision's SQL goes in its own file, all in one
squawk process; a finding's SQL line is traced to the operation that rendered it, so
it names the revision file and the line of the ``op.*`` call.

squawk is told what asyncmig already guarantees, so it does not flag it:

* ``--assume-in-transaction`` when the revisions run in a transaction (PostgreSQL's
  transactional DDL, unless env.py turns it off);
* ``require-statement-timeout`` / ``require-lock-timeout`` excluded when
  ``--statement-timeout`` / ``--pg-lock-timeout`` are set (asyncmig sets them on the
  migration's connection before the first revision);
* rules that asyncmig's own rules already report on the same operation excluded, so a
  drop is reported once (:data:`DUPLICATES`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import AsyncmigError
from .record import RevisionRecord

#: squawk's rule -> asyncmig's rule reporting the same operation (squawk's is excluded
#: while asyncmig's is on).
DUPLICATES = {
    "ban-drop-column": "drop-column",
    "ban-drop-table": "drop-table",
    "renaming-column": "rename-column",
    "renaming-table": "rename-table",
    "adding-required-field": "not-null-without-default",
    "adding-not-nullable-field": "set-not-null",
}


@dataclass(frozen=True)
class SquawkHit:
    revision: str
    rule: str
    level: str
    #: The line of the revision file.
    line: int
    message: str
    help: str | None


def find() -> str | None:
    """The squawk binary: beside this Python (a virtualenv not on PATH), else on PATH."""
    beside = Path(sys.executable).with_name("squawk")
    if beside.is_file():
        return str(beside)
    return shutil.which("squawk")


def version(exe: str) -> str:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "squawk"


def run(
    exe: str,
    records: list[RevisionRecord],
    *,
    exclude: list[str],
    in_transaction: bool,
    pg_version: str | None = None,
) -> list[SquawkHit]:
    """squawk's findings on every revision with SQL, in the order of the revisions."""
    with_sql = [record for record in records if record.sql.strip()]
    if not with_sql:
        return []
    with tempfile.TemporaryDirectory(prefix="asyncmig-squawk-") as tmp:
        files: dict[str, RevisionRecord] = {}
        for index, record in enumerate(with_sql):
            path = Path(tmp) / f"{index:05d}_{record.revision}.sql"
            path.write_text(record.sql, encoding="utf-8")
            files[str(path)] = record
        args = [exe, "--reporter", "json"]
        if in_transaction:
            args.append("--assume-in-transaction")
        if exclude:
            args.append("--exclude=" + ",".join(sorted(exclude)))
        if pg_version:
            args.append(f"--pg-version={pg_version}")
        out = subprocess.run([*args, *files], capture_output=True, text=True, check=False)
        try:
            found = json.loads(out.stdout or "[]")
        except json.JSONDecodeError:
            found = None
        if not isinstance(found, list):
            last = (out.stderr.strip().splitlines() or ["no output"])[-1]
            raise AsyncmigError(f"squawk failed (exit {out.returncode}): {last}")
    hits = []
    starts = {name: _line_starts(record.sql) for name, record in files.items()}
    for item in found:
        owner = files.get(item.get("file", ""))
        if owner is None:
            continue
        line_starts = starts[item["file"]]
        line = min(int(item.get("line", 0)), len(line_starts) - 1)
        offset = line_starts[line] + int(item.get("column", 0))
        hits.append(
            SquawkHit(
                revision=owner.revision,
                rule=str(item.get("rule_name", "squawk")),
                level="error" if str(item.get("level", "")).lower() == "error" else "warning",
                line=owner.line_of(offset),
                message=str(item.get("message", "")).strip(),
                help=item.get("help") or None,
            )
        )
    order = {record.revision: index for index, record in enumerate(with_sql)}
    return sorted(hits, key=lambda hit: (order[hit.revision], hit.line))


def _line_starts(text: str) -> list[int]:
    """The offset of each line's first character (squawk counts lines from 0)."""
    starts = [0]
    index = text.find("\n")
    while index != -1:
        starts.append(index + 1)
        index = text.find("\n", index + 1)
    return starts
