"""Broker incarnations: a broker that restarts empty, with a new cluster id,
mid-traffic; topics deleted under a running suite. Real Tansu brokers of the test's own, a
real database; no operator step anywhere."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta
from typing import ClassVar

import pytest
from pacte_common.bus import describe_bus, new_admin, topic_name
from pacte_common.consumer import ConsumerRunner, Subscription
from pacte_common.db import create_engine, new_metadata, session_factory
from pacte_common.events import Envelope, IntegrationEvent, register
from pacte_common.messaging import (
    IncarnationMemory,
    MessagingTables,
    Outbox,
    OutboxRelay,
    outbox_stats,
)
from pacte_common.settings import BusSettings
from pacte_testing import eventually, read_topic
from pacte_tools.broker import free_port, start_tansu
from sqlalchemy import Column, Integer, String, Table, select

TOPIC = "pacte.test.resync.v1"

metadata = new_metadata()
effects = Table(
    "resync_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(50), nullable=False),
    Column("seq", Integer, nullable=False),
)
tables = MessagingTables(metadata)


@register
class StepRecorded(IntegrationEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.test.step.recorded.v1"
    topic: ClassVar[str] = TOPIC
    key: str
    seq: int


@pytest.fixture
async def db(database_url):
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine, session_factory(engine)
    await engine.dispose()


class Broker:
    """A Tansu of the test's own, which the test kills and starts again on the same port."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.log = tmp_path / "tansu.log"
        self.process = None

    def start(self):
        self.process = start_tansu("127.0.0.1", self.port, self.log)
        return self.process.cluster_id

    def kill(self):
        self.process.kill()
        self.process.wait()

    @property
    def bus(self) -> BusSettings:
        return BusSettings(
            bootstrap_servers=f"127.0.0.1:{self.port}",
            topic_partitions=3,
            relay_poll_interval_s=0.05,
            relay_max_backoff_s=0.5,
            request_timeout_ms=2000,
            consumer_retry_backoff_s=0.05,
            incarnation_check_interval_s=0.5,
        )


@pytest.fixture
def broker(tmp_path):
    broker = Broker(tmp_path)
    yield broker
    if broker.process is not None and broker.process.poll() is None:
        broker.kill()


async def record(factory, outbox, items):
    async with factory() as session, session.begin():
        for key, seq in items:
            await outbox.publish(session, StepRecorded(key=key, seq=seq), key=key)


async def handle(session, context, envelope: Envelope):
    await session.execute(effects.insert().values(key=envelope.data.key, seq=envelope.data.seq))


async def effects_by_key(factory) -> dict[str, list[int]]:
    async with factory() as session:
        rows = (await session.execute(select(effects.c.key, effects.c.seq).order_by(effects.c.id))).all()
    by_key = defaultdict(list)
    for key, seq in rows:
        by_key[key].append(seq)
    return by_key


async def effect_count(factory) -> int:
    return sum(len(v) for v in (await effects_by_key(factory)).values())


def start(component, stop):
    return asyncio.create_task(component.run(stop))


async def test_broker_restarted_empty_with_a_new_cluster_id_mid_traffic_loses_nothing(db, broker):
    engine, factory = db
    first_id = broker.start()
    bus = broker.bus
    outbox = Outbox(tables, source="/pacte/test", bus=bus)
    relay = OutboxRelay(outbox, engine, factory, retention=timedelta(days=1))
    runner = ConsumerRunner(
        Subscription(name="steps", handlers={StepRecorded: handle}), service="test", bus=bus, factory=factory, tables=tables
    )
    stop = asyncio.Event()
    tasks = [start(relay, stop), start(runner, stop)]
    items = [(f"k{i % 7}", i) for i in range(200)]
    try:
        await record(factory, outbox, items[:60])
        await eventually(lambda: _count_is(factory, 60), timeout=30, message="first 60 handled")
        assert relay.cluster_id == first_id

        await record(factory, outbox, items[60:100])  # some may be in flight when the broker dies
        broker.kill()
        await record(factory, outbox, items[100:140])  # the broker is down: writes are accepted
        second_id = broker.start()  # empty: no topic, no offset, a new cluster id
        assert second_id != first_id
        await record(factory, outbox, items[140:])

        await eventually(lambda: _count_is(factory, 200), timeout=60, message="every event handled once")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    by_key = await effects_by_key(factory)
    print(f"resyncs: relay {relay.resyncs}, consumer {runner.resyncs}; effects {await effect_count(factory)}")
    assert sorted(seq for seqs in by_key.values() for seq in seqs) == list(range(200)), "each event has one effect"
    for key, seqs in by_key.items():
        assert seqs == sorted(seqs), f"{key}: effects out of order {seqs}"
    assert relay.resyncs >= 1 and runner.resyncs >= 1
    assert relay.cluster_id == runner.cluster_id == second_id
    assert await IncarnationMemory(factory, tables, "outbox-relay").load() == second_id
    # the new broker holds the whole retained history again, in key order
    received = await read_topic(bus, TOPIC, expect=200, timeout=20)
    assert {e.data.seq for e in received} == set(range(200))


