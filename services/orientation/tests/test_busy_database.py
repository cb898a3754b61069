"""A write that cannot get SQLite's write lock in time answers 503 + Retry-After, never a 500,
and changes nothing; reads go on meanwhile (they take no write lock). The lock is really held,
by another connection to the same database file, as a long consumer batch or an operator's
sqlite3 would hold it (docs/concurrency.md, "Busy")."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing

import pytest
from pacte_common.db import is_sqlite
from sqlalchemy.engine import make_url


@pytest.fixture
def sqlite_path(kit) -> str:
    if not is_sqlite(kit.settings.database_url):
        pytest.skip("SQLite's single write lock; PostgreSQL locks rows, not the database")
    return make_url(kit.settings.database_url).database


async def test_a_write_behind_a_held_write_lock_gets_503_with_retry_after_and_changes_nothing(kit, sqlite_path):
    session = await kit.publish_session()
    existing = await kit.submit(session.session_id)
    before = await kit.count_rows()

    # The holder queues behind the service's own background writes (relay, consumer), which may
    # hold the lock for a moment on a loaded machine: it waits for them, then holds the lock. It
    # waits in a thread: blocking the event loop would stop those very writers from finishing.
    with closing(sqlite3.connect(sqlite_path, isolation_level=None, timeout=60, check_same_thread=False)) as holder:
        await asyncio.to_thread(holder.execute, "BEGIN IMMEDIATE")  # the write lock, held until the rollback below
        try:
            busy = await kit.client.post("/prescriptions", json=kit.body(session.session_id), headers=kit.prescriber_a)
            read = await kit.client.get(f"/prescriptions/{existing['id']}", headers=kit.region)
        finally:
            holder.execute("ROLLBACK")

    assert busy.status_code == 503, busy.text
    assert busy.headers["content-type"].startswith("application/problem+json")
    assert busy.headers["retry-after"] == "1"
    problem = busy.json()
    assert problem["type"].endswith("/busy") and problem["retry_after_s"] == 1
    assert read.status_code == 200, "a read takes no write lock and is served meanwhile"
    assert await kit.count_rows() == before, "a busy answer changed nothing"

    retried = await kit.client.post("/prescriptions", json=kit.body(session.session_id), headers=kit.prescriber_a)
    assert retried.status_code == 201, retried.text


async def test_the_busy_answer_is_documented_on_writes(kit):
    operation = kit.app.openapi()["paths"]["/prescriptions"]["post"]
    busy = operation["responses"]["503"]
    assert "Retry-After" in busy["headers"]
    assert "application/problem+json" in busy["content"]
