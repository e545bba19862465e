"""Each pattern of asyncmig.alembic_messages against the text the installed Alembic writes.

Alembic is made to produce every message for real; a release that rewords one fails
here, naming the pattern to update.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from support.projects import Project, write_revisions

from asyncmig import alembic_messages as messages


def plain_config(project: Project, url: str = "") -> Config:
    """Alembic's own Config on the project (no asyncmig in the way)."""
    config = Config(str(project.ini))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def graph_warning(project: Project) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Alembic warns, then may fail on the missing revision.
        with contextlib.suppress(KeyError):
            ScriptDirectory.from_config(plain_config(project)).revision_map.heads  # noqa: B018
    (found,) = [str(w.message) for w in caught if "Revision" in str(w.message)]
    return found


def test_every_pattern_has_a_test() -> None:
    tested = {"DUPLICATE_REVISION", "MISSING_REVISION", "GRAPH_WARNINGS"}
    tested |= {"AMBIGUOUS_PREFIX", "NOT_UP_TO_DATE", "NOT_AT_HEADS"}
    assert set(messages.PATTERNS) == tested


def test_duplicate_revision(project: Project) -> None:
    project.revisions(2)
    source = next(project.versions.glob("0002aa_*.py")).read_text()
    (project.versions / "0002aa_copy.py").write_text(source)
    text = graph_warning(project)
    match = messages.DUPLICATE_REVISION.match(text)
    assert match and match.group(1) == "0002aa", text
    assert messages.PATTERNS["GRAPH_WARNINGS"].match(text), text


def test_missing_revision(project: Project) -> None:
    project.revisions(1)
    (project.versions / "0003aa_orphan.py").write_text(
        'revision = "0003aa"\ndown_revision = "0009zz"\ndef upgrade():\n    pass\n'
    )
    text = graph_warning(project)
    match = messages.MISSING_REVISION.match(text)
    assert match and match.groups() == ("0009zz", "0003aa"), text
    assert messages.PATTERNS["GRAPH_WARNINGS"].match(text), text


def test_ambiguous_prefix(project: Project) -> None:
    project.revisions(2)
    source = next(project.versions.glob("0002aa_*.py")).read_text()
    (project.versions / "0002ab_other.py").write_text(source.replace('"0002aa"', '"0002ab"'))
    script = ScriptDirectory.from_config(plain_config(project))
    with pytest.raises(CommandError) as raised:
        script.get_revision("0002a")
    cause = raised.value.__cause__  # Alembic words it "Can't locate revision": the cause says why
    assert isinstance(cause, RevisionError), cause
    assert messages.AMBIGUOUS_PREFIX.match(str(cause)), str(cause)


def test_not_up_to_date(project: Project, tmp_path: Path) -> None:
    write_revisions(project.versions, 1)
    config = plain_config(project, f"sqlite:///{tmp_path / 'behind.db'}")
    with pytest.raises(CommandError) as raised:
        command.check(config)
    assert messages.NOT_UP_TO_DATE.search(str(raised.value)), str(raised.value)


def test_not_at_heads(project: Project, tmp_path: Path) -> None:
    write_revisions(project.versions, 1)
    config = plain_config(project, f"sqlite:///{tmp_path / 'behind.db'}")
    with pytest.raises(CommandError) as raised:
        command.current(config, check_heads=True)
    assert messages.NOT_AT_HEADS.search(str(raised.value)), str(raised.value)
