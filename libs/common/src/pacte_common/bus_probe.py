"""What `/health/status` reads from the broker, through clients kept open between reads.

Opening an admin client and two consumers per read (as before) cost a handful of round trips
and a metadata fetch of every topic each time; the probe keeps one admin client and one
group-less consumer, refreshes metadata once per read, and drops both on any error (the next
read reconnects). Committed offsets are read with OffsetFetch naming the partitions (Tansu
cannot answer the "every partition" form, see bus.group_offsets).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from pacte_common.bus import new_admin, new_consumer
from pacte_common.settings import BusSettings

log = logging.getLogger(__name__)


class BusProbe:
    def __init__(self, bus: BusSettings, timeout_s: float):
        self.bus = bus
        self.timeout_s = timeout_s
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer = None
        self._lock = asyncio.Lock()

    async def read(self, runners: Sequence[Any]) -> dict:
        """Broker, consumer lag per partition and dead letters per topic (see service.py)."""
        async with self._lock:
            try:
                async with asyncio.timeout(self.timeout_s * 3):
                    return await self._read(runners)
            except Exception as exc:
                await self.close()
                return {
                    "broker": {"reachable": False, "error": f"{type(exc).__name__}: {exc}"[:200]},
                    "consumers": [
                        {"name": r.consumer_name, "group": r.group_id, "connected": r.connected} for r in runners
                    ],
                }

    async def _clients(self):
        if self._admin is None:
            timeout_ms = int(self.timeout_s * 1000)
            admin, consumer = new_admin(self.bus, timeout_ms), new_consumer(self.bus, group_id=None, request_timeout_ms=timeout_ms)
            try:
                await admin.start()
                await consumer.start()
            except Exception:
                await _close(admin, consumer)
                raise
            self._admin, self._consumer = admin, consumer
        return self._admin, self._consumer

    async def _read(self, runners: Sequence[Any]) -> dict:
        admin, consumer = await self._clients()
        cluster = await admin.describe_cluster()
        await consumer._client.force_metadata_update()  # noqa: SLF001 - topics created since the last read
        consumers = [await self._lag(admin, consumer, runner) for runner in runners]
        dlq_topics = [runner.dlq_topic(t) for runner in runners for t in runner.topics]
        return {
            "broker": {"reachable": True, "cluster_id": cluster.get("cluster_id")},
            "consumers": consumers,
            "dead_letters": await _depths(consumer, dlq_topics),
        }

    async def _lag(self, admin, consumer, runner) -> dict:
        partitions = _partitions(consumer, runner.topics)
        lag = {}
        if partitions:
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(runner.group_id, partitions=partitions)
            for tp in partitions:
                meta = committed.get(tp)
                position = meta.offset if meta is not None and meta.offset >= 0 else starts[tp]
                lag[f"{tp.topic}:{tp.partition}"] = max(ends[tp] - position, 0)
        return {
            "name": runner.consumer_name,
            "group": runner.group_id,
            "connected": runner.connected,
            "cluster_id": runner.cluster_id,
            "resyncs": runner.resyncs,
            "transient_retries": runner.transient_retries,
            "lag": lag,  # the group's, whichever instance holds each partition
            "partitions_held": runner.held_partitions(),  # this instance's share of the group
        }

    async def close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        await _close(admin, consumer)


def _partitions(consumer, topics: Sequence[str]) -> list[TopicPartition]:
    return [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]


async def _depths(consumer, topics: Sequence[str]) -> dict[str, int]:
    partitions = _partitions(consumer, topics)
    if not partitions:
        return {}
    ends = await consumer.end_offsets(partitions)
    starts = await consumer.beginning_offsets(partitions)
    depths: dict[str, int] = dict.fromkeys(topics, 0)
    for tp in partitions:
        depths[tp.topic] += ends[tp] - starts[tp]
    return depths


async def _close(admin, consumer) -> None:
    for client, closing in ((consumer, "stop"), (admin, "close")):
        if client is None:
            continue
        try:
            await asyncio.wait_for(getattr(client, closing)(), 5)
        except Exception:  # a client of a broker that is gone: the probe opens fresh ones next read
            log.debug("closing the health probe's %s failed", type(client).__name__, exc_info=True)
