"""The bare stack: FastAPI + SQLAlchemy (async) + one INSERT or one SELECT by id.

Run by the HTTP scenarios as `uvicorn --factory benchmarks.baseline_app:create_app` with the
same database kind, the same SQLite settings and the same single worker as the service it is
compared with.
Environment: BENCH_DATABASE_URL.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, event, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("payload", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


class ItemIn(BaseModel):
    payload: dict


def _same_sqlite_settings(engine) -> None:
    """The project's SQLite settings (pacte_common.db): WAL, synchronous NORMAL, a busy timeout;
    without them the bare app answers "database is locked" under 16 concurrent writers."""

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()


def create_app() -> FastAPI:
    engine = create_async_engine(os.environ["BENCH_DATABASE_URL"])
    if engine.dialect.name == "sqlite":
        _same_sqlite_settings(engine)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    app = FastAPI()

    @app.on_event("startup")
    async def create_tables() -> None:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)

    @app.get("/health/ready")
    async def ready() -> dict:
        return {"status": "ready"}

    @app.post("/items", status_code=201)
    async def create(item: ItemIn) -> dict:
        row = {"id": str(uuid.uuid4()), "payload": item.payload, "created_at": datetime.now(UTC)}
        async with sessions() as db, db.begin():
            await db.execute(items.insert().values(**row))
        return {"id": row["id"], "payload": row["payload"], "created_at": row["created_at"].isoformat()}

    @app.get("/items/{item_id}")
    async def read(item_id: str) -> dict:
        async with sessions() as db:
            row = (await db.execute(select(items).where(items.c.id == item_id))).mappings().first()
        if row is None:
            raise HTTPException(404)
        return {"id": row["id"], "payload": row["payload"], "created_at": row["created_at"].isoformat()}

    return app
