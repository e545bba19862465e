"""One timed upgrade for ``bench.py --only path``: the migration call alone, no start-up.

Run by bench.py in a fresh process, cwd = an asyncmig-template project::

    python bench/_path_child.py alembic|asyncmig

Every import (Alembic, SQLAlchemy, the async driver, asyncmig) and the settings resolution
happen first, untimed; ``time.perf_counter`` then brackets only

* ``alembic``: ``alembic.command.upgrade(build_config(settings), "head")``, asyncmig's hooks
  never activated (nothing installs them), i.e. plain Alembic on the same env.py and URL;
* ``asyncmig``: ``asyncmig.commands.upgrade(Runtime(...), "head")`` with the CLI's
  ``ProgressEvents(Printer(stdout, stderr))``: migration lock, timeouts hook, one progress
  line per revision, connect-retry listener, all active.

Progress lines and Alembic's log go to this process's stdout/stderr (files opened by the
parent); the last stdout line is the result as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    mode = sys.argv[1]
    if mode not in ("alembic", "asyncmig"):
        raise SystemExit(f"usage: {sys.argv[0]} alembic|asyncmig")

    import sqlalchemy.ext.asyncio  # noqa: F401  (env.py's engine)
    from alembic import command
    from sqlalchemy.engine import make_url

    import asyncmig.env  # noqa: F401  (what the template's env.py imports)
    from asyncmig import commands, hooks, runner
    from asyncmig.alembic_config import build_config
    from asyncmig.render import Printer, ProgressEvents
    from asyncmig.settings import Options, resolve

    cwd = Path.cwd()
    settings = resolve(
        Options(config_file=str(cwd / "alembic.ini"), cwd=cwd, environ={}, env_files=())
    )
    # The dialect module and its DBAPI (aiosqlite / asyncpg), imported before the clock starts.
    make_url(settings.require_url()).get_dialect().import_dbapi()

    steps: int | None = None
    if mode == "alembic":
        started = time.perf_counter()
        command.upgrade(build_config(settings, stdout=sys.stdout), "head")
        elapsed = time.perf_counter() - started
    else:
        started = time.perf_counter()
        result = commands.upgrade(
            runner.Runtime(
                settings,
                events=ProgressEvents(Printer(sys.stdout, sys.stderr)),
                stdout=sys.stdout,
            ),
            "head",
        )
        elapsed = time.perf_counter() - started
        steps = len(result.steps)
    # Whether asyncmig's hooks were ever installed in this process (never, for plain Alembic).
    hooked = hooks._installed
    sys.stdout.write("\n" + json.dumps({"seconds": elapsed, "steps": steps, "hooked": hooked}))
    sys.stdout.write("\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
