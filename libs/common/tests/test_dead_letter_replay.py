"""`replay-dlq` that ends and the relay's incarnation header, on a real broker
and a real database: a dead letter replayed while its handler still fails comes back once and
the run ends; once fixed, a replay applies it; a replay with nothing new replays nothing. A
message stamped for another broker incarnation is skipped (the relay sends it again)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import ClassVar

import pytest
from pacte_common.bus import CLUSTER_HEADER, describe_bus, ensure_topics, new_producer, topic_name
from pacte_common.consumer import (
    ConsumerRunner,
    Subscription,
    read_dead_letters,
    replay_dead_letters,
)
from pacte_common.db import create_engine, new_metadata, session_factory
from pacte_common.events import Envelope, IntegrationEvent, register
from pacte_common.messaging import MessagingTables
from pacte_testing import eventually
from sqlalchemy import Column, Integer, Table, select

TOPIC = "pacte.test.replay.v1"

metadata = new_metadata()
effects = Table("replay_effects", metadata, Column("id", Integer, primary_key=True), Column("seq", Integer, nullable=False))
tables = MessagingTables(metadata)


@register
class CountTaken(IntegrationEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.test.count.taken.v1"
    topic: ClassVar[str] = TOPIC
    seq: int


@pytest.fixture
async def factory(database_url):
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield session_factory(engine)
    await engine.dispose()


async def produce(bus, seqs, headers=()):
    producer = new_producer(bus)
    await producer.start()
    try:
        for seq in seqs:
            envelope = Envelope.wrap(CountTaken(seq=seq), source="/t", subject="k")
            await producer.send_and_wait(
                topic_name(bus, TOPIC), value=envelope.body(), key=b"k", headers=envelope.headers() + list(headers)
            )
    finally:
        await producer.stop()


async def handled(factory) -> list[int]:
    async with factory() as session:
        return list((await session.execute(select(effects.c.seq).order_by(effects.c.id))).scalars())


class Running:
    """A consumer runner whose handler fails for the sequence numbers in `broken`."""

    def __init__(self, bus, factory):
        self.broken: set[int] = set()
        self.outcomes: Counter = Counter()

        async def handle(session, context, envelope):
            if envelope.data.seq in self.broken:
                raise RuntimeError(f"cannot count {envelope.data.seq} yet")
            await session.execute(effects.insert().values(seq=envelope.data.seq))

        self.runner = ConsumerRunner(
            Subscription(name="counts", handlers={CountTaken: handle}), service="test", bus=bus, factory=factory,
            tables=tables, on_outcome=lambda event_type, outcome: self.outcomes.update([outcome]),
        )
        self.stop = asyncio.Event()

    async def __aenter__(self):
        self.task = asyncio.create_task(self.runner.run(self.stop))
        return self

    async def __aexit__(self, *exc):
        self.stop.set()
        await self.task


async def test_replay_ends_reports_failed_again_then_applies_once_fixed(factory, bus_settings):
    bus = bus_settings.model_copy(update={"consumer_max_attempts": 2})
    await ensure_topics(bus, [topic_name(bus, TOPIC)], partitions=1)
    async with Running(bus, factory) as running:
        running.broken = {2}
        await produce(bus, [1, 2, 3])
        await eventually(lambda: running.outcomes["dead_lettered"] == 1, timeout=30, message="2 dead-lettered")
        dlq = running.runner.dlq_topic(topic_name(bus, TOPIC))

        still_broken = await asyncio.wait_for(replay_dead_letters(bus, dlq, settle_timeout_s=30), 90)
        assert (still_broken.replayed, still_broken.failed_again, still_broken.unsettled) == (1, 1, 0)

        running.broken = set()
        fixed = await asyncio.wait_for(replay_dead_letters(bus, dlq, settle_timeout_s=30), 90)
        assert (fixed.replayed, fixed.failed_again, fixed.unsettled) == (1, 0, 0), "only the new dead letter"
        nothing_new = await asyncio.wait_for(replay_dead_letters(bus, dlq, settle_timeout_s=5), 60)
        assert nothing_new.replayed == 0
    assert await handled(factory) == [1, 3, 2]
    assert running.outcomes["dead_lettered"] == 2


async def test_a_replayed_dead_letter_is_for_its_own_group_only(factory, bus_settings):
    bus = bus_settings.model_copy(update={"consumer_max_attempts": 2})
    await ensure_topics(bus, [topic_name(bus, TOPIC)], partitions=1)
    async with Running(bus, factory) as failing:
        failing.broken = {5}
        await produce(bus, [5])
        await eventually(lambda: failing.outcomes["dead_lettered"] == 1, timeout=30, message="5 dead-lettered")
        dlq = failing.runner.dlq_topic(topic_name(bus, TOPIC))
    other = Running(bus, factory)
    other.runner.group_id += ".other"  # another group reading the same topic, from the beginning
    async with other:
        await eventually(lambda: other.outcomes["handled"] == 1, timeout=30, message="the other group handles 5")
        report = await asyncio.wait_for(replay_dead_letters(bus, dlq, settle_timeout_s=3), 60)
        await eventually(lambda: other.outcomes["ignored"] == 1, timeout=30, message="the copy is ignored")
    assert report.replayed == 1 and other.outcomes["dead_lettered"] == 0


async def test_a_message_stamped_for_another_broker_incarnation_is_skipped(factory, bus_settings):
    await ensure_topics(bus_settings, [topic_name(bus_settings, TOPIC)], partitions=1)
    current = (await describe_bus(bus_settings)).cluster_id
    await produce(bus_settings, [1], headers=[(CLUSTER_HEADER, b"pacte-previous-incarnation")])
    await produce(bus_settings, [2], headers=[(CLUSTER_HEADER, current.encode())])
    await produce(bus_settings, [3])  # not from a relay: no stamp
    async with Running(bus_settings, factory) as running:
        await eventually(lambda: running.outcomes["handled"] + running.outcomes["ignored"] == 3, timeout=30,
                         message="three messages seen")
    assert await handled(factory) == [2, 3]
    assert running.outcomes["ignored"] == 1 and running.runner.resyncs == 0


async def test_an_operator_reads_the_last_errors_without_payload_and_replays_only_the_oldest(factory, bus_settings):
    bus = bus_settings.model_copy(update={"consumer_max_attempts": 1})
    await ensure_topics(bus, [topic_name(bus, TOPIC)], partitions=1)
    async with Running(bus, factory) as running:
        running.broken = {7, 8, 9}
        await produce(bus, [7, 8, 9])
        await eventually(lambda: running.outcomes["dead_lettered"] == 3, timeout=30, message="7, 8, 9 dead-lettered")
        dlq = running.runner.dlq_topic(topic_name(bus, TOPIC))

        total, last_two = await read_dead_letters(bus, dlq, last=2)
        assert total == 3 and len(last_two) == 2
        assert [letter.error for letter in last_two] == ["RuntimeError: cannot count 9 yet", "RuntimeError: cannot count 8 yet"]
        assert all(letter.event_type == CountTaken.event_type and not letter.replayed for letter in last_two)
        assert last_two[0].origin.startswith(topic_name(bus, TOPIC)) and last_two[0].consumer_group == running.runner.group_id
        assert "seq" not in repr(last_two), "no payload in what the operator reads"

        running.broken = set()
        report = await asyncio.wait_for(replay_dead_letters(bus, dlq, limit=1, settle_timeout_s=30), 90)
        assert (report.replayed, report.failed_again) == (1, 0)
        total, letters = await read_dead_letters(bus, dlq)
        assert total == 3 and [letter.replayed for letter in sorted(letters, key=lambda x: x.offset)] == [True, False, False]
    assert await handled(factory) == [7]


async def test_a_dead_letters_error_carries_no_personal_data(factory, bus_settings):
    bus = bus_settings.model_copy(update={"consumer_max_attempts": 1})
    await ensure_topics(bus, [topic_name(bus, TOPIC)], partitions=1)
    nir = "2 95 03 44 109 123 24"  # a real NIR shape with its key: what the redaction recognises

    class Leaky(Running):
        def __init__(self, bus, factory):
            super().__init__(bus, factory)

            async def handle(session, context, envelope):
                raise RuntimeError(f"no trainee with NIR {nir}")

            self.runner.subscription.handlers[CountTaken] = handle
            self.runner.subscription.by_type[CountTaken.event_type] = handle

    async with Leaky(bus, factory) as running:
        await produce(bus, [11])
        await eventually(lambda: running.outcomes["dead_lettered"] == 1, timeout=30, message="11 dead-lettered")
        _, letters = await read_dead_letters(bus, running.runner.dlq_topic(topic_name(bus, TOPIC)))
    assert letters[0].error == "RuntimeError: no trainee with NIR [NIR]"


def test_a_validation_failure_is_told_by_field_without_the_input():
    from pacte_common.consumer import failure_text
    from pydantic import BaseModel, ValidationError

    class Person(BaseModel):
        birth_name: int

    try:
        Person(birth_name="DUPONT")
    except ValidationError as exc:
        text = failure_text(exc)
    assert text.startswith("ValidationError: birth_name: ") and "DUPONT" not in text
