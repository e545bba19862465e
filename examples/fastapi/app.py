"""A FastAPI app that migrates its database to head in its lifespan, before serving.

Run it with ``uvicorn app:app`` from this directory; set ``DATABASE_URL`` for a
server database (``postgres://...`` works: asyncmig normalises it, and so does
:func:`database_url` here, for the app's own engine).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from notes_models import notes
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import asyncmig
from asyncmig.urls import normalize_url

HERE = Path(__file__).resolve().parent
ALEMBIC_INI = HERE / "alembic.ini"


def database_url() -> str:
    """``DATABASE_URL``, or the SQLite file next to this app."""
    default = f"sqlite+aiosqlite:///{HERE / 'notes.db'}"
    return normalize_url(os.environ.get("DATABASE_URL") or default)


class NoteIn(BaseModel):
    text: str


def create_app(url: str | None = None) -> FastAPI:
    """The app; ``url`` overrides ``DATABASE_URL`` (tests pass a fresh database)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db_url = url or database_url()
        # Runs inside uvicorn's event loop. Any failure (a broken revision, an
        # unreachable database, another replica holding the lock too long) raises
        # an asyncmig.AsyncmigError here, so the app does not start half-migrated.
        await asyncmig.upgrade(config=ALEMBIC_INI, url=db_url)
        engine = create_async_engine(db_url)
        app.state.engine = engine
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    def engine_of(request: Request) -> AsyncEngine:
        engine: AsyncEngine = request.app.state.engine
        return engine

    @app.get("/notes")
    async def list_notes(request: Request) -> list[dict[str, Any]]:
        async with engine_of(request).connect() as conn:
            rows = await conn.execute(sa.select(notes).order_by(notes.c.id))
            return [dict(row._mapping) for row in rows]

    @app.post("/notes", status_code=201)
    async def add_note(note: NoteIn, request: Request) -> dict[str, Any]:
        async with engine_of(request).begin() as conn:
            result = await conn.execute(sa.insert(notes).values(text=note.text))
            return {"id": result.inserted_primary_key[0], "text": note.text}

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        status = await asyncmig.status(config=ALEMBIC_INI, url=url or database_url())
        return {"revision": list(status.current), "up_to_date": status.up_to_date}

    return app


app = create_app()
