"""Alembic environment for the example, in asyncmig's template style."""

from asyncmig.env import run_migrations
from notes_models import metadata

run_migrations(target_metadata=metadata, compare_type=True)
