"""A poison message (undecodable) on a business topic: dead-lettered once by each consumer of
that topic, the partition moves on, /health/status says so — and replaying it ends."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from pacte_common.bus import new_consumer, new_producer
from pacte_common.consumer import replay_dead_letters
from pacte_common.events import Topics
from pacte_common.settings import BusSettings
from pacte_testing import eventually
from pacte_tools.suite import SERVICES

POISONED: dict = {}  # what the first test dead-lettered, for the replay test


async def _messages_with_key(bus: BusSettings, topic: str, key: bytes) -> int:
    consumer = new_consumer(bus, topic, group_id=None)
    await consumer.start()
    found = 0
    try:
        while batch := await consumer.getmany(timeout_ms=1500):
            found += sum(1 for messages in batch.values() for m in messages if m.key == key)
    finally:
        await consumer.stop()
    return found


async def test_poison_message_is_dead_lettered_once_per_consumer_and_the_partition_moves_on(supervised, cohort):
    suite = supervised.suite
    bus = BusSettings(bootstrap_servers=suite.bootstrap, topic_namespace=suite.settings.topic_namespace)
    topic = bus.topic_namespace + Topics.TRAINEES
    key = f"poison-{uuid.uuid4().hex}".encode()
    producer = new_producer(bus)
    await producer.start()
    try:
        # no CloudEvent headers at all: every consumer of the topic must reject it
        await producer.send_and_wait(topic, value=b"\x00 not a CloudEvent {", key=key)
    finally:
        await producer.stop()

    async with cohort() as c, httpx.AsyncClient(timeout=20) as probe:
        # a good trainee after it on the same topic still goes through: the partitions moved on
        session_id = await c.open_session()
        trainees = c.trainees(2)
        await asyncio.gather(*(c.journey(session_id, t) for t in trainees))
        counts = await c.settle(trainees)

        dead_letter_topics = {}
        for spec in (s for s in SERVICES if s.has_database):
            status = (await probe.get(suite.url(spec.name) + "/health/status")).json()
            for dlq in status["components"].get("dead_letters", {}):
                if dlq.startswith(topic + ".dlq."):
                    dead_letter_topics[dlq] = status
        assert dead_letter_topics, "some consumer reads the trainees topic"
        copies = {dlq: await _messages_with_key(bus, dlq, key) for dlq in dead_letter_topics}
        await asyncio.sleep(3)  # no retry loop: still one copy each a little later
        copies_later = {dlq: await _messages_with_key(bus, dlq, key) for dlq in dead_letter_topics}

        async def health_says_so(dlq):
            name = dlq.rsplit(".dlq.", 1)[1].split(".", 1)[0]
            status = (await probe.get(suite.url(name) + "/health/status")).json()
            return status["status"] == "degraded" and any(dlq in reason for reason in status["reasons"])

        told = [await eventually(lambda d=dlq: health_says_so(d), 20, interval=0.5, message=f"{dlq} reported") for dlq in dead_letter_topics]

    c.report("poison message", counts, consumers=len(copies), dead_letters=sum(copies.values()))
    assert counts["lost"] == 0, [p for t in trainees for p in t.problems]
    assert all(n == 1 for n in copies.values()) and copies_later == copies, copies_later
    assert all(told)
    POISONED.update(dead_letter_topics=sorted(dead_letter_topics), key=key)


async def test_replaying_the_poison_message_ends_and_reports_it_failed_again(supervised):
    """`pacte bus replay-dlq` on a message that still fails: replayed once, failed again once, done."""
    if not POISONED:
        pytest.skip("needs the poison message of the test above")
    suite = supervised.suite
    bus = BusSettings(bootstrap_servers=suite.bootstrap, topic_namespace=suite.settings.topic_namespace)
    dlq = POISONED["dead_letter_topics"][0]
    replay = await asyncio.wait_for(replay_dead_letters(bus, dlq, settle_timeout_s=20), 90)
    again = await _messages_with_key(bus, dlq, POISONED["key"])
    print(f"\n[faults] replay of the poison message: replayed={replay.replayed} failed_again={replay.failed_again} copies_now={again}")
    assert replay.replayed == 1 and replay.failed_again == 1 and again == 2, "replayed once, failed again once, and it ended"
