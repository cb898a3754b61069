"""Reads that never wait for the SQLite write lock.

pacte_common's SQLite engine begins HTTP GETs deferred (no write lock) but every other
transaction, background ones included, IMMEDIATE behind the process's writer queue
(docs/concurrency.md), so the dispatcher's polls and the metrics job would queue behind the
back-fill's writes. On SQLite the gateway reads through a second engine without those hooks
(WAL readers see the last committed state and take no lock); on PostgreSQL it simply uses the
main session factory. The request dependency that opens such a read is the HTTP edge's
(`agora_gateway.api.routes.ReadDb`).
"""

from __future__ import annotations

import asyncio

from pacte_common.db import is_sqlite, session_factory
from sqlalchemy.ext.asyncio import create_async_engine

from agora_gateway.runtime import GatewayRuntime


def install_read_db_factory(runtime: GatewayRuntime) -> None:
    url = runtime.settings.database_url
    if is_sqlite(url):
        runtime.read_engine = create_async_engine(url, connect_args={"timeout": 30})
        runtime.read_db_factory = session_factory(runtime.read_engine)


async def read_engine_job(runtime: GatewayRuntime, stop: asyncio.Event) -> None:
    """Keeps the read engine for the app's life and disposes of it at shutdown."""
    await stop.wait()
    if runtime.read_engine is not None:
        await runtime.read_engine.dispose()
