"""Projects as real users have them: made by ``alembic init`` with the installed Alembic,
env.py edited the way its comments say (``target_metadata``), a small history of
revisions and a models module for autogenerate.

The history (``0001`` .. ``0004``) touches what migrations usually touch: a table, a
column with a server default, an index, rows inserted with ``op.bulk_insert``; each
revision has a downgrade. For the ``multidb`` template each revision has one
function per engine (``upgrade_engine1`` ...), as its ``script.py.mako`` generates.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from .runners import base_environment

PROJECTS = Path(__file__).parent / "projects"
TEMPLATES = ("generic", "async", "multidb", "pyproject", "pyproject_async")
#: Templates whose env.py builds an async engine: plain alembic needs an async driver there.
ASYNC_TEMPLATES = ("async", "pyproject_async")
#: The table each engine of the multidb template migrates.
MULTIDB_TABLES = {"engine1": "account", "engine2": "audit"}


def alembic_init(template: str, dest: Path) -> Path:
    """``alembic init -t TEMPLATE migrations`` in ``dest`` with the installed Alembic."""
    dest.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("alembic")), "init", "-t", template, "migrations"],
        cwd=dest,
        env=base_environment({}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dest


def _ops(table: str, rev: int) -> tuple[str, str]:
    """(upgrade body, downgrade body) of revision ``rev`` for ``table``."""
    if rev == 1:
        return (
            f"op.create_table(\n"
            f"    {table!r},\n"
            f"    sa.Column('id', sa.Integer(), primary_key=True),\n"
            f"    sa.Column('name', sa.String(50), nullable=False),\n"
            f")",
            f"op.drop_table({table!r})",
        )
    if rev == 2:
        return (
            f"op.add_column({table!r}, sa.Column('status', sa.String(20), nullable=False, "
            f"server_default='new'))",
            f"op.drop_column({table!r}, 'status')",
        )
    if rev == 3:
        return (
            f"op.create_index('ix_{table}_name', {table!r}, ['name'])",
            f"op.drop_index('ix_{table}_name', table_name={table!r})",
        )
    return (
        f"rows = sa.table({table!r}, sa.column('id', sa.Integer()), "
        f"sa.column('name', sa.String()))\n"
        f"op.bulk_insert(rows, [{{'id': 1, 'name': 'alice'}}, {{'id': 2, 'name': 'bob'}}])",
        f"op.execute('DELETE FROM {table} WHERE id IN (1, 2)')",
    )


MESSAGES = {1: "create table", 2: "add status", 3: "index name", 4: "seed rows"}


def _function(name: str, body: str, args: str = "") -> str:
    return f"def {name}({args}) -> None:\n{textwrap.indent(body, '    ')}\n"


def write_history(
    versions: Path,
    *,
    table: str = "account",
    count: int = 4,
    engines: tuple[str, ...] = (),
    bodies: dict[int, tuple[str, str]] | None = None,
) -> list[str]:
    """Revisions ``0001``..``000N``; ``engines`` writes them in the multidb layout;
    ``bodies`` replaces the (upgrade, downgrade) of chosen revisions."""
    versions.mkdir(parents=True, exist_ok=True)
    ids = []
    for rev in range(1, count + 1):
        rid, down = f"{rev:04d}", (f"'{rev - 1:04d}'" if rev > 1 else "None")
        if engines:
            functions = [
                _function("upgrade", 'globals()["upgrade_%s" % engine_name]()', "engine_name: str"),
                _function(
                    "downgrade", 'globals()["downgrade_%s" % engine_name]()', "engine_name: str"
                ),
            ]
            for engine in engines:
                up, down_body = _ops(MULTIDB_TABLES[engine], rev)
                functions += [
                    _function(f"upgrade_{engine}", up),
                    _function(f"downgrade_{engine}", down_body),
                ]
        else:
            up, down_body = (bodies or {}).get(rev) or _ops(table, rev)
            functions = [_function("upgrade", up), _function("downgrade", down_body)]
        text = (
            f'"""{MESSAGES.get(rev, "step")}\n\nRevision ID: {rid}\n"""\n'
            "import sqlalchemy as sa\nfrom alembic import context, op\n\n"
            f"revision = {rid!r}\ndown_revision = {down}\n"
            "branch_labels = None\ndepends_on = None\n\n\n" + "\n\n".join(functions)
        )
        (versions / f"{rid}_{MESSAGES.get(rev, 'step').replace(' ', '_')}.py").write_text(text)
        ids.append(rid)
    return ids


def _table_code(var: str, metadata: str, table: str, *, email: bool, name_length: int) -> str:
    extra = "    Column('email', String(100), nullable=True),\n" if email else ""
    return (
        f"{var} = Table(\n"
        f"    {table!r},\n    {metadata},\n"
        f"    Column('id', Integer, primary_key=True),\n"
        f"    Column('name', String({name_length}), nullable=False),\n"
        f"    Column('status', String(20), nullable=False, server_default='new'),\n"
        f"{extra}"
        f"    Index('ix_{table}_name', 'name'),\n)\n"
    )


def write_models(
    project: Path,
    *,
    email: bool = False,
    multidb: bool = False,
    name_length: int = 50,
    extra: str = "",
) -> None:
    """``models.py`` matching the history (``email=True``: the model gained a column)."""
    head = "import logging\n\n"
    head += "from sqlalchemy import Column, Index, Integer, MetaData, String, Table\n\n"
    head += "log = logging.getLogger('myapp')\n\n"
    if multidb:
        body = "metadata1 = MetaData()\nmetadata2 = MetaData()\n\n"
        body += _table_code("account", "metadata1", "account", email=email, name_length=name_length)
        body += _table_code("audit", "metadata2", "audit", email=False, name_length=name_length)
    else:
        body = "metadata = MetaData()\n\n"
        body += _table_code("account", "metadata", "account", email=email, name_length=name_length)
    (project / "models.py").write_text(head + body + extra)
    # A rewrite within the second of the last import, at the same size, would otherwise
    # be served from the stale bytecode cache.
    shutil.rmtree(project / "__pycache__", ignore_errors=True)


def use_models(env_py: Path, *, multidb: bool = False) -> None:
    """Point a template's env.py at ``models``, as its comments tell users to."""
    text = env_py.read_text()
    if multidb:
        new = (
            "import models\n\n"
            "target_metadata = {'engine1': models.metadata1, 'engine2': models.metadata2}"
        )
        text, count = re.subn(r"(?m)^target_metadata = \{\}$", new, text)
    else:
        new = "import models\n\ntarget_metadata = models.metadata"
        text, count = re.subn(r"(?m)^target_metadata = None$", new, text)
    assert count == 1, f"no target_metadata line in {env_py}"
    env_py.write_text(text)


