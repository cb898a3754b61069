"""Batch handlers (set-based consumers): consecutive events of a batch-handled type are
applied together in the fetched batch's transaction (every partition's events, each partition's in
its order), interleaved with one-by-one handlers in the order of the partition; when a batch fails, each event is retried alone (a run of one) and
only the bad one is dead-lettered. Real broker, real database."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import ClassVar

import pytest
from pacte_common.bus import ensure_topics, new_producer, topic_name
from pacte_common.consumer import ConsumerRunner, PermanentError, Subscription
from pacte_common.db import create_engine, new_metadata, session_factory
from pacte_common.events import Envelope, IntegrationEvent, register
from pacte_common.messaging import MessagingTables
from pacte_testing import eventually
from sqlalchemy import Column, Integer, String, Table, func, select

TOPIC = "pacte.test.batched.v1"

metadata = new_metadata()
applied = Table(
    "batched_applied", metadata, Column("id", Integer, primary_key=True), Column("kind", String(10)), Column("seq", Integer)
)
tables = MessagingTables(metadata)


@register
class HoursLogged(IntegrationEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.test.hours.logged.v1"
    topic: ClassVar[str] = TOPIC
    seq: int


@register
class PeriodClosed(IntegrationEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.test.period.closed.v1"
    topic: ClassVar[str] = TOPIC
    seq: int


@pytest.fixture
async def factory(database_url):
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield session_factory(engine)
    await engine.dispose()


async def produce(bus, events):
    producer = new_producer(bus)
    await producer.start()
    try:
        batch = [await producer.send(topic_name(bus, TOPIC), value=e.body(), key=b"k", headers=e.headers()) for e in events]
        await asyncio.gather(*batch)
    finally:
        await producer.stop()


async def run_until(runner, condition):
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await eventually(condition, timeout=30, message="events applied")
    finally:
        stop.set()
        await task


async def test_runs_of_a_batched_type_are_applied_together_in_partition_order(factory, bus_settings):
    await ensure_topics(bus_settings, [topic_name(bus_settings, TOPIC)], partitions=1)
    kinds = ["hours"] * 5 + ["close"] + ["hours"] * 4 + ["close"]
    events = [
        Envelope.wrap((HoursLogged if kind == "hours" else PeriodClosed)(seq=seq), source="/t", subject="k")
        for seq, kind in enumerate(kinds)
    ]
    await produce(bus_settings, events)
    run_sizes = []

    async def log_hours(session, context, envelopes):
        run_sizes.append(len(envelopes))
        await session.execute(applied.insert(), [{"kind": "hours", "seq": e.data.seq} for e in envelopes])

    async def close_period(session, context, envelope):
        await session.execute(applied.insert().values(kind="close", seq=envelope.data.seq))

    subscription = Subscription("batched", {PeriodClosed: close_period}, batch_handlers={HoursLogged: log_hours})
    assert subscription.topics == (TOPIC,)
    runner = ConsumerRunner(subscription, service="test", bus=bus_settings, factory=factory, tables=tables)

    async def all_applied():
        async with factory() as session:
            return (await session.execute(select(func.count()).select_from(applied))).scalar_one() == len(kinds)

    await run_until(runner, all_applied)
    async with factory() as session:
        rows = (await session.execute(select(applied.c.kind, applied.c.seq).order_by(applied.c.id))).all()
    assert [(kind, seq) for kind, seq in rows] == list(zip(kinds, range(len(kinds)), strict=True))
    assert max(run_sizes) > 1, f"runs applied together: {run_sizes}"


async def test_a_failing_batch_falls_back_to_runs_of_one_and_dead_letters_only_the_bad_event(factory, bus_settings):
    await ensure_topics(bus_settings, [topic_name(bus_settings, TOPIC)], partitions=1)
    await produce(bus_settings, [Envelope.wrap(HoursLogged(seq=seq), source="/t", subject="k") for seq in range(6)])
    outcomes: Counter = Counter()

    async def log_hours(session, context, envelopes):
        if any(e.data.seq == 3 for e in envelopes):
            raise PermanentError("negative hours")
        await session.execute(applied.insert(), [{"kind": "hours", "seq": e.data.seq} for e in envelopes])

    runner = ConsumerRunner(
        Subscription("batched", {}, batch_handlers={HoursLogged: log_hours}), service="test", bus=bus_settings,
        factory=factory, tables=tables, on_outcome=lambda event_type, outcome: outcomes.update([outcome]),
    )
    await run_until(runner, lambda: _seen(outcomes, 6))
    async with factory() as session:
        seqs = list((await session.execute(select(applied.c.seq).order_by(applied.c.id))).scalars())
    assert seqs == [0, 1, 2, 4, 5] and outcomes["dead_lettered"] == 1


async def _seen(outcomes: Counter, count: int) -> bool:
    return outcomes["handled"] + outcomes["dead_lettered"] >= count


async def test_types_given_one_batch_handler_are_one_run(factory, bus_settings):
    """A handler given for several types (a file's successive steps) gets their consecutive
    events as one run, in partition order."""
    await ensure_topics(bus_settings, [topic_name(bus_settings, TOPIC)], partitions=1)
    kinds = ["hours", "close", "close", "hours", "hours", "close"]
    events = [
        Envelope.wrap((HoursLogged if kind == "hours" else PeriodClosed)(seq=seq), source="/t", subject="k")
        for seq, kind in enumerate(kinds)
    ]
    await produce(bus_settings, events)
    runs = []

    async def either(session, context, envelopes):
        runs.append([e.data.seq for e in envelopes])
        await session.execute(applied.insert(), [{"kind": "any", "seq": e.data.seq} for e in envelopes])

    subscription = Subscription("mixed", {}, batch_handlers={HoursLogged: either, PeriodClosed: either})
    runner = ConsumerRunner(subscription, service="test", bus=bus_settings, factory=factory, tables=tables)

    async def all_applied():
        async with factory() as session:
            return (await session.execute(select(func.count()).select_from(applied))).scalar_one() == len(kinds)

    await run_until(runner, all_applied)
    assert [seq for run in runs for seq in run] == list(range(len(kinds)))
    assert any(len({kinds[seq] for seq in run}) == 2 for run in runs), f"both types in one run: {runs}"


async def test_a_fetch_of_several_partitions_is_one_transaction_each_partition_in_its_order(factory, bus_settings):
    """Events already waiting on four partitions come in one fetch and are applied in one
    transaction (one run spans the partitions); each partition's events keep their order."""
    await ensure_topics(bus_settings, [topic_name(bus_settings, TOPIC)], partitions=4)
    producer = new_producer(bus_settings)
    await producer.start()
    try:
        sends = [await producer.send(topic_name(bus_settings, TOPIC), partition=seq % 4, key=f"k{seq % 4}".encode(),
                                     value=(e := Envelope.wrap(HoursLogged(seq=seq), source="/t", subject=f"k{seq % 4}")).body(),
                                     headers=e.headers())
                 for seq in range(40)]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()
    runs = []

    async def log_hours(session, context, envelopes):
        runs.append([(e.subject, e.data.seq) for e in envelopes])
        await session.execute(applied.insert(), [{"kind": e.subject, "seq": e.data.seq} for e in envelopes])

    runner = ConsumerRunner(Subscription("spread", {}, batch_handlers={HoursLogged: log_hours}), service="test",
                            bus=bus_settings, factory=factory, tables=tables)

    async def all_applied():
        async with factory() as session:
            return (await session.execute(select(func.count()).select_from(applied))).scalar_one() == 40

    await run_until(runner, all_applied)
    assert any(len({subject for subject, _ in run}) > 1 for run in runs), f"one run across partitions: {runs}"
    async with factory() as session:
        rows = (await session.execute(select(applied.c.kind, applied.c.seq).order_by(applied.c.id))).all()
    for key in ("k0", "k1", "k2", "k3"):
        assert [seq for kind, seq in rows if kind == key] == [seq for seq in range(40) if f"k{seq % 4}" == key]
