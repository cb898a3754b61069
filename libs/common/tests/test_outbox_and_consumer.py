"""The bus mechanism through a real broker and a real database (docs/conventions.md §1.3)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta
from typing import ClassVar

import pytest
from pacte_common.bus import ensure_topics, new_consumer, new_producer, topic_name
from pacte_common.consumer import ConsumerRunner, PermanentError, Subscription
from pacte_common.db import create_engine, new_metadata, session_factory
from pacte_common.events import Envelope, IntegrationEvent, dead_letter_topic, decode, register
from pacte_common.messaging import MessagingTables, Outbox, OutboxRelay, pending_count
from pacte_common.settings import BusSettings
from pacte_testing import eventually, read_topic
from pacte_tools.broker import free_port, start_tansu, stop_process
from sqlalchemy import Column, Integer, String, Table, select

NOTES_TOPIC = "pacte.test.notes.v1"

metadata = new_metadata()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(50), nullable=False),
    Column("seq", Integer, nullable=False),
)
tables = MessagingTables(metadata)


@register
class NoteAdded(IntegrationEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.note.added.v1"
    topic: ClassVar[str] = NOTES_TOPIC
    key: str
    seq: int


@pytest.fixture
async def notes_db(database_url):
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine, session_factory(engine)
    await engine.dispose()


@pytest.fixture
def outbox(bus_settings) -> Outbox:
    return Outbox(tables, source="/pacte/test", bus=bus_settings)


async def add_notes(factory, outbox, items, fail_after_publish=False):
    async with factory() as session, session.begin():
        for key, seq in items:
            await session.execute(notes.insert().values(key=key, seq=seq))
            await outbox.publish(session, NoteAdded(key=key, seq=seq), key=key)
        if fail_after_publish:
            raise RuntimeError("business rule failed after publishing")


def start_relay(engine, factory, outbox):
    relay = OutboxRelay(outbox, engine, factory, retention=timedelta(days=1))
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    return relay, stop, task


async def test_state_change_and_outbox_row_commit_or_roll_back_together(notes_db, outbox):
    _engine, factory = notes_db
    await add_notes(factory, outbox, [("a", 1)])
    with pytest.raises(RuntimeError):
        await add_notes(factory, outbox, [("b", 1)], fail_after_publish=True)
    async with factory() as session:
        assert (await session.execute(select(notes.c.key))).scalars().all() == ["a"]
        rows = (await session.execute(select(tables.outbox.c.message_key))).scalars().all()
    assert rows == ["a"]


async def test_relay_waits_for_broker_then_publishes_everything_in_key_order_once(
    notes_db, database_url, tmp_path
):
    engine, factory = notes_db
    port = free_port()
    bus = BusSettings(
        bootstrap_servers=f"127.0.0.1:{port}",
        relay_poll_interval_s=0.05,
        relay_max_backoff_s=0.5,
        request_timeout_ms=1500,
    )

    outbox = Outbox(tables, source="/pacte/test", bus=bus)
    _relay, stop, task = start_relay(engine, factory, outbox)
    # The broker is down: writes are accepted, rows wait.
    items = [(f"k{i % 5}", i) for i in range(100)]
    await add_notes(factory, outbox, items[:50])
    await asyncio.sleep(0.5)
    assert await pending_count(factory, tables) == 50
    broker = start_tansu("127.0.0.1", port, tmp_path / "tansu.log")
    try:
        await ensure_topics(bus, [NOTES_TOPIC], partitions=3)
        await add_notes(factory, outbox, items[50:])
        await eventually(lambda: _zero_pending(factory), timeout=30, message="outbox drained")
        received = await read_topic(bus, NOTES_TOPIC, expect=100)
        ids = [e.id for e in received]
        assert len(ids) == len(set(ids)) == 100, "each event exactly once on the topic"
        by_key = defaultdict(list)
        for envelope in received:
            by_key[envelope.data.key].append(envelope.data.seq)
        assert all(seqs == sorted(seqs) for seqs in by_key.values())
        assert sum(len(v) for v in by_key.values()) == 100
    finally:
        stop.set()
        await task
        stop_process(broker)


async def _zero_pending(factory):
    return await pending_count(factory, tables) == 0


class Recorder:
    """A handler whose effect is a row; it can be told to fail."""

    def __init__(self, fail_for: set[int] = frozenset()):
        self.fail_for = set(fail_for)
        self.calls = defaultdict(int)

    async def __call__(self, session, context, envelope: Envelope):
        self.calls[envelope.data.seq] += 1
        if envelope.data.seq in self.fail_for:
            raise ValueError(f"cannot handle note {envelope.data.seq}")
        await session.execute(
            notes.insert().values(key="handled-" + envelope.data.key, seq=envelope.data.seq)
        )


def runner_for(bus, factory, handler, name="notes"):
    return ConsumerRunner(
        Subscription(name=name, handlers={NoteAdded: handler}),
        service="test",
        bus=bus,
        factory=factory,
        tables=tables,
    )


async def produce(bus, envelopes):
    producer = new_producer(bus)
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send_and_wait(
                topic_name(bus, NOTES_TOPIC),
                value=envelope.body(),
                key=envelope.subject.encode(),
                headers=envelope.headers(),
            )
    finally:
        await producer.stop()


async def handled_seqs(factory):
    async with factory() as session:
        return (
            (
                await session.execute(
                    select(notes.c.seq).where(notes.c.key.like("handled-%")).order_by(notes.c.id)
                )
            )
            .scalars()
            .all()
        )


async def run_until(runner, condition, timeout=20):
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await eventually(condition, timeout=timeout, message="consumer effect")
    finally:
        stop.set()
        await task


async def test_duplicate_delivery_has_one_effect(notes_db, bus_settings):
    _engine, factory = notes_db
    await ensure_topics(bus_settings, [topic_name(bus_settings, NOTES_TOPIC)], partitions=2)
    envelope = Envelope.wrap(NoteAdded(key="x", seq=1), source="/test", subject="x")
    await produce(
        bus_settings,
        [envelope, envelope, Envelope.wrap(NoteAdded(key="x", seq=2), source="/test", subject="x")],
    )
    handler = Recorder()
    await run_until(runner_for(bus_settings, factory, handler), lambda: _seqs_are(factory, [1, 2]))
    assert await handled_seqs(factory) == [1, 2]
    assert handler.calls[1] == 1, "the second delivery is stopped by the inbox before the handler"


async def _seqs_are(factory, expected):
    return await handled_seqs(factory) == expected


async def test_redelivery_after_crash_before_offset_commit_has_no_second_effect(
    notes_db, bus_settings
):
    """A consumer that committed its effect but died before committing the offset: the next
    one re-reads from the last committed offset. Simulated by re-reading the whole topic
    with a second runner instance of the same consumer name (the inbox key) and a fresh group."""
    _engine, factory = notes_db
    await ensure_topics(bus_settings, [topic_name(bus_settings, NOTES_TOPIC)], partitions=2)
    await produce(
        bus_settings,
        [
            Envelope.wrap(NoteAdded(key=f"k{i}", seq=i), source="/t", subject=f"k{i}")
            for i in range(10)
        ],
    )
    await run_until(runner_for(bus_settings, factory, Recorder()), lambda: _count_is(factory, 10))
    replay_bus = bus_settings.model_copy(update={"topic_namespace": bus_settings.topic_namespace})
    second = runner_for(replay_bus, factory, Recorder())
    second.group_id += ".after-crash"  # no committed offset: everything is delivered again
    outcomes = []
    second.on_outcome = lambda event_type, outcome: outcomes.append(outcome)
    stop = asyncio.Event()
    task = asyncio.create_task(second.run(stop))
    try:
        await eventually(lambda: len(outcomes) >= 10, message="all ten redelivered")
    finally:
        stop.set()
        await task
    assert outcomes == ["duplicate"] * 10, "every redelivery stopped by the inbox"
    assert sorted(await handled_seqs(factory)) == list(range(10))


async def _count_is(factory, n):
    return len(await handled_seqs(factory)) == n


async def test_failing_handler_is_retried_then_dead_lettered_with_its_error(notes_db, bus_settings):
    _engine, factory = notes_db
    await ensure_topics(bus_settings, [topic_name(bus_settings, NOTES_TOPIC)], partitions=1)
    await produce(
        bus_settings,
        [Envelope.wrap(NoteAdded(key="k", seq=s), source="/t", subject="k") for s in (1, 2, 3)],
    )
    handler = Recorder(fail_for={2})
    runner = runner_for(bus_settings, factory, handler)
    await run_until(runner, lambda: _seqs_are(factory, [1, 3]))
    # maybe one try inside a batch transaction, then exactly the bounded per-message retries
    assert handler.calls[2] in (bus_settings.consumer_max_attempts, 1 + bus_settings.consumer_max_attempts)
    dlq = runner.dlq_topic(topic_name(bus_settings, NOTES_TOPIC))
    assert dlq == dead_letter_topic(topic_name(bus_settings, NOTES_TOPIC), "test.notes")
    consumer = new_consumer(bus_settings, dlq, group_id=None)
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    messages = [m for ms in batch.values() for m in ms]
    assert len(messages) == 1
    headers = dict(messages[0].headers)
    assert b"cannot handle note 2" in headers["pacte_dlq_error"]
    assert decode(messages[0].headers, messages[0].value).data.seq == 2


async def test_malformed_message_goes_to_dead_letter_without_stopping_the_partition(
    notes_db, bus_settings
):
    _engine, factory = notes_db
    topic = topic_name(bus_settings, NOTES_TOPIC)
    await ensure_topics(bus_settings, [topic], partitions=1)
    producer = new_producer(bus_settings)
    await producer.start()
    bad = Envelope.wrap(NoteAdded(key="k", seq=1), source="/t", subject="k")
    await producer.send_and_wait(
        topic, value=b'{"key": "k", "seq": "not a number"}', key=b"k", headers=bad.headers()
    )
    await producer.send_and_wait(
        topic, value=b"{}", key=b"k", headers=[("content-type", b"application/json")]
    )
    await producer.stop()
    await produce(
        bus_settings, [Envelope.wrap(NoteAdded(key="k", seq=7), source="/t", subject="k")]
    )
    await run_until(runner_for(bus_settings, factory, Recorder()), lambda: _seqs_are(factory, [7]))


async def test_thousand_events_over_fifty_keys_arrive_in_key_order(notes_db, bus_settings, outbox):
    engine, factory = notes_db
    await ensure_topics(bus_settings, [topic_name(bus_settings, NOTES_TOPIC)], partitions=4)
    _relay, stop, task = start_relay(engine, factory, outbox)
    try:
        for start in range(0, 1000, 100):
            await add_notes(
                factory, outbox, [(f"key-{i % 50}", i) for i in range(start, start + 100)]
            )
        received = await read_topic(
            bus_settings, topic_name(bus_settings, NOTES_TOPIC), expect=1000, timeout=30
        )
    finally:
        stop.set()
        await task
    assert len(received) == 1000
    by_key = defaultdict(list)
    for envelope in received:
        by_key[envelope.data.key].append(envelope.data.seq)
    assert len(by_key) == 50
    for key, seqs in by_key.items():
        assert seqs == sorted(seqs), f"{key} out of order"


async def test_two_instances_share_partitions_and_one_takes_over(notes_db, bus_settings):
    _engine, factory = notes_db
    topic = topic_name(bus_settings, NOTES_TOPIC)
    await ensure_topics(bus_settings, [topic], partitions=4)
    first, second = (
        runner_for(bus_settings, factory, Recorder()),
        runner_for(bus_settings, factory, Recorder()),
    )
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    tasks = [
        asyncio.create_task(first.run(stop_first)),
        asyncio.create_task(second.run(stop_second)),
    ]
    try:
        await produce(
            bus_settings,
            [
                Envelope.wrap(NoteAdded(key=f"k{i}", seq=i), source="/t", subject=f"k{i}")
                for i in range(40)
            ],
        )
        await eventually(
            lambda: _count_is(factory, 40), timeout=40, message="both instances consumed"
        )
        assert sum(first.subscription.handlers[NoteAdded].calls.values()) > 0
        assert sum(second.subscription.handlers[NoteAdded].calls.values()) > 0
        stop_first.set()
        await tasks[0]
        await produce(
            bus_settings,
            [
                Envelope.wrap(NoteAdded(key=f"k{i}", seq=i), source="/t", subject=f"k{i}")
                for i in range(40, 80)
            ],
        )
        await eventually(
            lambda: _count_is(factory, 80), timeout=60, message="survivor took over every partition"
        )
    finally:
        stop_first.set()
        stop_second.set()
        await asyncio.gather(*tasks)
    assert sorted(await handled_seqs(factory)) == list(range(80))


async def test_permanent_error_goes_to_dead_letter_without_retries(notes_db, bus_settings):
    _engine, factory = notes_db
    topic = topic_name(bus_settings, NOTES_TOPIC)
    await ensure_topics(bus_settings, [topic], partitions=1)

    class Rejecting(Recorder):
        async def __call__(self, session, context, envelope):
            self.calls[envelope.data.seq] += 1
            if envelope.data.seq == 1:
                raise PermanentError("negative hours")
            await super().__call__(session, context, envelope)
            self.calls[envelope.data.seq] -= 1

    handler = Rejecting()
    await produce(bus_settings, [Envelope.wrap(NoteAdded(key="k", seq=1), source="/t", subject="k")])
    runner = runner_for(bus_settings, factory, handler)
    await produce(bus_settings, [Envelope.wrap(NoteAdded(key="k", seq=2), source="/t", subject="k")])
    await run_until(runner, lambda: _seqs_are(factory, [2]))
    assert handler.calls[1] <= 2, "at most one try in a batch and one alone: no retries"
    dead = await read_topic(bus_settings, runner.dlq_topic(topic), expect=1)
    assert [e.data.seq for e in dead] == [1]
