"""Safety gates: what a pending migration would do, before it runs.

* :mod:`.record` sees each revision's operations without a database (Alembic's
  offline mode, through env.py);
* :mod:`.rules` holds asyncmig's rules on those operations, :mod:`.squawk` runs
  squawk on PostgreSQL SQL, :mod:`.lintconfig` reads what a project silences;
* :mod:`.scratch` makes throwaway databases and :mod:`.stairway` runs every revision
  up, down and up again on one, then compares the models.

The commands are :func:`asyncmig.commands.lint` and :func:`asyncmig.commands.verify`;
their results are in :mod:`.report`.
"""
