"""Consumer runner: at-least-once delivery turned into exactly-once effects by the inbox.

For each message: decode the CloudEvent, then in ONE database transaction record
(consumer, event id) in the inbox and apply the handler's effect; the Kafka offset is
committed only after that transaction. A redelivered event finds its inbox row and changes
nothing. A handler that keeps failing is retried a bounded number of times, then the
message goes to `<topic>.dlq.<group>` with the error, and the partition moves on.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pacte_common.bus import ensure_topics, new_consumer, new_producer, topic_name
from pacte_common.db import utcnow
from pacte_common.events import Envelope, EventError, IntegrationEvent, dead_letter_topic, decode
from pacte_common.messaging import MessagingTables
from pacte_common.settings import BusSettings
from pacte_common.tracing import current_traceparent

log = logging.getLogger(__name__)

# handler(context, session, envelope): `context` is the service Runtime (None in lib tests);
# the handler runs inside the inbox transaction and must not commit.
Handler = Callable[[Any, AsyncSession, Envelope], Awaitable[None]]


@dataclass
class Subscription:
    """What one consumer group of a service handles: event classes → handler."""

    name: str
    handlers: dict[type[IntegrationEvent], Handler]
    topics: tuple[str, ...] = field(default=())

    def __post_init__(self):
        if not self.topics:
            self.topics = tuple(dict.fromkeys(cls.topic for cls in self.handlers))
        self.by_type = {cls.event_type: handler for cls, handler in self.handlers.items()}


class PermanentError(Exception):
    """Raised by a handler for a message that can never succeed (invalid data): no retries,
    straight to the dead-letter topic with the reason."""


class _LogRebalance(ConsumerRebalanceListener):
    def __init__(self, name: str):
        self.name = name

    async def on_partitions_revoked(self, revoked):
        # Offsets are committed after every handled batch, so nothing is pending here.
        log.info("consumer %s: partitions revoked %s", self.name, sorted(str(tp) for tp in revoked))

    async def on_partitions_assigned(self, assigned):
        log.info("consumer %s: partitions assigned %s", self.name, sorted(str(tp) for tp in assigned))


class ConsumerRunner:
    def __init__(
        self,
        subscription: Subscription,
        *,
        service: str,
        bus: BusSettings,
        factory: async_sessionmaker[AsyncSession],
        tables: MessagingTables,
        on_outcome: Callable[[str, str], None] | None = None,
        context: Any = None,
    ):
        self.context = context
        self.subscription = subscription
        self.bus = bus
        self.factory = factory
        self.tables = tables
        self.group_id = f"{bus.topic_namespace}{service}.{subscription.name}"
        self.consumer_name = f"{service}.{subscription.name}"
        self.topics = [topic_name(bus, t) for t in subscription.topics]
        self.on_outcome = on_outcome or (lambda event_type, outcome: None)
        self.connected = False
        self.assigned = asyncio.Event()

    def dlq_topic(self, topic: str) -> str:
        # The topic already carries the namespace; the group part is the plain consumer name.
        return dead_letter_topic(topic, self.consumer_name)

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            consumer = producer = None
            try:
                await ensure_topics(self.bus, self.topics)
                await ensure_topics(self.bus, [self.dlq_topic(t) for t in self.topics], partitions=1)
                producer = new_producer(self.bus)
                await producer.start()
                consumer = new_consumer(self.bus, group_id=self.group_id)
                consumer.subscribe(self.topics, listener=_LogRebalance(self.group_id))
                await consumer.start()
                self.connected = True
                failures = 0
                while not stop.is_set():
                    batch = await consumer.getmany(timeout_ms=200)
                    if consumer.assignment():
                        self.assigned.set()
                    for partition, messages in batch.items():
                        await self.handle_batch(messages, producer)
                        try:
                            await consumer.commit({partition: messages[-1].offset + 1})
                        except CommitFailedError as exc:
                            # Rebalanced meanwhile: the new owner re-reads, the inbox dedupes.
                            log.warning("consumer %s: commit failed: %s", self.group_id, exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self.connected = False
                log.warning("consumer %s: broker error (attempt %d): %s", self.group_id, failures, exc)
                delay = min(self.bus.relay_max_backoff_s, 0.1 * 2**failures) * random.uniform(0.5, 1.0)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
            finally:
                self.connected = False
                for client in (consumer, producer):
                    if client is not None:
                        try:
                            await client.stop()
                        except Exception:
                            pass

    async def handle_batch(self, messages, dlq_producer: AIOKafkaProducer) -> None:
        """Handles a partition's batch in one transaction; on any failure, falls back to one
        transaction per message (with its retries and dead-lettering)."""
        if len(messages) > 1:
            try:
                outcomes = await self._handle_together(messages)
            except Exception:
                outcomes = None
            if outcomes is not None:
                for event_type, outcome in outcomes:
                    self._outcome(event_type, outcome)
                return
        for message in messages:
            await self.handle(message, dlq_producer)

    async def _handle_together(self, messages) -> list[tuple[str, str]] | None:
        envelopes = []
        outcomes = []
        for message in messages:
            event_type = dict(message.headers or ()).get("ce_type", b"").decode(errors="replace")
            if event_type and event_type not in self.subscription.by_type:
                outcomes.append((event_type, "ignored"))
                continue
            try:
                envelopes.append((message, decode(message.headers, message.value)))
            except EventError:
                return None  # the per-message path dead-letters it
        if not envelopes:
            return outcomes
        inbox = self.tables.inbox
        async with self.factory() as session, session.begin():
            seen = set(
                (
                    await session.execute(
                        select(inbox.c.event_id).where(
                            inbox.c.consumer == self.consumer_name,
                            inbox.c.event_id.in_([envelope.id for _, envelope in envelopes]),
                        )
                    )
                ).scalars()
            )
            for message, envelope in envelopes:
                if envelope.id in seen:
                    outcomes.append((envelope.type, "duplicate"))
                    continue
                seen.add(envelope.id)
                await session.execute(self._inbox_row(message, envelope))
                token = current_traceparent.set(envelope.traceparent)
                try:
                    await self.subscription.by_type[envelope.type](self.context, session, envelope)
                finally:
                    current_traceparent.reset(token)
                outcomes.append((envelope.type, "handled"))
        return outcomes

    def _inbox_row(self, message, envelope: Envelope):
        return self.tables.inbox.insert().values(
            consumer=self.consumer_name,
            event_id=envelope.id,
            source=envelope.source,
            event_type=envelope.type,
            topic=message.topic,
            received_at=utcnow(),
        )

    async def handle(self, message, dlq_producer: AIOKafkaProducer) -> str:
        """Handles one Kafka message; returns the outcome (handled, duplicate, ignored, dead-lettered)."""
        headers = dict(message.headers or ())
        event_type = headers.get("ce_type", b"").decode(errors="replace")
        if event_type and event_type not in self.subscription.by_type:
            return self._outcome(event_type, "ignored")  # another consumer's event on a shared topic
        try:
            envelope = decode(message.headers, message.value)
        except EventError as exc:
            log.error("consumer %s: rejected message %s@%s: %s", self.group_id, message.topic, message.offset, exc)
            await self._dead_letter(dlq_producer, message, f"undecodable: {exc}")
            return self._outcome(event_type or "unknown", "dead_lettered")

        handler = self.subscription.by_type[envelope.type]
        last_error: Exception | None = None
        for attempt in range(1, self.bus.consumer_max_attempts + 1):
            token = current_traceparent.set(envelope.traceparent)
            try:
                async with self.factory() as session, session.begin():
                    if await self._already_handled(session, envelope.id):
                        return self._outcome(envelope.type, "duplicate")
                    await session.execute(self._inbox_row(message, envelope))
                    await handler(self.context, session, envelope)
                return self._outcome(envelope.type, "handled")
            except asyncio.CancelledError:
                raise
            except PermanentError as exc:
                last_error = exc
                log.error("consumer %s: %s %s rejected: %s", self.group_id, envelope.type, envelope.id, exc)
                break
            except Exception as exc:
                last_error = exc
                log.warning(
                    "consumer %s: %s %s failed (attempt %d/%d): %r",
                    self.group_id, envelope.type, envelope.id, attempt, self.bus.consumer_max_attempts, exc,
                )
                await asyncio.sleep(self.bus.consumer_retry_backoff_s * 2 ** (attempt - 1))
            finally:
                current_traceparent.reset(token)
        await self._dead_letter(dlq_producer, message, f"{type(last_error).__name__}: {last_error}")
        return self._outcome(envelope.type, "dead_lettered")

    async def _already_handled(self, session: AsyncSession, event_id: str) -> bool:
        inbox = self.tables.inbox
        found = await session.execute(
            select(inbox.c.event_id).where(inbox.c.consumer == self.consumer_name, inbox.c.event_id == event_id)
        )
        return found.first() is not None

    async def _dead_letter(self, producer: AIOKafkaProducer, message, error: str) -> None:
        headers = list(message.headers or ()) + [
            ("pacte_dlq_error", error[:2000].encode()),
            ("pacte_dlq_topic", message.topic.encode()),
            ("pacte_dlq_partition", str(message.partition).encode()),
            ("pacte_dlq_offset", str(message.offset).encode()),
            ("pacte_dlq_group", self.group_id.encode()),
            ("pacte_dlq_time", utcnow().isoformat().encode()),
        ]
        await producer.send_and_wait(self.dlq_topic(message.topic), value=message.value, key=message.key, headers=headers)

    def _outcome(self, event_type: str, outcome: str) -> str:
        self.on_outcome(event_type, outcome)
        return outcome


async def replay_dead_letters(bus: BusSettings, dlq_topic: str, *, limit: int | None = None) -> int:
    """Operator command: re-publishes dead-lettered messages to their original topic.

    Every consumer of that topic sees them again; those that had handled them dedupe by inbox.
    The replay group's committed offset remembers what was already replayed.
    """
    consumer = new_consumer(bus, dlq_topic, group_id=f"{dlq_topic}.replay")
    producer = new_producer(bus)
    await consumer.start()
    await producer.start()
    replayed = 0
    try:
        while limit is None or replayed < limit:
            batch = await consumer.getmany(timeout_ms=1000)
            if not batch:
                break
            for partition, messages in batch.items():
                for message in messages:
                    headers = [(k, v) for k, v in message.headers if not k.startswith("pacte_dlq_")]
                    original = dict(message.headers)["pacte_dlq_topic"].decode()
                    await producer.send_and_wait(original, value=message.value, key=message.key, headers=headers)
                    replayed += 1
                await consumer.commit({partition: messages[-1].offset + 1})
    finally:
        await consumer.stop()
        await producer.stop()
    return replayed


__all__ = ["ConsumerRunner", "Handler", "PermanentError", "Subscription", "TopicPartition", "replay_dead_letters"]
