"""Retry policy by kind of failure: a database that is locked (SQLite) or
refuses connections (PostgreSQL) while events arrive holds the partition and is retried until
it is back — nothing is dead-lettered, per-key order is kept. Real broker, real databases."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import defaultdict
from typing import ClassVar

import pytest
from aiokafka.errors import KafkaConnectionError
from pacte_common.bus import ensure_topics, is_transient, new_producer, topic_name
from pacte_common.consumer import ConsumerRunner, PermanentError, Subscription
from pacte_common.db import create_engine, new_metadata, session_factory
from pacte_common.events import Envelope, EventError, IntegrationEvent, register
from pacte_common.messaging import MessagingTables
from pacte_testing import eventually, read_topic, selected_database_kind
from sqlalchemy import Column, Integer, String, Table, event, select, text
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

TOPIC = "pacte.test.retry.v1"

metadata = new_metadata()
effects = Table(
    "retry_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(50), nullable=False),
    Column("seq", Integer, nullable=False),
)
tables = MessagingTables(metadata)


@register
class ReadingTaken(IntegrationEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.test.reading.taken.v1"
    topic: ClassVar[str] = TOPIC
    key: str
    seq: int


@pytest.fixture
async def db(database_url, monkeypatch):
    # Background writers wait this long for SQLite's lock (pacte_common.db.LockSettings): short,
    # so that the consumer meets "database is locked" and its retries show.
    monkeypatch.setenv("PACTE_DB_BACKGROUND_WRITE_WAIT_S", "0.05")
    engine = create_engine(database_url)
    monkeypatch.delenv("PACTE_DB_BACKGROUND_WRITE_WAIT_S")
    if engine.dialect.name == "sqlite":
        # Fail fast on a lock instead of waiting 30 s inside SQLite, so the runner's retries show.
        @event.listens_for(engine.sync_engine, "connect")
        def short_busy_timeout(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=50")
            cursor.close()

    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    # The test's own reads wait out the lock and, checking each connection before use, outlive
    # an outage (the services' pools do not check: their callers retry, docs/runbook.md).
    reader = create_engine(database_url, pre_ping=True)
    yield engine, session_factory(engine), database_url, session_factory(reader)
    await engine.dispose()
    await reader.dispose()


async def handle(session, context, envelope: Envelope):
    await session.execute(effects.insert().values(key=envelope.data.key, seq=envelope.data.seq))


async def produce(bus, items):
    # The machine may be saturated by the other test workers: a bootstrap that times out is
    # tried again with a new producer (what these tests check is the consumer's side).
    async for attempt in AsyncRetrying(retry=retry_if_exception_type(KafkaConnectionError), stop=stop_after_attempt(3),
                                       wait=wait_fixed(1), reraise=True):
        with attempt:
            producer = new_producer(bus)
            await producer.start()
    try:
        for key, seq in items:
            envelope = Envelope.wrap(ReadingTaken(key=key, seq=seq), source="/t", subject=key)
            await producer.send_and_wait(
                topic_name(bus, TOPIC), value=envelope.body(), key=key.encode(), headers=envelope.headers()
            )
    finally:
        await producer.stop()


async def effects_by_key(factory):
    async with factory() as session:
        rows = (await session.execute(select(effects.c.key, effects.c.seq).order_by(effects.c.id))).all()
    by_key = defaultdict(list)
    for key, seq in rows:
        by_key[key].append(seq)
    return by_key


async def count(factory):
    return sum(len(v) for v in (await effects_by_key(factory)).values())


class Outage:
    """Makes the database unusable for the consumer, then gives it back."""

    def __init__(self, engine, database_url):
        self.engine = engine
        self.url = database_url
        self.lock = None

    async def begin(self):
        if self.engine.dialect.name == "sqlite":
            path = self.url.split("///", 1)[1]
            self.lock = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.lock.execute("BEGIN EXCLUSIVE")  # every writer now gets "database is locked"
        else:
            name = self.engine.url.database
            async with _admin_connection() as admin:
                await admin.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                await admin.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                    {"name": name},
                )

    async def end(self):
        if self.lock is not None:
            self.lock.execute("COMMIT")
            self.lock.close()
        else:
            async with _admin_connection() as admin:
                await admin.execute(text(f'ALTER DATABASE "{self.engine.url.database}" ALLOW_CONNECTIONS true'))


class _admin_connection:
    async def __aenter__(self):
        import os

        from pacte_testing import DEFAULT_POSTGRES

        self.engine = create_engine(os.environ.get("PACTE_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
        self.connection = await self.engine.connect()
        await self.connection.execution_options(isolation_level="AUTOCOMMIT")
        return self.connection

    async def __aexit__(self, *exc):
        await self.connection.close()
        await self.engine.dispose()


async def test_database_outage_during_consumption_dead_letters_nothing_and_keeps_key_order(db, bus_settings):
    engine, factory, url, reads = db
    bus = bus_settings.model_copy(update={"transient_retry_max_backoff_s": 0.5})
    await ensure_topics(bus, [topic_name(bus, TOPIC)], partitions=2)
    runner = ConsumerRunner(
        Subscription(name="readings", handlers={ReadingTaken: handle}), service="test", bus=bus, factory=factory,
        tables=tables,
    )
    outcomes = defaultdict(int)
    runner.on_outcome = lambda event_type, outcome: outcomes.__setitem__(outcome, outcomes[outcome] + 1)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    items = [(f"k{i % 4}", i) for i in range(120)]
    outage = Outage(engine, url)
    try:
        await produce(bus, items[:40])
        await eventually(lambda: _count_is(reads, 40), timeout=30, message="first 40 handled")
        await outage.begin()
        try:
            await produce(bus, items[40:120])
            await eventually(
                lambda: runner.transient_retries >= 5, timeout=30, message="consumer meets the outage and retries"
            )
        finally:
            await outage.end()
        await eventually(lambda: _count_is(reads, 120), timeout=60, message="all handled once the database is back")
    finally:
        stop.set()
        await task
    print(
        f"{selected_database_kind()}: transient retries {runner.transient_retries}, "
        f"outcomes {dict(outcomes)}"
    )
    assert outcomes["dead_lettered"] == 0
    by_key = await effects_by_key(reads)
    for key, seqs in by_key.items():
        assert seqs == sorted(seqs), f"{key} out of order"
    assert sorted(s for seqs in by_key.values() for s in seqs) == list(range(120))
    dead = await read_topic(bus, runner.dlq_topic(topic_name(bus, TOPIC)), expect=1, timeout=2)
    assert dead == []


async def _count_is(factory, n):
    return await count(factory) == n


async def test_permanent_failures_are_dead_lettered_at_once_and_the_partition_goes_on(db, bus_settings):
    _engine, factory, _url, reads = db
    await ensure_topics(bus_settings, [topic_name(bus_settings, TOPIC)], partitions=1)
    calls = defaultdict(int)

    async def strict(session, context, envelope):
        calls[envelope.data.seq] += 1
        if envelope.data.seq == 2:
            raise PermanentError("negative hours")
        await handle(session, context, envelope)

    runner = ConsumerRunner(
        Subscription(name="readings", handlers={ReadingTaken: strict}), service="test", bus=bus_settings,
        factory=factory, tables=tables,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await produce(bus_settings, [("k", 1), ("k", 2), ("k", 3)])
        await eventually(lambda: _count_is(reads, 2), timeout=30, message="1 and 3 handled")
    finally:
        stop.set()
        await task
    assert calls[2] <= 2, "one try in the batch, one alone: no retries"
    dead = await read_topic(bus_settings, runner.dlq_topic(topic_name(bus_settings, TOPIC)), expect=1)
    assert [e.data.seq for e in dead] == [2]


def test_failures_are_classified_by_kind():
    from sqlalchemy.exc import IntegrityError, OperationalError

    locked = OperationalError("INSERT …", {}, sqlite3.OperationalError("database is locked"))
    assert is_transient(locked)
    assert is_transient(ConnectionResetError())
    assert not is_transient(IntegrityError("INSERT …", {}, ValueError("duplicate key")))
    assert not is_transient(EventError("payload does not match"))
    assert not is_transient(ValueError("bug"))
