"""Alembic environment for asyncmig: edit ``target_metadata`` and nothing else.

``run_migrations`` handles online mode (an async engine on NullPool and
``connection.run_sync``), offline ``--sql`` mode, and a connection passed in
``config.attributes["connection"]``. Keyword arguments go to
``context.configure`` (``compare_type``, ``include_object``, ...).
"""

from asyncmig.env import run_migrations

from quickstart_models import metadata

target_metadata = metadata

run_migrations(target_metadata=target_metadata)
