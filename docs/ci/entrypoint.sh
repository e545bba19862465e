#!/bin/sh
# Docker entrypoint: bring the database to head, then start the application.
#
# Every replica may run this at once: asyncmig's migration lock lets one of them
# migrate while the others wait, then find the database at head and apply nothing.
# A non-zero exit (3 unreachable, 5 lock not acquired, 1 a revision failed) stops
# the container before the application starts, so the orchestrator restarts it.
set -eu

# Give a database that is still starting a minute, and a long migration ten.
: "${ASYNCMIG_WAIT_TIMEOUT:=60}"
: "${ASYNCMIG_LOCK_TIMEOUT:=600}"
export ASYNCMIG_WAIT_TIMEOUT ASYNCMIG_LOCK_TIMEOUT

# DATABASE_URL (or ASYNCMIG_URL) comes from the environment; the working
# directory holds alembic.ini (or set ALEMBIC_CONFIG).
asyncmig upgrade head

exec "$@"