def template_project(generated: Path, dest: Path, template: str, **history: object) -> Path:
    """A copy of ``alembic init -t TEMPLATE``'s output, with models and the history
    (``history``: keyword arguments of :func:`write_history`)."""
    shutil.copytree(generated, dest, dirs_exist_ok=True)
    multidb = template == "multidb"
    use_models(dest / "migrations" / "env.py", multidb=multidb)
    write_models(dest, multidb=multidb)
    if multidb:
        history.setdefault("engines", tuple(MULTIDB_TABLES))
    write_history(dest / "migrations" / "versions", **history)  # type: ignore[arg-type]
    return dest


def pattern_project(generated: Path, dest: Path, pattern: str, **history: object) -> Path:
    """The ``generic`` template's project with env.py (and any other file) from
    ``projects/PATTERN/``: env.py goes to ``migrations/``, the rest to the project root."""
    shutil.copytree(generated, dest, dirs_exist_ok=True)
    source = PROJECTS / pattern
    assert source.is_dir(), f"no fixture project {source}"
    for item in source.iterdir():
        if item.name == "__pycache__":
            continue
        target = dest / "migrations" / item.name if item.name == "env.py" else dest / item.name
        shutil.copy(item, target)
    write_models(dest)
    write_history(dest / "migrations" / "versions", **history)  # type: ignore[arg-type]
    return dest


def autogenerated(project: Path, rev_id: str) -> str:
    """The revision file autogenerate wrote, without its creation date (the one line that
    differs between two runs)."""
    (path,) = (project / "migrations" / "versions").glob(f"{rev_id}_*.py")
    return "\n".join(
        line for line in path.read_text().splitlines() if not line.startswith("Create Date")
    )
