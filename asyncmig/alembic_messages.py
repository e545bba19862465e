"""Alembic's wording that asyncmig reacts to, in one table.

Alembic reports some conditions only in prose (a warning, a ``CommandError``'s
text). Each pattern here is matched against that prose; tests/unit/test_alembic_messages.py
makes Alembic produce every one of them, so a release that rewords one fails
there instead of silently changing what asyncmig does.
"""

from __future__ import annotations

import re

#: A warning: two revision files declare the same id (Alembic keeps one, silently).
DUPLICATE_REVISION = re.compile(r"^Revision (\S+) is present more than once")

#: A warning: a down_revision or depends_on names no revision file.
MISSING_REVISION = re.compile(
    r"^Revision (\S+) referenced from (?:.* -> )?(\S+?)(?: \(head\))?,? .*is not present"
)

#: The warnings above, as ``warnings.filterwarnings`` takes a message (a regex prefix).
GRAPH_WARNINGS = r"Revision \S+ (is present more than once|referenced from)"

#: A RevisionError whose precise text Alembic replaces with "Can't locate revision".
AMBIGUOUS_PREFIX = re.compile(r"^Multiple revisions start with")

#: ``alembic check`` on a database behind its heads (a CommandError).
NOT_UP_TO_DATE = re.compile(r"not up to date")

#: ``alembic current --check-heads`` on a database not at every head.
NOT_AT_HEADS = re.compile(r"not on all head")

#: Every pattern, by name (the tests walk it).
PATTERNS: dict[str, re.Pattern[str]] = {
    "DUPLICATE_REVISION": DUPLICATE_REVISION,
    "MISSING_REVISION": MISSING_REVISION,
    "GRAPH_WARNINGS": re.compile(GRAPH_WARNINGS),
    "AMBIGUOUS_PREFIX": AMBIGUOUS_PREFIX,
    "NOT_UP_TO_DATE": NOT_UP_TO_DATE,
    "NOT_AT_HEADS": NOT_AT_HEADS,
}
