"""Kafka connectivity through aiokafka only, so Tansu (embedded) and Apache Kafka are alike.

Tansu constraints (DESIGN.md §3) shape the defaults: acks="all", no idempotent producer,
`earliest` plus committed offsets, topics created explicitly with their partition count.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from pacte_common.settings import BusSettings

log = logging.getLogger(__name__)


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
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
        max_poll_records=500,
    )
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


async def ensure_topics(settings: BusSettings, topics: Iterable[str], partitions: int | None = None) -> None:
    """Creates the missing topics (full names) with a fixed partition count."""
    wanted = list(dict.fromkeys(topics))
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
