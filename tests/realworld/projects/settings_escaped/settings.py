"""The application's settings: its database URL comes from the hosting platform's
DATABASE_URL, fixed up for SQLAlchemy's sync drivers."""

import os

_SYNC = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
}


def database_url() -> str:
    scheme, sep, rest = os.environ["DATABASE_URL"].partition("://")
    return f"{_SYNC.get(scheme, scheme)}{sep}{rest}"
