"""Transactional outbox and the relay that publishes it (DESIGN.md §4).

`Outbox.publish(session, event, key=...)` writes the event in the caller's transaction, so
the state change and the event commit or roll back together. The relay publishes unsent
rows in id order (hence per key in order), retries with backoff while the broker is down,
marks rows sent and keeps them `outbox_retention_hours` so an operator can replay them.
Several relays may run against one PostgreSQL: rows are claimed with FOR UPDATE SKIP
LOCKED and a key whose earlier rows another relay holds is left for later.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    select,
    update,
)
from sqlalchemy import (
    event as sa_event,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pacte_common.aio import wait_any
from pacte_common.bus import new_producer, topic_name
from pacte_common.db import UTCDateTime, utcnow
from pacte_common.events import Envelope, IntegrationEvent
from pacte_common.settings import BusSettings
from pacte_common.tracing import adopt_trace, child_traceparent, current_traceparent

log = logging.getLogger(__name__)

_BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only


class MessagingTables:
    """The outbox, inbox and idempotency tables, declared on a service's own MetaData."""

    def __init__(self, metadata: MetaData):
        self.outbox = Table(
            "outbox_messages",
            metadata,
            Column("id", _BigId, primary_key=True, autoincrement=True),
            Column("event_id", String(64), nullable=False, unique=True),
            Column("topic", String(255), nullable=False),
            Column("message_key", String(255), nullable=False),
            Column("event_type", String(255), nullable=False),
            Column("headers", JSON, nullable=False),
            Column("body", Text, nullable=False),
            Column("created_at", UTCDateTime, nullable=False),
            Column("published_at", UTCDateTime, nullable=True, index=True),
            Column("attempts", Integer, nullable=False, default=0),
            Column("last_error", Text, nullable=True),
        )
        self.inbox = Table(
            "inbox_messages",
            metadata,
            Column("consumer", String(255), nullable=False),
            Column("event_id", String(64), nullable=False),
            Column("source", String(255), nullable=False),
            Column("event_type", String(255), nullable=False),
            Column("topic", String(255), nullable=False),
            Column("received_at", UTCDateTime, nullable=False),
            PrimaryKeyConstraint("consumer", "event_id"),
        )
        self.idempotency = Table(
            "idempotency_keys",
            metadata,
            Column("scope", String(255), nullable=False),
            Column("idempotency_key", String(255), nullable=False),
            Column("request_hash", String(64), nullable=False),
            Column("status_code", Integer, nullable=False),
            Column("response_body", JSON, nullable=False),
            Column("resource_location", String(500), nullable=True),
            Column("created_at", UTCDateTime, nullable=False, index=True),
            PrimaryKeyConstraint("scope", "idempotency_key"),
        )


