"""Transactional outbox and the relay that publishes it (docs/conventions.md §1.3).

`Outbox.publish(session, event, key=...)` writes the event in the caller's transaction, so
the state change and the event commit or roll back together. The relay publishes unsent
rows in id order (hence per key in order), retries with backoff while the broker is down,
marks rows sent and keeps them `outbox_retention_hours` so they can be sent again.
Several relays may run against one PostgreSQL: rows are claimed with FOR UPDATE SKIP
LOCKED and a key whose earlier rows another relay holds is left for later.

Broker incarnations (docs/runbook.md): on every (re)connection and every
`incarnation_check_interval_s`, the relay compares the broker's cluster id with the last one
it saw (stored in `bus_incarnations`, so a restarted service notices too) and checks that
the topics of its rows exist. A new incarnation, or topics gone, re-creates the topics and
re-queues every retained row in id order: no operator step; counted in `resyncs`.

A row that can never be sent (too large, topic that cannot be created) is marked failed
with its error; later rows of other keys go on, rows of the same key wait behind it until
an operator retries or discards it (`pacte bus outbox`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    PolicyViolationError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnsupportedForMessageFormatError,
)
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import (
    event as sa_event,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pacte_common.aio import wait_any
from pacte_common.bus import (
    CLUSTER_HEADER,
    backoff,
    current_cluster_id,
    describe_bus,
    ensure_topics,
    new_admin,
    new_consumer,
    new_producer,
    reported_end_offsets,
    topic_name,
)
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
            # v2 (migration_ops.add_messaging_v2): permanent failures and operator decisions
            Column("failed_at", UTCDateTime, nullable=True, index=True),
            Column("discarded_at", UTCDateTime, nullable=True),
            Column("discard_reason", Text, nullable=True),
        )
        # v3 (migration_ops.add_outbox_unsent_indexes): the rows still to send, alone in two
        # partial indexes, so a relay's claim and its per-key order check read the backlog's
        # head, not every unsent or retained row (docs/scaling.md, "The relay").
        unsent = _unsent(self.outbox)
        Index("ix_outbox_messages_unsent", self.outbox.c.id, postgresql_where=unsent, sqlite_where=unsent)
        Index("ix_outbox_messages_unsent_keys", self.outbox.c.message_key, self.outbox.c.id,
              postgresql_where=unsent, sqlite_where=unsent)
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
        # v2: the broker incarnation (cluster id) each bus component of the service last saw.
        self.bus_incarnations = Table(
            "bus_incarnations",
            metadata,
            Column("component", String(255), primary_key=True),
            Column("cluster_id", String(255), nullable=False),
            Column("seen_at", UTCDateTime, nullable=False),
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


# Errors that no retry can cure: the row is marked failed and waits for an operator.
PERMANENT_SEND_ERRORS = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
    PolicyViolationError,
    UnsupportedForMessageFormatError,
)


class IncarnationMemory:
    """The broker cluster id a component of this service last saw, kept in its database."""

    def __init__(self, factory: async_sessionmaker[AsyncSession], tables: MessagingTables, component: str):
        self.factory = factory
        self.table = tables.bus_incarnations
        self.component = component

    async def load(self) -> str | None:
        async with self.factory() as session:
            return (
                await session.execute(select(self.table.c.cluster_id).where(self.table.c.component == self.component))
            ).scalar_one_or_none()

    async def replace(self, expected: str | None, cluster_id: str) -> bool:
        """Compare-and-set: True if this caller moved the stored id from `expected` to `cluster_id`
        (so among several instances of a service, one only acts on a new incarnation)."""
        table = self.table
        async with self.factory() as session, session.begin():
            if expected is None:
                try:
                    async with session.begin_nested():
                        await session.execute(
                            table.insert().values(component=self.component, cluster_id=cluster_id, seen_at=utcnow())
                        )
                    return True
                except IntegrityError:
                    return False
            result = await session.execute(
                update(table)
                .where(table.c.component == self.component, table.c.cluster_id == expected)
                .values(cluster_id=cluster_id, seen_at=utcnow())
            )
            return bool(result.rowcount)


def _unsent(outbox: Table):
    return and_(outbox.c.published_at.is_(None), outbox.c.failed_at.is_(None), outbox.c.discarded_at.is_(None))


async def _blocking_rows(session: AsyncSession, outbox: Table) -> list[tuple[str, str, int]]:
    """(topic, key, id of its earliest failed row) for every key held behind a failed row."""
    return (
        await session.execute(
            select(outbox.c.topic, outbox.c.message_key, func.min(outbox.c.id))
            .where(outbox.c.failed_at.is_not(None), outbox.c.published_at.is_(None), outbox.c.discarded_at.is_(None))
            .group_by(outbox.c.topic, outbox.c.message_key)
        )
    ).all()


class OutboxRows:
    """The relay's reads and writes of the outbox table: claim a batch in order, mark it sent or
    failed, re-send what the broker lost, purge what is past retention."""

    def __init__(self, tables: MessagingTables, factory: async_sessionmaker[AsyncSession], *, is_postgres: bool,
                 retention: timedelta, batch_size: int):
        self.tables = tables
        self.factory = factory
        self.is_postgres = is_postgres
        self.retention = retention
        self.batch_size = batch_size
        self._last_purge: datetime | None = None
        # The last claim took a whole batch: more rows may be waiting right now.
        self.claimed_full = False

    async def topics(self) -> tuple[set[str], set[str]]:
        """(topics with retained sent rows, every topic with rows waiting or retained)."""
        outbox = self.tables.outbox
        async with self.factory() as session:
            rows = (
                await session.execute(
                    select(outbox.c.topic, func.count(outbox.c.published_at))
                    .where(outbox.c.discarded_at.is_(None))
                    .group_by(outbox.c.topic)
                )
            ).all()
        return {topic for topic, sent in rows if sent}, {topic for topic, _ in rows}

    async def requeue(self, topics: set[str] | None) -> int:
        outbox = self.tables.outbox
        query = update(outbox).where(
            outbox.c.published_at.is_not(None), outbox.c.published_at >= utcnow() - self.retention
        )
        if topics is not None:
            query = query.where(outbox.c.topic.in_(sorted(topics)))
        async with self.factory() as session, session.begin():
            return (await session.execute(query.values(published_at=None))).rowcount or 0

    async def claim(self, session: AsyncSession):
        outbox = self.tables.outbox
        # The partial index ix_outbox_messages_unsent gives the unsent rows in id order.
        query = select(outbox).where(_unsent(outbox)).order_by(outbox.c.id).limit(self.batch_size)
        # Later rows of a key wait behind its failed row (order); a correlated NOT EXISTS here
        # made SQLite scan every earlier unsent row for each row (quadratic in the backlog).
        for topic, key, first_failed in await _blocking_rows(session, outbox):
            query = query.where(~and_(outbox.c.topic == topic, outbox.c.message_key == key, outbox.c.id > first_failed))
        if self.is_postgres:
            query = query.with_for_update(of=outbox, skip_locked=True)
        rows = (await session.execute(query)).mappings().all()
        self.claimed_full = len(rows) >= self.batch_size
        if rows and self.is_postgres:
            rows = await self._drop_keys_held_elsewhere(session, rows)
        return rows

    async def mark(self, session: AsyncSession, sent: list[int], failed: list[tuple[dict, str]]) -> None:
        outbox = self.tables.outbox
        now = utcnow()
        if sent:
            await session.execute(
                update(outbox).where(outbox.c.id.in_(sent)).values(published_at=now, attempts=outbox.c.attempts + 1)
            )
        for row, error in failed:
            log.error(
                "outbox relay: event %s (%s, key %s) cannot be sent and is marked failed: %s",
                row["event_id"], row["event_type"], row["message_key"], error,
            )
            await session.execute(
                update(outbox)
                .where(outbox.c.id == row["id"])
                .values(failed_at=now, last_error=error[:2000], attempts=outbox.c.attempts + 1)
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
                .where(_unsent(outbox), outbox.c.message_key.in_({k for _, k in first_claimed}))
                .group_by(outbox.c.topic, outbox.c.message_key)
            )
        ).all()
        blocked = {(topic, key) for topic, key, min_id in earliest if min_id < first_claimed.get((topic, key), min_id)}
        return [row for row in rows if (row["topic"], row["message_key"]) not in blocked]

    async def purge_if_due(self) -> None:
        now = utcnow()
        if self._last_purge and now - self._last_purge < timedelta(minutes=10):
            return
        self._last_purge = now
        outbox = self.tables.outbox
        async with self.factory() as session, session.begin():
            await session.execute(
                delete(outbox).where(
                    or_(
                        and_(outbox.c.published_at.is_not(None), outbox.c.published_at < now - self.retention),
                        and_(outbox.c.discarded_at.is_not(None), outbox.c.discarded_at < now - self.retention),
                    )
                )
            )


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        engine: AsyncEngine,
        factory: async_sessionmaker[AsyncSession],
        retention: timedelta,
        on_published=None,
        on_resync=None,
    ):
        self.outbox = outbox
        self.tables = outbox.tables
        self.bus = outbox.bus
        self.factory = factory
        self.is_postgres = engine.dialect.name == "postgresql"
        self.on_published = on_published or (lambda count: None)
        self.on_resync = on_resync or (lambda reason: None)
        self.connected = False
        self.cluster_id: str | None = None
        self.resyncs = 0
        self.failed_rows = 0  # rows this relay marked failed since it started
        self.rows = OutboxRows(self.tables, factory, is_postgres=self.is_postgres, retention=retention,
                               batch_size=self.bus.relay_batch_size)
        self.incarnation = IncarnationMemory(factory, self.tables, "outbox-relay")
        self._admin = None
        self._ends_reader = None  # a consumer without a group, for the periodic look at the partitions' ends
        self._published_end: dict[tuple[str, int], int] = {}  # (topic, partition) -> offset after ours
        self._regressed: set[str] = set()
        self._known_topics: set[str] = set()
        self._unroutable: dict[str, str] = {}  # topic -> why it cannot be created
        self._last_check = 0.0
        self._delay = backoff(0.1, self.bus.relay_max_backoff_s)

    async def run(self, stop: asyncio.Event) -> None:
        producer = None
        failures = 0
        while not stop.is_set():
            try:
                if producer is None:
                    producer = new_producer(self.bus)
                    await self._bounded(producer.start(), "starting the producer")
                    self._admin = new_admin(self.bus)
                    await self._bounded(self._admin.start(), "starting the admin client")
                    await self._bounded(self.check_incarnation(), "looking at the broker")
                    self.connected = True
                elif time.monotonic() - self._last_check >= self.bus.incarnation_check_interval_s:
                    await self._bounded(self.check_incarnation(), "looking at the broker")
                published = await self._bounded(self.publish_batch(producer), "sending a batch")
                failures = 0
                await self.rows.purge_if_due()
                # A batch smaller than the limit took every row there was: claiming again at once
                # would find nothing (a claim's statements for each event, when events come one at
                # a time); a commit meanwhile has set the wake-up, so it is not waited for.
                if published == 0 or not self.rows.claimed_full:
                    await wait_any(stop, self.outbox.wakeup, timeout=self.bus.relay_poll_interval_s)
                    self.outbox.wakeup.clear()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self.connected = False
                log.warning("outbox relay: publish failed (attempt %d): %r", failures, exc)
                if producer is not None:
                    await _quietly(producer.stop())
                    producer = None
                await self._close_clients()
                await wait_any(stop, timeout=self._delay(failures))
        if producer is not None:
            await _quietly(producer.stop())
        await self._close_clients()

    async def _bounded(self, step, what: str):
        """`step`, abandoned past `relay_step_timeout_s`: a broker killed while a batch was in
        flight once left the relay waiting for ever on an answer that never came, its events
        unsent and no error said (rows not marked sent are sent again: the inbox dedupes)."""
        try:
            return await asyncio.wait_for(step, self.bus.relay_step_timeout_s)
        except TimeoutError:
            log.error("outbox relay: %s did not end within %.0f s; starting again with a new producer",
                      what, self.bus.relay_step_timeout_s)
            raise

    async def _close_clients(self) -> None:
        if self._admin is not None:
            await _quietly(self._admin.close())
            self._admin = None
        if self._ends_reader is not None:
            await _quietly(self._ends_reader.stop())
            self._ends_reader = None

    async def _still_same_incarnation(self) -> bool:
        """Checked after every batch is acknowledged: a batch that reached a broker which
        restarted empty while it was in flight is not marked sent — it carries the old cluster
        id, consumers skip it, and it is sent again, in order, after the resync."""
        if self._admin is None or await current_cluster_id(self._admin) == self.cluster_id:
            return True
        await self.check_incarnation()
        return False

    async def check_incarnation(self) -> str | None:
        """Compares the broker with what this service last saw; re-sends the retained outbox
        when the broker is a new incarnation or lost topics. Returns the reason if it did."""
        view = await describe_bus(self.bus, self._admin)
        self._last_check = time.monotonic()
        sent_topics, all_topics = await self.rows.topics()
        stored = await self.incarnation.load()
        reason, requeue_topics = None, None
        if view.cluster_id and stored != view.cluster_id:
            won = await self.incarnation.replace(stored, view.cluster_id)
            if stored is not None and won:
                reason = f"new broker incarnation (cluster id {stored} -> {view.cluster_id})"
        lost = sent_topics - view.topics
        if reason is None and lost:
            reason, requeue_topics = f"topics missing on the broker: {', '.join(sorted(lost))}", lost
        if reason is None:
            truncated = await self._truncated_topics(view.topics)
            if truncated:
                reason = f"topics emptied or re-created under us: {', '.join(sorted(truncated))}"
                requeue_topics = truncated
        missing = all_topics - view.topics
        if missing:
            await self._create(missing)
        self._known_topics = set(view.topics) | (missing - set(self._unroutable))
        self.cluster_id = view.cluster_id
        if reason:
            self._regressed = set()
            self._published_end = {
                tp: end for tp, end in self._published_end.items() if requeue_topics and tp[0] not in requeue_topics
            }
            count = await self.rows.requeue(requeue_topics)
            self.resyncs += 1
            log.warning("outbox relay: %s; re-sending %d retained event(s) in order", reason, count)
            self.on_resync(reason)
        return reason

    async def _truncated_topics(self, existing: frozenset[str]) -> set[str]:
        """Topics deleted and re-created (by a consumer, say) between two checks: a partition we
        published to is empty again, or a send came back at an offset below one we had."""
        found, self._regressed = self._regressed, set()
        topics = {topic for topic, _ in self._published_end} & existing
        if topics:
            # Only "empty" is trusted: Tansu reports the last batch's base offset + 1 as the end.
            if self._ends_reader is None:
                reader = new_consumer(self.bus, group_id=None)
                await reader.start()
                self._ends_reader = reader
            ends = await reported_end_offsets(self.bus, topics, self._ends_reader)
            found |= {tp.topic for tp, end in ends.items() if end == 0 and self._published_end.get((tp.topic, tp.partition))}
        return found

    async def _create(self, topics: set[str]) -> None:
        try:
            await ensure_topics(self.bus, topics)
        except PERMANENT_SEND_ERRORS as exc:
            log.error("outbox relay: cannot create topics %s: %r", sorted(topics), exc)
        now = await describe_bus(self.bus, self._admin)
        for topic in topics - now.topics:
            self._unroutable[topic] = f"topic {topic} does not exist and the broker refused to create it"
        for topic in topics & now.topics:
            self._unroutable.pop(topic, None)

    async def publish_batch(self, producer) -> int:
        """Sends one batch; returns how many rows were handled (sent or marked failed)."""
        if self.is_postgres:
            # Claimed rows stay locked while they are sent, so a second relay skips them.
            async with self.factory() as session, session.begin():
                rows = await self.rows.claim(session)
                if not rows:
                    return 0
                sent, failed, transient = await self._send(producer, rows)
                if sent and not await self._still_same_incarnation():
                    sent = []
                await self.rows.mark(session, sent, failed)
                self.failed_rows += len(failed)
        else:
            # SQLite has one writer: never hold its lock while waiting on the broker.
            async with self.factory() as session, session.begin():
                rows = await self.rows.claim(session)
            if not rows:
                return 0
            sent, failed, transient = await self._send(producer, rows)
            if sent and not await self._still_same_incarnation():
                sent = []
            if sent or failed:
                async with self.factory() as session, session.begin():
                    await self.rows.mark(session, sent, failed)
                self.failed_rows += len(failed)
        if sent:
            self.on_published(len(sent))
        if self._regressed:
            await self.check_incarnation()
        if transient is not None:
            raise transient
        return len(sent) + len(failed)

    async def _send(self, producer, rows):
        """Sends rows in order; returns (sent ids, [(row, error)] failed for good, transient error)."""
        unknown = {row["topic"] for row in rows} - self._known_topics - set(self._unroutable)
        if unknown:
            await self._create(unknown)
            self._known_topics |= unknown - set(self._unroutable)
        blocked: set[tuple[str, str]] = set()
        failed: list[tuple[dict, str]] = []
        incarnation = [(CLUSTER_HEADER, self.cluster_id.encode())] if self.cluster_id else []
        in_flight = []
        for row in rows:
            key = (row["topic"], row["message_key"])
            if key in blocked:
                continue  # waits behind an earlier row of its key
            if row["topic"] in self._unroutable:
                failed.append((row, self._unroutable[row["topic"]]))
                blocked.add(key)
                continue
            headers = [(name, value.encode()) for name, value in row["headers"]] + incarnation
            try:
                future = await producer.send(
                    row["topic"], value=row["body"].encode(), key=row["message_key"].encode(), headers=headers
                )
            except PERMANENT_SEND_ERRORS as exc:
                failed.append((row, f"{type(exc).__name__}: {exc}"))
                blocked.add(key)
                continue
            in_flight.append((row, future))
        results = await asyncio.gather(*(future for _, future in in_flight), return_exceptions=True)
        sent, transient = [], None
        for (row, _), result in zip(in_flight, results, strict=True):
            if isinstance(result, PERMANENT_SEND_ERRORS):
                failed.append((row, f"{type(result).__name__}: {result}"))
            elif isinstance(result, BaseException):
                transient = transient or result
            else:
                sent.append(row["id"])
                position = (result.topic, result.partition)
                if result.offset < self._published_end.get(position, 0):
                    self._regressed.add(result.topic)  # the partition restarted under us
                self._published_end[position] = max(self._published_end.get(position, 0), result.offset + 1)
        return sent, failed, transient

async def replay_outbox(factory: async_sessionmaker[AsyncSession], tables: MessagingTables, since: datetime) -> int:
    """Operator command: marks rows published since `since` unsent, so the relay sends them again."""
    outbox = tables.outbox
    async with factory() as session, session.begin():
        result = await session.execute(
            update(outbox).where(outbox.c.published_at >= since).values(published_at=None)
        )
        return result.rowcount or 0


async def pending_count(factory: async_sessionmaker[AsyncSession], tables: MessagingTables) -> int:
    """Rows waiting for the broker (failed rows not included: see `outbox_stats`)."""
    async with factory() as session:
        return (await session.execute(select(func.count()).select_from(tables.outbox).where(_unsent(tables.outbox)))).scalar_one()


@dataclass(frozen=True)
class OutboxStats:
    backlog: int  # rows waiting to be sent
    oldest_unsent_age_s: float | None  # age of the oldest of them
    failed: int  # rows marked failed, waiting for an operator


async def outbox_stats(factory: async_sessionmaker[AsyncSession], tables: MessagingTables) -> OutboxStats:
    outbox = tables.outbox
    async with factory() as session:
        backlog, oldest = (
            await session.execute(select(func.count(), func.min(outbox.c.created_at)).where(_unsent(outbox)))
        ).one()
        failed = (
            await session.execute(
                select(func.count()).where(
                    outbox.c.failed_at.is_not(None), outbox.c.published_at.is_(None), outbox.c.discarded_at.is_(None)
                )
            )
        ).scalar_one()
    if isinstance(oldest, str):  # SQLite returns MIN() of a custom type untyped
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    age = (utcnow() - oldest).total_seconds() if oldest is not None else None
    return OutboxStats(backlog=backlog, oldest_unsent_age_s=age, failed=failed)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    event_id: str
    event_type: str
    topic: str
    message_key: str
    created_at: datetime
    published_at: datetime | None
    failed_at: datetime | None
    discarded_at: datetime | None
    attempts: int
    last_error: str | None
    discard_reason: str | None

    @property
    def state(self) -> str:
        if self.discarded_at:
            return "discarded"
        if self.published_at:
            return "sent"
        return "failed" if self.failed_at else "waiting"


async def list_outbox(
    factory: async_sessionmaker[AsyncSession], tables: MessagingTables, *, failed_only: bool = False, limit: int = 100
) -> list[OutboxRow]:
    """Operator view: failed rows (with why), or the unsent and failed ones, oldest first."""
    outbox = tables.outbox
    columns = [outbox.c[name] for name in OutboxRow.__dataclass_fields__]
    query = select(*columns).where(outbox.c.published_at.is_(None), outbox.c.discarded_at.is_(None))
    if failed_only:
        query = query.where(outbox.c.failed_at.is_not(None))
    async with factory() as session:
        rows = (await session.execute(query.order_by(outbox.c.id).limit(limit))).mappings().all()
    return [OutboxRow(**row) for row in rows]


class OutboxRowNotFailed(LookupError):
    """The row does not exist or is not a failed, unsent row."""


async def retry_failed(factory: async_sessionmaker[AsyncSession], tables: MessagingTables, row_id: int) -> None:
    """Operator: sends a failed row again (its key's later rows follow it)."""
    outbox = tables.outbox
    async with factory() as session, session.begin():
        result = await session.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.failed_at.is_not(None), outbox.c.published_at.is_(None),
                   outbox.c.discarded_at.is_(None))
            .values(failed_at=None)
        )
    if not result.rowcount:
        raise OutboxRowNotFailed(row_id)


async def discard_failed(
    factory: async_sessionmaker[AsyncSession], tables: MessagingTables, row_id: int, reason: str
) -> None:
    """Operator: gives up a failed row for the recorded reason; its key's later rows go on."""
    if not reason.strip():
        raise ValueError("a reason is required to discard an event")
    outbox = tables.outbox
    async with factory() as session, session.begin():
        result = await session.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.failed_at.is_not(None), outbox.c.published_at.is_(None),
                   outbox.c.discarded_at.is_(None))
            .values(discarded_at=utcnow(), discard_reason=reason)
        )
    if not result.rowcount:
        raise OutboxRowNotFailed(row_id)


async def _quietly(awaitable, timeout_s: float = 10.0) -> None:
    """Closing a client: its errors are not ours, and a client stuck on a dead broker is let go."""
    try:
        await asyncio.wait_for(awaitable, timeout_s)
    except Exception:
        pass
