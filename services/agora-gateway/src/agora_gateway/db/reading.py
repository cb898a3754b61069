"""Reads that never wait for the SQLite write lock.

pacte_common's SQLite engine begins HTTP GETs deferred (no write lock) but every other
transaction, background ones included, IMMEDIATE behind the process's writer queue
(docs/concurrency.md), so the dispatcher's polls and the metrics job would queue behind the
back-fill's writes. On SQLite the gateway reads through a second engine without those hooks
(WAL readers see the last committed state and take no lock); on PostgreSQL it simply uses the
main session factory.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request
from pacte_common.db import is_sqlite, session_factory
from pacte_common.service import Runtime
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine


def install_read_sessions(runtime: Runtime) -> None:
    url = runtime.settings.database_url
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        runtime.extras["read_engine"] = engine
        runtime.extras["read_sessions"] = session_factory(engine)
    else:
        runtime.extras["read_sessions"] = runtime.sessions


def read_sessions(runtime: Runtime) -> async_sessionmaker[AsyncSession]:
    return runtime.extras.get("read_sessions") or runtime.sessions


async def read_engine_job(runtime: Runtime, stop: asyncio.Event) -> None:
    """Keeps the read engine for the app's life and disposes of it at shutdown."""
    await stop.wait()
    engine = runtime.extras.get("read_engine")
    if engine is not None:
        await engine.dispose()


async def _read_session(request: Request):
    async with read_sessions(request.app.state.runtime)() as session:
        yield session


ReadSession = Annotated[AsyncSession, Depends(_read_session)]