class Outbox:
    def __init__(self, tables: MessagingTables, source: str, bus: BusSettings):
        self.tables = tables
        self.source = source
        self.bus = bus
        self.wakeup = asyncio.Event()

    async def publish(
        self, session: AsyncSession, event: IntegrationEvent, *, key: str, subject: str | None = None
    ) -> Envelope:
        """Adds the event to the caller's transaction; it leaves when that transaction commits."""
        return (await self.publish_many(session, [(event, key, None)]))[0]

    async def publish_many(
        self, session: AsyncSession, events: list[tuple[IntegrationEvent, str, str | None]]
    ) -> list[Envelope]:
        """Adds many events in one INSERT (bulk work such as a back-fill batch).

        Each item is (event, key, traceparent of its aggregate or None); with None the event
        continues the current trace, if any.
        """
        envelopes, rows = [], []
        for event, key, aggregate_traceparent in events:
            with adopt_trace(aggregate_traceparent):
                traceparent = child_traceparent() if current_traceparent.get() else None
            envelope = Envelope.wrap(event, source=self.source, subject=key, traceparent=traceparent)
            envelopes.append(envelope)
            rows.append(
                dict(
                    event_id=envelope.id,
                    topic=topic_name(self.bus, event.topic),
                    message_key=key,
                    event_type=envelope.type,
                    headers=[[name, value.decode()] for name, value in envelope.headers()],
                    body=envelope.body().decode(),
                    created_at=utcnow(),
                    attempts=0,
                )
            )
        if not rows:
            return envelopes
        await session.execute(self.tables.outbox.insert(), rows)
        if not session.info.get("outbox_listener"):
            session.info["outbox_listener"] = True
            sa_event.listen(session.sync_session, "after_commit", self._after_commit, once=True)
        return envelopes

    def _after_commit(self, sync_session) -> None:
        sync_session.info.pop("outbox_listener", None)
        self.wakeup.set()


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        engine: AsyncEngine,
        factory: async_sessionmaker[AsyncSession],
        retention: timedelta,
        on_published=None,
    ):
        self.outbox = outbox
        self.tables = outbox.tables
        self.bus = outbox.bus
        self.factory = factory
        self.is_postgres = engine.dialect.name == "postgresql"
        self.retention = retention
        self.on_published = on_published or (lambda count: None)
        self.connected = False
        self._last_purge: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        producer = None
        failures = 0
        while not stop.is_set():
            try:
                if producer is None:
                    producer = new_producer(self.bus)
                    await producer.start()
                    self.connected = True
                published = await self.publish_batch(producer)
                failures = 0
                await self._purge_if_due()
                if published == 0:
                    await wait_any(stop, self.outbox.wakeup, timeout=self.bus.relay_poll_interval_s)
                    self.outbox.wakeup.clear()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self.connected = False
                log.warning("outbox relay: publish failed (attempt %d): %s", failures, exc)
                if producer is not None:
                    await _quietly(producer.stop())
                    producer = None
                delay = min(self.bus.relay_max_backoff_s, 0.1 * 2**failures) * random.uniform(0.5, 1.0)
                await wait_any(stop, timeout=delay)
        if producer is not None:
            await _quietly(producer.stop())

    async def publish_batch(self, producer) -> int:
        if self.is_postgres:
            # Claimed rows stay locked while they are sent, so a second relay skips them.
            async with self.factory() as session, session.begin():
                rows = await self._claim(session)
                if rows:
                    await self._send(producer, rows)
                    await self._mark_published(session, rows)
        else:
            # SQLite has one writer: never hold its lock while waiting on the broker.
            async with self.factory() as session, session.begin():
                rows = await self._claim(session)
            if rows:
                await self._send(producer, rows)
                async with self.factory() as session, session.begin():
                    await self._mark_published(session, rows)
        if rows:
            self.on_published(len(rows))
        return len(rows)

    async def _claim(self, session: AsyncSession):
        outbox = self.tables.outbox
        query = (
            select(outbox)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.id)
            .limit(self.bus.relay_batch_size)
        )
        if self.is_postgres:
            query = query.with_for_update(skip_locked=True)
        rows = (await session.execute(query)).mappings().all()
        if rows and self.is_postgres:
            rows = await self._drop_keys_held_elsewhere(session, rows)
        return rows

    async def _send(self, producer, rows) -> None:
        futures = []
        for row in rows:
            headers = [(name, value.encode()) for name, value in row["headers"]]
            futures.append(
                await producer.send(
                    row["topic"], value=row["body"].encode(), key=row["message_key"].encode(), headers=headers
                )
            )
        await asyncio.gather(*futures)

    async def _mark_published(self, session: AsyncSession, rows) -> None:
        outbox = self.tables.outbox
        await session.execute(
            update(outbox)
            .where(outbox.c.id.in_([row["id"] for row in rows]))
            .values(published_at=utcnow(), attempts=outbox.c.attempts + 1)
        )

    async def _drop_keys_held_elsewhere(self, session: AsyncSession, rows):
        """Per-key order across relays: skip a key whose earliest unsent row we did not claim."""
        outbox = self.tables.outbox
        first_claimed: dict[tuple[str, str], int] = {}
        for row in rows:
            first_claimed.setdefault((row["topic"], row["message_key"]), row["id"])
        earliest = (
            await session.execute(
                select(outbox.c.topic, outbox.c.message_key, func.min(outbox.c.id))
                .where(outbox.c.published_at.is_(None), outbox.c.message_key.in_({k for _, k in first_claimed}))
                .group_by(outbox.c.topic, outbox.c.message_key)
            )
        ).all()
        blocked = {(topic, key) for topic, key, min_id in earliest if min_id < first_claimed.get((topic, key), min_id)}
        return [row for row in rows if (row["topic"], row["message_key"]) not in blocked]

    async def _purge_if_due(self) -> None:
        now = utcnow()
        if self._last_purge and now - self._last_purge < timedelta(minutes=10):
            return
        self._last_purge = now
        outbox = self.tables.outbox
        async with self.factory() as session, session.begin():
            await session.execute(
                delete(outbox).where(and_(outbox.c.published_at.is_not(None), outbox.c.published_at < now - self.retention))
            )


async def replay_outbox(factory: async_sessionmaker[AsyncSession], tables: MessagingTables, since: datetime) -> int:
    """Operator command: marks rows published since `since` unsent, so the relay sends them again."""
    outbox = tables.outbox
    async with factory() as session, session.begin():
        result = await session.execute(
            update(outbox).where(outbox.c.published_at >= since).values(published_at=None)
        )
        return result.rowcount or 0


async def pending_count(factory: async_sessionmaker[AsyncSession], tables: MessagingTables) -> int:
    async with factory() as session:
        return (
            await session.execute(select(func.count()).select_from(tables.outbox).where(tables.outbox.c.published_at.is_(None)))
        ).scalar_one()


async def _quietly(awaitable) -> None:
    try:
        await awaitable
    except Exception:
        pass
