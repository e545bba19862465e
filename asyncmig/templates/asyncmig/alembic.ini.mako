# Alembic configuration, read by asyncmig (and by plain alembic).
# See alembic.ini.example in asyncmig's repository for every key it reads.

[alembic]
# path to the migration scripts; %(here)s is the directory of this file
script_location = ${script_location}

# sys.path entries added before env.py is imported: this file's directory, so
# "from myapp import models" in env.py works from any working directory (-c)
prepend_sys_path = %(here)s

# how version_locations / prepend_sys_path are split
path_separator = os

# The database. asyncmig reads it from here, overridden by DATABASE_URL,
# ASYNCMIG_URL and --url (in that order). The default is a SQLite file next to
# this config, so the project works with no server. Escape a literal % as %%.
sqlalchemy.url = sqlite+aiosqlite:///%(here)s/app.db

# asyncmig's own settings (flags and ASYNCMIG_* variables override them):
# asyncmig.wait_timeout = 5
# asyncmig.lock_timeout = 300
# asyncmig.statement_timeout = 60s
# asyncmig.pg_lock_timeout = 10s

[post_write_hooks]

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
