"""examples/fastapi: the app migrates a fresh database in its lifespan, then serves from it."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from fastapi import FastAPI

import asyncmig

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi"
SEED = [{"id": 1, "text": "created by migration 0001"}]


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """examples/fastapi/app.py, imported from its file (its directory on sys.path)."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    spec = importlib.util.spec_from_file_location("asyncmig_fastapi_example", EXAMPLE / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


async def _exercise(app: FastAPI) -> None:
    # httpx's ASGITransport does not send lifespan events: enter the lifespan ourselves.
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/notes")
            assert response.status_code == 200, response.text
            assert response.json() == SEED
            response = await client.post("/notes", json={"text": "second"})
            assert response.status_code == 201, response.text
            assert response.json() == {"id": 2, "text": "second"}
            assert (await client.get("/notes")).json() == [*SEED, {"id": 2, "text": "second"}]
            health = (await client.get("/health")).json()
            assert health == {"revision": ["0001"], "up_to_date": True}


async def test_lifespan_migrates_a_fresh_sqlite_file(example, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    await _exercise(example.create_app(url))
    assert await asyncmig.current(config=example.ALEMBIC_INI, url=url) == ["0001"]
    assert not (EXAMPLE / "notes.db").exists()


@pytest.mark.postgres
async def test_lifespan_migrates_a_fresh_postgres_database(example, pg_url):
    await _exercise(example.create_app(pg_url))


def test_testclient_runs_the_lifespan(example, tmp_path, monkeypatch):
    """TestClient drives the lifespan from its own event loop thread, with DATABASE_URL."""
    with warnings.catch_warnings():
        # Starlette 1.x warns, on import, that its TestClient will move off httpx.
        warnings.simplefilter("ignore", UserWarning)
        from fastapi.testclient import TestClient

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    with TestClient(example.create_app()) as client:
        assert client.get("/notes").json() == SEED
    assert (tmp_path / "env.db").is_file()


async def test_startup_fails_loudly(example):
    app = example.create_app("nosuchdb://scott@db/orcl")
    with pytest.raises(asyncmig.ConfigError, match=r"^unknown database dialect 'nosuchdb'"):
        async with app.router.lifespan_context(app):
            pytest.fail("the app must not start")
