"""Kafka connectivity through aiokafka only, so Tansu (embedded) and Apache Kafka are alike.

Tansu constraints (docs/conventions.md §3) shape the defaults: acks="all", no idempotent producer,
`earliest` plus committed offsets, topics created explicitly with their partition count.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

import tenacity
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    NotCoordinatorForGroupError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from sqlalchemy import exc as sa_exc

from pacte_common.settings import BusSettings

log = logging.getLogger(__name__)


# Header with the broker incarnation (cluster id) the relay believed it was sending to. A message
# whose header names another incarnation than the broker it sits on was sent by a relay that had
# not yet noticed a broker restart: consumers skip it, the relay sends it again in order.
CLUSTER_HEADER = "pacte_cluster_id"


def topic_name(settings: BusSettings, topic: str) -> str:
    return f"{settings.topic_namespace}{topic}"


def new_producer(settings: BusSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        request_timeout_ms=settings.request_timeout_ms,
        max_batch_size=1024 * 1024,
    )


def new_consumer(settings: BusSettings, *topics: str, group_id: str | None, **overrides) -> AIOKafkaConsumer:
    options = dict(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        request_timeout_ms=max(settings.request_timeout_ms, 40_000),
        session_timeout_ms=settings.consumer_session_timeout_ms,
        # a sixth (Kafka's default is a third): a dead member is seen at most a sixth later
        heartbeat_interval_ms=settings.consumer_session_timeout_ms // 6,
        max_poll_records=500,
    )
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


async def ensure_topics(settings: BusSettings, topics: Iterable[str], partitions: int | None = None) -> None:
    """Creates the missing topics (full names) with a fixed partition count."""
    wanted = list(dict.fromkeys(topics))
    if not wanted:  # the consumers' periodic checks mostly want none: no client opened for nothing
        return
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=settings.request_timeout_ms
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return
        try:
            await admin.create_topics(
                [NewTopic(t, partitions or settings.topic_partitions, 1) for t in missing]
            )
        except TopicAlreadyExistsError:
            pass  # another service created it meanwhile
        log.info("created topics %s", ", ".join(missing))
    finally:
        await admin.close()


async def broker_reachable(settings: BusSettings, timeout_s: float = 2.0) -> bool:
    """Readiness probe: a metadata round trip to the bootstrap servers."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.list_topics(), timeout_s)
        return True
    except Exception:
        return False
    finally:
        try:
            await admin.close()
        except Exception:
            pass


def new_admin(settings: BusSettings, timeout_ms: int | None = None) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=timeout_ms or settings.request_timeout_ms
    )


@dataclass(frozen=True)
class ClusterView:
    """What the broker says it is now: its incarnation (cluster id) and its topics."""

    cluster_id: str | None
    topics: frozenset[str]


async def describe_bus(settings: BusSettings, admin: AIOKafkaAdminClient | None = None) -> ClusterView:
    """The cluster id and topic names, in one metadata round trip (raises if unreachable)."""
    own = admin is None
    admin = admin or new_admin(settings)
    if own:
        await admin.start()
    try:
        metadata = (await admin._get_cluster_metadata()).to_object()  # one request for both
        return ClusterView(metadata.get("cluster_id"), frozenset(t["topic"] for t in metadata["topics"]))
    finally:
        if own:
            await admin.close()


async def end_offsets(settings: BusSettings, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """End offset (the offset after the last message) of every partition of the given topics
    that exist (full names), as read (`read_ends`): for a reader that stops at the end."""
    return await _ends(settings, topics, read=True)


async def reported_end_offsets(settings: BusSettings, topics: Iterable[str],
                               reader: AIOKafkaConsumer | None = None) -> dict[TopicPartition, int]:
    """The same partitions with the ends the broker reports: enough to list the partitions or to
    tell an empty one (0 is reported right), never to stop reading at (docs/runbook.md, "The
    broker's watermark"). `reader`, a started consumer without a group, is used if given (a
    periodic check keeps one open rather than connecting anew each time)."""
    return await _ends(settings, topics, read=False, reader=reader)


async def _ends(settings: BusSettings, topics: Iterable[str], *, read: bool,
                reader: AIOKafkaConsumer | None = None) -> dict[TopicPartition, int]:
    consumer = reader or new_consumer(settings, group_id=None)
    if reader is None:
        await consumer.start()
    try:
        partitions = []
        for topic in topics:
            for partition in sorted(consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)):
                partitions.append(TopicPartition(topic, partition))
        if not partitions:
            return {}
        return await read_ends(consumer, partitions) if read else await consumer.end_offsets(partitions)
    finally:
        if reader is None:
            await consumer.stop()


READ_ENDS_TIMEOUT_S = 5.0