async def _count_is(factory, n):
    return await effect_count(factory) == n


async def test_a_service_restarted_after_the_broker_was_replaced_notices_from_its_stored_cluster_id(db, broker):
    engine, factory = db
    first_id = broker.start()
    bus = broker.bus
    outbox = Outbox(tables, source="/pacte/test", bus=bus)
    relay = OutboxRelay(outbox, engine, factory, retention=timedelta(days=1))
    stop = asyncio.Event()
    task = start(relay, stop)
    await record(factory, outbox, [("a", 1), ("b", 2), ("a", 3)])
    await eventually(lambda: _backlog_is(factory, 0), timeout=20, message="sent")
    stop.set()
    await task
    assert await IncarnationMemory(factory, tables, "outbox-relay").load() == first_id

    # the whole suite went down; the broker came back empty while the service was stopped
    broker.kill()
    second_id = broker.start()
    restarted = OutboxRelay(outbox, engine, factory, retention=timedelta(days=1))
    stop = asyncio.Event()
    task = start(restarted, stop)
    try:
        received = await read_topic(bus, TOPIC, expect=3, timeout=20)
    finally:
        stop.set()
        await task
    assert [(e.data.key, e.data.seq) for e in received if e.data.key == "a"] == [("a", 1), ("a", 3)]
    assert len(received) == 3
    assert restarted.resyncs == 1
    assert await IncarnationMemory(factory, tables, "outbox-relay").load() == second_id


async def _backlog_is(factory, n):
    return (await outbox_stats(factory, tables)).backlog == n


async def test_topics_deleted_on_the_same_cluster_are_recreated_and_refilled(db, broker):
    """A real Kafka rebuilt by hand keeps its cluster id but loses topics: same recovery."""
    engine, factory = db
    broker.start()
    bus = broker.bus
    outbox = Outbox(tables, source="/pacte/test", bus=bus)
    relay = OutboxRelay(outbox, engine, factory, retention=timedelta(days=1))
    runner = ConsumerRunner(
        Subscription(name="steps", handlers={StepRecorded: handle}), service="test", bus=bus, factory=factory, tables=tables
    )
    stop = asyncio.Event()
    tasks = [start(relay, stop), start(runner, stop)]
    try:
        await record(factory, outbox, [(f"k{i % 3}", i) for i in range(30)])
        await eventually(lambda: _count_is(factory, 30), timeout=30, message="first 30 handled")
        admin = new_admin(bus)
        await admin.start()
        try:
            await admin.delete_topics([topic_name(bus, TOPIC)])
        finally:
            await admin.close()
        await eventually(
            lambda: _topic_back_with(bus, 30), timeout=60, message="topic re-created and refilled by the relay"
        )
        await record(factory, outbox, [(f"k{i % 3}", i) for i in range(30, 40)])
        await eventually(lambda: _count_is(factory, 40), timeout=30, message="later events handled")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    by_key = await effects_by_key(factory)
    assert sorted(s for seqs in by_key.values() for s in seqs) == list(range(40))
    assert relay.resyncs >= 1
    print(f"resyncs after topic deletion: relay {relay.resyncs}, consumer {runner.resyncs}")


async def _topic_back_with(bus, n):
    if TOPIC not in (await describe_bus(bus)).topics:
        return False
    # A reader of its own each time (a new consumer's start and first fetches took over 3 s on
    # the loaded CI machine, every try for 30 s): room enough that only a missing event fails it.
    return len(await read_topic(bus, TOPIC, expect=n, timeout=10)) >= n


async def test_readers_do_not_stop_at_the_brokers_watermark(bus_settings, capsys):
    """Tansu reports a partition's end as its last batch's base offset + 1 (docs/runbook.md,
    "The broker's watermark"): after a batch of five and a batch of three it says 6, not 8. The
    kernel's end offsets are read, not taken from the broker, and `pacte bus tail` prints all
    eight messages (it stops at those ends)."""
    from aiokafka import TopicPartition
    from pacte_common.bus import end_offsets, ensure_topics, new_consumer, new_producer
    from pacte_tools.bus_cli import _tail

    topic = topic_name(bus_settings, "pacte.test.watermark.v1")
    await ensure_topics(bus_settings, [topic], partitions=1)
    producer = new_producer(bus_settings)
    await producer.start()
    try:
        for size in (5, 3):  # sent without waiting: each round goes as one batch
            sends = [await producer.send(topic, value=f"{size}-{i}".encode(), key=b"k") for i in range(size)]
            await asyncio.gather(*sends)
    finally:
        await producer.stop()
    partition = TopicPartition(topic, 0)
    raw = new_consumer(bus_settings, group_id=None)
    await raw.start()
    try:
        reported = (await raw.end_offsets([partition]))[partition]
    finally:
        await raw.stop()
    assert reported <= 8  # 6 on Tansu 0.6.0; 8 on a broker that reports it right

    assert await end_offsets(bus_settings, [topic]) == {partition: 8}
    await _tail(bus_settings, topic, True, None, None, False, None)
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("--- ")]
    assert [line.split()[1] for line in printed] == [f"{topic}[0]@{offset}" for offset in range(8)]
