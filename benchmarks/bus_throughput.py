"""Bus throughput: outbox → relay → Kafka → consumer runner with inbox, against bare aiokafka.

    uv run python benchmarks/bus_throughput.py [--events 5000] [--database-url URL]

Starts its own Tansu broker (or uses --bootstrap) and prints events/s for:
  1. bare: aiokafka producer send + consumer read (the stack's ceiling on this machine);
  2. pacte: transactional outbox writes, the relay publishing, a ConsumerRunner applying an
     effect with its inbox row in one transaction per event;
and the ratio pacte / bare. Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import timedelta
from typing import ClassVar

from pacte_common.broker import free_port, start_tansu, stop_process
from pacte_common.bus import ensure_topics, new_consumer, new_producer, topic_name
from pacte_common.consumer import ConsumerRunner, Subscription
from pacte_common.db import create_engine, new_metadata, session_factory
from pacte_common.events import IntegrationEvent, register
from pacte_common.messaging import MessagingTables, Outbox, OutboxRelay
from pacte_common.settings import BusSettings
from sqlalchemy import Column, Integer, String, Table, func, select

TOPIC = "pacte.bench.items.v1"
metadata = new_metadata()
items = Table("items", metadata, Column("id", Integer, primary_key=True), Column("key", String(40)), Column("seq", Integer))
tables = MessagingTables(metadata)


@register
class ItemAdded(IntegrationEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.bench-item.added.v1"
    topic: ClassVar[str] = TOPIC
    key: str
    seq: int


async def bare(bus: BusSettings, count: int) -> float:
    topic = topic_name(bus, TOPIC) + ".bare"
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
        await connection.run_sync(metadata.drop_all)
        await connection.run_sync(metadata.create_all)
    factory = session_factory(engine)
    await ensure_topics(bus, [topic_name(bus, TOPIC)], partitions=4)
    outbox = Outbox(tables, "/pacte/bench", bus)
    relay = OutboxRelay(outbox, engine, factory, timedelta(days=1))

    async def on_item(_context, session, envelope):
        await session.execute(items.insert().values(key="handled", seq=envelope.data.seq))

    runner = ConsumerRunner(Subscription("bench", {ItemAdded: on_item}), service="bench", bus=bus, factory=factory, tables=tables)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(runner.run(stop))]
    await asyncio.wait_for(runner.assigned.wait(), 30)
    started = time.perf_counter()
    for start in range(0, count, 100):  # one business transaction per 100 events
        async with factory() as session, session.begin():
            for seq in range(start, min(start + 100, count)):
                await outbox.publish(session, ItemAdded(key=f"k{seq % 50}", seq=seq), key=f"k{seq % 50}")
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


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--bootstrap", default="")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    broker = None
    bootstrap = args.bootstrap
    if not bootstrap:
        port = free_port()
        broker = start_tansu("127.0.0.1", port)
        bootstrap = f"127.0.0.1:{port}"
    database_url = args.database_url or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    bus = BusSettings(bootstrap_servers=bootstrap, topic_namespace=f"bench{uuid.uuid4().hex[:6]}.", relay_poll_interval_s=0.02)
    try:
        bare_rate = await bare(bus, args.events)
        pacte_rate = await pacte(bus, args.events, database_url)
    finally:
        if broker:
            stop_process(broker)
    print(f"events: {args.events}  database: {database_url.split(':')[0]}")
    print(f"bare aiokafka produce+consume : {bare_rate:10.0f} events/s")
    print(f"outbox+relay+consumer+inbox   : {pacte_rate:10.0f} events/s (effect + inbox row committed per partition batch)")
    print(f"ratio pacte / bare            : {pacte_rate / bare_rate:10.3f}")


if __name__ == "__main__":
    asyncio.run(main())
