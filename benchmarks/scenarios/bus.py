"""The bus: transactional outbox → relay → broker → consumer runner with its inbox, against bare
aiokafka (produce + consume) on the same broker in the same run.

Targets (benchmarks/README.md): ≥ 5,000 events/s and ≥ 0.10 of bare."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import ClassVar

from pacte_common.bus import ensure_topics, new_consumer, new_producer, topic_name
from pacte_common.consumer import ConsumerRunner, Subscription
from pacte_common.db import create_engine, new_metadata, session_factory
from pacte_common.events import IntegrationEvent, register
from pacte_common.messaging import MessagingTables, Outbox, OutboxRelay
from pacte_common.settings import BusSettings
from pacte_tools.broker import free_port, start_tansu, stop_process
from sqlalchemy import Column, Integer, String, Table, func, select

from benchmarks.core import Context, Row, Scenario

TOPIC = "pacte.bench.items.v1"
metadata = new_metadata()
items = Table("items", metadata, Column("id", Integer, primary_key=True), Column("key", String(40)), Column("seq", Integer))
tables = MessagingTables(metadata)


@register
class BenchItemAdded(IntegrationEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.bench-item.added.v1"
    topic: ClassVar[str] = TOPIC
    key: str
    seq: int


async def bare(bus: BusSettings, count: int) -> float:
    topic = topic_name(bus, TOPIC) + f".bare{uuid.uuid4().hex[:4]}"
    await ensure_topics(bus, [topic], partitions=4)
    producer, consumer = new_producer(bus), new_consumer(bus, topic, group_id=None)
    await producer.start()
    await consumer.start()
    started = time.perf_counter()
    futures = [await producer.send(topic, value=b'{"key":"k","seq":1}', key=f"k{i % 50}".encode()) for i in range(count)]
    await asyncio.gather(*futures)
    seen = 0
    while seen < count:
        batch = await consumer.getmany(timeout_ms=500)
        seen += sum(len(m) for m in batch.values())
    elapsed = time.perf_counter() - started
    await producer.stop()
    await consumer.stop()
    return count / elapsed


async def pacte(bus: BusSettings, count: int, database_url: str) -> float:
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    factory = session_factory(engine)
    await ensure_topics(bus, [topic_name(bus, TOPIC)], partitions=4)
    outbox = Outbox(tables, "/pacte/bench", bus)
    relay = OutboxRelay(outbox, engine, factory, timedelta(days=1))

    async def on_items(session, _context, envelopes):  # a batch handler: one executemany per run
        await session.execute(items.insert(), [{"key": "handled", "seq": e.data.seq} for e in envelopes])

    runner = ConsumerRunner(Subscription("bench", {}, batch_handlers={BenchItemAdded: on_items}), service="bench",
                            bus=bus, factory=factory, tables=tables)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(runner.run(stop))]
    await asyncio.wait_for(runner.assigned.wait(), 30)
    started = time.perf_counter()
    for start in range(0, count, 100):  # one business transaction per 100 events, one INSERT
        async with factory() as session, session.begin():
            events = [(BenchItemAdded(key=f"k{seq % 50}", seq=seq), f"k{seq % 50}", None)
                      for seq in range(start, min(start + 100, count))]
            await outbox.publish_many(session, events)
    while True:
        async with factory() as session:
            done = (await session.execute(select(func.count()).select_from(items).where(items.c.key == "handled"))).scalar_one()
        if done >= count:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*tasks)
    await engine.dispose()
    return count / elapsed


async def run(context: Context) -> list[Row]:
    count = context.size(500, 5000)
    port = free_port()
    broker = start_tansu("127.0.0.1", port, context.workdir / f"bus-broker-{context.database}.log")
    bus = BusSettings(bootstrap_servers=f"127.0.0.1:{port}", topic_namespace=f"bench{uuid.uuid4().hex[:6]}.",
                      relay_poll_interval_s=0.02)
    try:
        bare_rates, pacte_rates = [], []
        for _ in range(context.size(1, 2)):  # interleaved rounds
            bare_rates.append(await bare(bus, count))
            pacte_rates.append(await pacte(bus, count, await context.database_url("bus")))
    finally:
        stop_process(broker)
    figure, baseline = max(pacte_rates), max(bare_rates)
    ratio = figure / baseline
    return [Row("outbox → relay → broker → consumer", context.database, figure, "events/s",
                "≥ 5,000 events/s and ratio ≥ 0.10", met=figure >= 5000 and ratio >= 0.10, baseline=baseline,
                ratio=ratio, details={"events": count, "pacte_rounds": pacte_rates, "bare_rounds": bare_rates})]


SCENARIO = Scenario("bus", "outbox, relay, broker and consumer with inbox against bare aiokafka", run)