async def read_ends(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The end (the offset after the last message) of each partition, found by reading its last
    batch. The embedded Tansu reports a partition's high watermark as its last batch's base
    offset + 1: after a batch of five messages at offsets 0-4 it says 1, and a reader stopping
    there misses four (docs/runbook.md, "The broker's watermark"). The last batch starts at or
    before the reported end - 1, so the end is one past the last offset read from there.
    `consumer` has no group; it is assigned these partitions for the reading."""
    ends = dict(await consumer.end_offsets(partitions))
    to_read = {tp: end - 1 for tp, end in ends.items() if end > 0}
    if not to_read:
        return ends
    consumer.assign(list(to_read))
    for tp, offset in to_read.items():
        consumer.seek(tp, offset)
    deadline = time.monotonic() + READ_ENDS_TIMEOUT_S  # a partition written all along ends somewhere
    while time.monotonic() < deadline:
        batch = await consumer.getmany(*to_read, timeout_ms=500)
        if not batch:  # nothing after the positions reached: they are the ends
            break
        for tp, messages in batch.items():
            ends[tp] = max(ends[tp], messages[-1].offset + 1)
    return ends


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client._wait_on_metadata(topic)  # noqa: SLF001 - refreshes metadata for one topic
    return consumer.partitions_for_topic(topic) or set()


async def group_offsets(
    settings: BusSettings, group_id: str, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    """Committed offsets of a consumer group on the given partitions (those it committed).

    The partitions are always named: an OffsetFetch for "every partition of the group" (null
    topics) makes Tansu answer a response aiokafka cannot decode (struct error)."""
    wanted = sorted(set(partitions))
    if not wanted:
        return {}
    admin = new_admin(settings)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(group_id, partitions=wanted)
        return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}
    finally:
        await admin.close()


_TRANSIENT_KAFKA = (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    NotCoordinatorForGroupError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
    UnknownTopicOrPartitionError,
)


def is_transient(error: BaseException) -> bool:
    """Failures that go away by themselves: database unavailable, locked or failed over,
    connection lost, broker timeouts. Retried for as long as it takes, never dead-lettered."""
    for candidate in _causes(error):
        if isinstance(candidate, sa_exc.DBAPIError) and candidate.connection_invalidated:
            return True
        if isinstance(
            candidate,
            (
                sa_exc.OperationalError,  # SQLite "database is locked", PostgreSQL unreachable
                sa_exc.InterfaceError,
                sa_exc.TimeoutError,  # connection pool exhausted
                sa_exc.DisconnectionError,
                sqlite3.OperationalError,
                ConnectionError,
                TimeoutError,
                asyncio.TimeoutError,
                OSError,
                *_TRANSIENT_KAFKA,
            ),
        ):
            return True
        if _is_transient_asyncpg(candidate) or _is_transient_sqlstate(candidate):
            return True
    return False


def _causes(error: BaseException):
    """The error, the driver error SQLAlchemy wrapped, and their causes."""
    seen, todo = set(), [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.append(current.__cause__)
        todo.append(getattr(current, "orig", None))


# PostgreSQL SQLSTATE classes that say "try again later": connection exception, transaction
# rollback (serialization, deadlock), insufficient resources, operator intervention (admin
# shutdown, cannot connect now), system error.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57", "58")


def _is_transient_sqlstate(error: BaseException) -> bool:
    state = getattr(error, "sqlstate", None)
    if not isinstance(state, str):
        return False
    if state.startswith(_TRANSIENT_SQLSTATE_CLASSES) or state == "55P03":  # lock not available
        return True
    # a database closed to connections (ALLOW_CONNECTIONS false) during maintenance or failover
    return state == "55000" and "not currently accepting connections" in str(error)


def _is_transient_asyncpg(error: BaseException) -> bool:
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - SQLite-only installation
        return False
    return isinstance(
        error,
        (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.CannotConnectNowError,
            asyncpg.TooManyConnectionsError,
            asyncpg.SerializationError,
            asyncpg.DeadlockDetectedError,
            asyncpg.AdminShutdownError,
            asyncpg.CrashShutdownError,
        ),
    )


def backoff(initial_s: float, cap_s: float):
    """attempt number (1, 2, …) -> seconds to wait: tenacity's capped exponential with jitter."""
    strategy = tenacity.wait_exponential_jitter(initial=initial_s, max=cap_s, jitter=initial_s)

    def delay(attempt: int) -> float:
        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
        state.attempt_number = max(1, attempt)
        return min(cap_s, strategy(state))

    return delay


async def current_cluster_id(admin: AIOKafkaAdminClient) -> str | None:
    """The broker's cluster id, by a metadata request for no topic (cheap enough per batch)."""
    return (await admin._get_cluster_metadata(topics=[])).to_object().get("cluster_id")  # noqa: SLF001
