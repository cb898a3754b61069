"""Consumer runner: at-least-once delivery turned into exactly-once effects by the inbox.

For each message: decode the CloudEvent, then in ONE database transaction record
(consumer, event id) in the inbox and apply the handler's effect; the Kafka offset is
committed only after that transaction. A redelivered event finds its inbox row and changes
nothing.

Retry policy by kind of failure (docs/conventions.md §1.3):
- transient (database unavailable, locked or failed over, broker timeouts: `bus.is_transient`)
  holds the partition — nothing after it is handled — and is retried with capped exponential
  backoff for as long as it takes; never dead-lettered, so per-key order is kept;
- permanent (undecodable, schema-invalid, `PermanentError`) goes to `<topic>.dlq.<group>`
  at once with the reason;
- anything else (a rule or a bug) is retried `consumer_max_attempts` times, then
  dead-lettered; `pacte bus replay-dlq` sends it again once fixed.

Broker incarnations: on every (re)connection, partition assignment and every
`incarnation_check_interval_s`, the runner compares the cluster id with the one it last saw
(kept in `bus_incarnations` across restarts), checks its topics exist and that no committed
offset lies beyond its partition's end. On a new incarnation, missing topics or truncation it
re-creates the topics and restarts its partitions from the beginning (the inbox dedupes),
counted in `resyncs`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pacte_common.aio import wait_any
from pacte_common.bus import (
    CLUSTER_HEADER,
    backoff,
    current_cluster_id,
    describe_bus,
    end_offsets,
    ensure_topics,
    group_offsets,
    new_admin,
    new_consumer,
    new_producer,
    reported_end_offsets,
    topic_name,
)
from pacte_common.db import utcnow
from pacte_common.events import dead_letter_topic
from pacte_common.inbox import (  # re-exported: a service declares its subscriptions from here
    REPLAY_GROUP_HEADER,
    BatchHandler,
    Handler,
    InboxHandler,
    PermanentError,
    Subscription,
    _Stopping,
    failure_text,
)
from pacte_common.messaging import IncarnationMemory, MessagingTables
from pacte_common.settings import BusSettings

log = logging.getLogger(__name__)

class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, runner: ConsumerRunner, consumer):
        self.runner = runner
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked):
        # Offsets are committed after every handled batch, so nothing is pending here.
        log.info("consumer %s: partitions revoked %s", self.runner.group_id, sorted(str(tp) for tp in revoked))

    async def on_partitions_assigned(self, assigned):
        log.info("consumer %s: partitions assigned %s", self.runner.group_id, sorted(str(tp) for tp in assigned))
        await self.runner.on_assigned(self.consumer, assigned)


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
        on_resync: Callable[[str], None] | None = None,
    ):
        self.subscription = subscription
        self.bus = bus
        self.consumer_name = f"{service}.{subscription.name}"
        # What is handled and how is the inbox's; fetching, committing and resyncing are here.
        self.inbox = InboxHandler(
            subscription, consumer_name=self.consumer_name, group_id=f"{bus.topic_namespace}{self.consumer_name}",
            bus=bus, factory=factory, tables=tables, dlq_topic=self.dlq_topic, known_cluster=lambda: self.cluster_id,
            on_outcome=on_outcome, context=context,
        )
        self.topics = [topic_name(bus, t) for t in subscription.topics]
        self.on_resync = on_resync or (lambda reason: None)
        self.connected = False
        self.assigned = asyncio.Event()
        self.cluster_id: str | None = None
        self.resyncs = 0
        self.incarnation = IncarnationMemory(factory, tables, f"consumer:{self.consumer_name}")
        self._resync_pending = False
        self._last_check = 0.0
        self._committed: dict[TopicPartition, int] = {}
        self._consumer = None
        self._admin = None
        self._stop = asyncio.Event()
        self._reconnect_delay = backoff(0.1, bus.relay_max_backoff_s)

    @property
    def group_id(self) -> str:
        return self.inbox.group_id

    @group_id.setter
    def group_id(self, value: str) -> None:
        self.inbox.group_id = value

    @property
    def on_outcome(self) -> Callable[[str, str], None]:
        return self.inbox.on_outcome

    @on_outcome.setter
    def on_outcome(self, value: Callable[[str, str], None]) -> None:
        self.inbox.on_outcome = value

    @property
    def transient_retries(self) -> int:
        return self.inbox.transient_retries

    def dlq_topic(self, topic: str) -> str:
        # The topic already carries the namespace; the group part is the plain consumer name.
        return dead_letter_topic(topic, self.consumer_name)

    def held_partitions(self) -> list[str]:
        """The partitions the group has given this instance ("topic:partition"), as last assigned."""
        consumer = self._consumer
        return sorted(f"{tp.topic}:{tp.partition}" for tp in consumer.assignment()) if consumer is not None else []

    def lag(self) -> dict[str, int]:
        """Messages not yet handled per assigned partition ("topic[partition]"), as last known."""
        consumer = self._consumer
        if consumer is None:
            return {}
        lags = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                lags[f"{tp.topic}[{tp.partition}]"] = max(0, highwater - self._committed.get(tp, 0))
        return lags

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = self.inbox.stop = stop
        failures = 0
        while not stop.is_set():
            consumer = producer = None
            try:
                self._admin = new_admin(self.bus)
                await self._admin.start()
                await self.check_incarnation(None)
                producer = new_producer(self.bus)
                await producer.start()
                consumer = new_consumer(self.bus, group_id=self.group_id)
                consumer.subscribe(self.topics, listener=_Rebalance(self, consumer))
                await consumer.start()
                self._consumer = consumer
                self.connected = True
                failures = 0
                await self._consume(consumer, producer, stop)
            except asyncio.CancelledError:
                raise
            except _Stopping:
                break
            except Exception as exc:
                failures += 1
                self.connected = False
                log.warning("consumer %s: bus or database error (attempt %d): %r", self.group_id, failures, exc)
                await wait_any(stop, timeout=self._reconnect_delay(failures))
            finally:
                self.connected = False
                self._consumer = None
                for client in (consumer, producer, self._admin):
                    if client is None:
                        continue
                    try:
                        # aiokafka's stop can hang while its fetcher retries an absent broker
                        closing = client.close() if client is self._admin else client.stop()
                        await asyncio.wait_for(closing, self.bus.request_timeout_ms / 1000)
                    except Exception as exc:  # closing a client of a broker that is gone
                        log.debug("consumer %s: client did not close cleanly: %r", self.group_id, exc)
                self._admin = None

    async def _consume(self, consumer, producer, stop: asyncio.Event) -> None:
        """Fetch, handle the fetched messages in one transaction, commit the offsets.

        Fetches wait briefly while messages flow and longer once idle (`idle_after_s`), so an
        idle suite does not poll its broker fifty times a second per consumer."""
        last_message = time.monotonic()
        idle = False
        while not stop.is_set():
            if time.monotonic() - self._last_check >= self.bus.incarnation_check_interval_s:
                await self._quiet_check(consumer)
            batch = await consumer.getmany(timeout_ms=1000 if idle else 200)
            if consumer.assignment():
                self.assigned.set()
            if not batch:
                if not idle and time.monotonic() - last_message >= self.bus.idle_after_s:
                    idle = _set_fetch_wait(consumer, self.bus.idle_fetch_max_wait_ms)
                continue
            last_message = time.monotonic()
            if idle:
                idle = not _set_fetch_wait(consumer, self.bus.fetch_max_wait_ms)
            if self._foreign(batch) and not await self._same_incarnation(consumer, batch):
                continue  # rewound after a resync, or put back until the broker answers
            # Every partition's messages, each partition's in its order, in one transaction: at a
            # steady flow a fetch holds about one event per partition, and a commit per partition
            # was most of a consumer's cost per event (docs/architecture.md).
            await self.inbox.handle_batch([message for messages in batch.values() for message in messages], producer)
            positions = {partition: messages[-1].offset + 1 for partition, messages in batch.items()}
            try:
                await consumer.commit(positions)
                self._committed.update(positions)
            except CommitFailedError as exc:
                # Rebalanced meanwhile: the new owner re-reads, the inbox dedupes.
                log.warning("consumer %s: commit failed: %s", self.group_id, exc)

    def _foreign(self, batch) -> bool:
        """True if a message names another broker incarnation than the one last seen."""
        mine = (self.cluster_id or "").encode()
        return any(
            value != mine
            for messages in batch.values()
            for message in messages
            for name, value in message.headers or ()
            if name == CLUSTER_HEADER
        )

    async def _same_incarnation(self, consumer, batch) -> bool:
        """The batch names another incarnation than the one we know: False if the broker
        changed (the partitions were then rewound to the beginning — not put back where the
        batch started, which would skip what the new broker holds before it) or if the broker
        cannot be asked (the batch is put back, to be fetched again)."""
        try:
            if await current_cluster_id(self._admin) == self.cluster_id:
                return True
            if await self.check_incarnation(consumer) is not None:
                return False
        except Exception as exc:
            log.warning("consumer %s: cannot check the broker incarnation: %r", self.group_id, exc)
            await wait_any(self._stop, timeout=0.5)
        for partition, messages in batch.items():
            if partition in consumer.assignment():
                consumer.seek(partition, messages[0].offset)
        return False

    async def _quiet_check(self, consumer) -> None:
        try:
            await self.check_incarnation(consumer)
        except Exception as exc:  # the broker is away: the next check tries again
            self._last_check = time.monotonic()
            log.warning("consumer %s: cannot check the broker incarnation: %r", self.group_id, exc)

    async def check_incarnation(self, consumer) -> str | None:
        """Compares the broker with what this consumer last saw; on a new incarnation, missing
        topics or a committed offset beyond a partition's end, restarts from the beginning."""
        view = await describe_bus(self.bus, self._admin)
        self._last_check = time.monotonic()
        stored = await self.incarnation.load()
        reference = self.cluster_id or stored
        reasons = []
        if reference and view.cluster_id and reference != view.cluster_id:
            reasons.append(f"new broker incarnation (cluster id {reference} -> {view.cluster_id})")
        missing = set(self.topics) - view.topics
        if missing and reference:
            reasons.append(f"topics missing on the broker: {', '.join(sorted(missing))}")
        await ensure_topics(self.bus, missing)
        await ensure_topics(self.bus, {self.dlq_topic(t) for t in self.topics} - view.topics, partitions=1)
        if consumer is not None and not reasons:
            reasons.extend(await self._truncated(consumer))
        if view.cluster_id and view.cluster_id != stored:
            await self.incarnation.replace(stored, view.cluster_id)
        self.cluster_id = view.cluster_id
        if not reasons:
            return None
        reason = "; ".join(reasons)
        self.resyncs += 1
        self.on_resync(reason)
        assignment = consumer.assignment() if consumer is not None else set()
        log.warning("consumer %s: %s; restarting from the earliest offset (the inbox dedupes)", self.group_id, reason)
        if assignment:
            self._rewind(consumer, assignment)
        else:
            self._resync_pending = True
        return reason

    async def _truncated(self, consumer) -> list[str]:
        assignment = sorted(consumer.assignment())
        if not assignment:
            return []
        ends = await consumer.end_offsets(assignment)
        # Only an empty partition is trusted: Tansu reports the last batch's base offset + 1 as
        # the end. A partition re-filled past our position is caught by the cluster id (new
        # broker) or by aiokafka's reset to earliest when our position is out of range.
        beyond = [
            f"{tp.topic}[{tp.partition}] committed {self._committed[tp]}, now empty"
            for tp in assignment
            if self._committed.get(tp, 0) > 0 and ends.get(tp, 0) == 0
        ]
        return [f"topic emptied below committed offsets: {', '.join(beyond)}"] if beyond else []

    async def on_assigned(self, consumer, assigned) -> None:
        """Rebalance listener: a (re)joined group may be talking to a new broker incarnation."""
        for tp in assigned:
            self._committed.pop(tp, None)
        if not self._resync_pending:
            try:
                view = await describe_bus(self.bus)
            except Exception as exc:  # the periodic check will try again
                log.warning("consumer %s: cannot check the broker incarnation: %r", self.group_id, exc)
                return
            if self.cluster_id and view.cluster_id and view.cluster_id != self.cluster_id:
                reason = f"new broker incarnation (cluster id {self.cluster_id} -> {view.cluster_id})"
                log.warning("consumer %s: %s; restarting from the earliest offset", self.group_id, reason)
                self.cluster_id = view.cluster_id
                self.resyncs += 1
                self.on_resync(reason)
                self._resync_pending = True
                await self.incarnation.replace(await self.incarnation.load(), view.cluster_id)
        if self._resync_pending and assigned:
            self._rewind(consumer, assigned)

    def _rewind(self, consumer, partitions) -> None:
        for tp in partitions:
            consumer.seek(tp, 0)  # below the log start, the consumer resets to the earliest
            self._committed.pop(tp, None)
        self._resync_pending = False

def _set_fetch_wait(consumer, wait_ms: int) -> bool:
    """Changes how long the broker may hold a fetch (aiokafka reads it for each fetch request)."""
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not hasattr(fetcher, "_fetch_max_wait_ms"):
        return False
    fetcher._fetch_max_wait_ms = wait_ms  # noqa: SLF001 - no public setter in aiokafka
    return True


@dataclass
class ReplayReport:
    """What `replay_dead_letters` did: replayed once each, and how many came back."""

    dlq_topic: str
    replayed: int = 0
    failed_again: int = 0
    unsettled: int = 0  # replayed but not yet handled by their consumer when the wait ended




async def replay_dead_letters(
    bus: BusSettings, dlq_topic: str, *, limit: int | None = None, settle_timeout_s: float | None = None
) -> ReplayReport:
    """Operator command: re-publishes the dead letters present now to their original topic,
    once each, then waits for their consumers and counts those dead-lettered again.

    "Present now" is what was dead-lettered before the command started (the `pacte_dlq_time`
    header), read from the replay group's last position: a message that fails again lands at
    the end of the dead-letter topic with a later time and stops the run, so it always ends.
    End offsets are not trusted for that (Tansu reports the last batch's base offset + 1).
    The replay group's committed offsets remember what was replayed, for the next run. The
    copy carries `pacte_replay_group`: the other consumer groups of the topic ignore it.
    """
    report = ReplayReport(dlq_topic)
    ends = await end_offsets(bus, [dlq_topic])
    partitions = list(ends)
    if not partitions:
        raise LookupError(f"no dead-letter topic {dlq_topic}")
    started = utcnow().isoformat()
    replay_group = f"{dlq_topic}.replay"
    done = await group_offsets(bus, replay_group, partitions)
    consumer = new_consumer(bus, group_id=replay_group)
    producer = new_producer(bus)
    await consumer.start()
    await producer.start()
    replayed: dict[tuple[str, int, int], str] = {}  # (topic, partition, offset) -> consumer group
    try:
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, done.get(tp, 0))
        open_partitions = set(partitions)
        # An empty fetch is the end only once past the ends seen at the start (a slow broker may
        # answer a fetch with nothing while messages remain before them).
        reading_until = time.monotonic() + (settle_timeout_s or bus.replay_settle_timeout_s)
        while open_partitions and (limit is None or report.replayed < limit):
            batch = await consumer.getmany(*open_partitions, timeout_ms=1000)
            if not batch and not await _short_of(consumer, open_partitions, ends, reading_until):
                break  # read to the end of every partition
            for tp, messages in batch.items():
                position = await _replay_messages(producer, messages, started, limit, report, replayed)
                if position is None:
                    open_partitions.discard(tp)
                    continue
                await consumer.commit({tp: position})
    finally:
        await consumer.stop()
        await producer.stop()
    if replayed:
        await _wait_until_handled(bus, replayed, settle_timeout_s or bus.replay_settle_timeout_s, report)
        report.failed_again = await _count_dead_lettered_again(bus, dlq_topic, done, replayed)
    return report


async def _short_of(consumer, partitions, ends: dict, reading_until: float) -> bool:
    """True while a partition's position is below the end seen at the start (until the deadline)."""
    if time.monotonic() >= reading_until:
        return False
    for tp in partitions:
        if await consumer.position(tp) < ends.get(tp, 0):
            return True
    return False


async def _replay_messages(producer, messages, started: str, limit, report: ReplayReport, replayed: dict) -> int | None:
    """Replays a partition's batch up to the first message dead-lettered after `started`;
    returns the position after the last one replayed, or None if the partition is done."""
    position = None
    for message in messages:
        headers = dict(message.headers or ())
        dead_at = headers.get("pacte_dlq_time", b"").decode()
        if (dead_at and dead_at >= started) or (limit is not None and report.replayed >= limit):
            return position
        group = headers.get("pacte_dlq_group", b"").decode()
        kept = [
            (k, v) for k, v in message.headers if not k.startswith(("pacte_dlq_", REPLAY_GROUP_HEADER, CLUSTER_HEADER))
        ]
        if group:
            kept.append((REPLAY_GROUP_HEADER, group.encode()))
        original = headers["pacte_dlq_topic"].decode()
        sent = await producer.send_and_wait(original, value=message.value, key=message.key, headers=kept)
        replayed[(sent.topic, sent.partition, sent.offset)] = group
        report.replayed += 1
        position = message.offset + 1
    return position


async def _wait_until_handled(bus: BusSettings, replayed: dict, timeout_s: float, report: ReplayReport) -> None:
    """Until each replayed message's consumer group committed past it (or the timeout)."""
    deadline = time.monotonic() + timeout_s
    waiting = {position: group for position, group in replayed.items() if group}
    while waiting:
        for group in set(waiting.values()):
            mine = [position for position, owner in waiting.items() if owner == group]
            committed = await group_offsets(bus, group, {TopicPartition(topic, partition) for topic, partition, _ in mine})
            for topic, partition, offset in mine:
                if committed.get(TopicPartition(topic, partition), -1) > offset:
                    del waiting[(topic, partition, offset)]
        if not waiting or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    report.unsettled = len(waiting)


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message as an operator sees it: what, when, why; never its payload
    (it may carry personal data)."""

    partition: int
    offset: int
    event_id: str | None
    event_type: str | None
    error: str
    dead_at: str | None
    origin: str  # topic[partition]@offset it came from
    consumer_group: str | None
    replayed: bool  # a replay already sent it back (the replay group read past it)


async def read_dead_letters(bus: BusSettings, dlq_topic: str, *, last: int = 20) -> tuple[int, list[DeadLetter]]:
    """How many dead letters the topic holds, and the `last` most recent, newest first.

    Reads the topic from its beginning (dead-letter topics are small; end offsets are not
    trusted on Tansu), keeping only the newest in memory."""
    partitions = list(await reported_end_offsets(bus, [dlq_topic]))
    if not partitions:
        raise LookupError(f"no dead-letter topic {dlq_topic}")
    replayed_up_to = await group_offsets(bus, f"{dlq_topic}.replay", partitions)
    newest: deque[DeadLetter] = deque(maxlen=last)
    total = 0
    consumer = new_consumer(bus, group_id=None)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while batch := await consumer.getmany(timeout_ms=500):
            for tp, messages in batch.items():
                for message in messages:
                    total += 1
                    newest.append(_dead_letter_view(message, replayed_up_to.get(tp, 0)))
    finally:
        await consumer.stop()
    return total, sorted(newest, key=lambda letter: letter.dead_at or "", reverse=True)


def _dead_letter_view(message, replayed_up_to: int) -> DeadLetter:
    headers = {key: value.decode(errors="replace") for key, value in (message.headers or ())}
    return DeadLetter(
        partition=message.partition,
        offset=message.offset,
        event_id=headers.get("ce_id"),
        event_type=headers.get("ce_type"),
        error=headers.get("pacte_dlq_error", ""),
        dead_at=headers.get("pacte_dlq_time"),
        origin=f"{headers.get('pacte_dlq_topic', '?')}[{headers.get('pacte_dlq_partition', '?')}]@{headers.get('pacte_dlq_offset', '?')}",
        consumer_group=headers.get("pacte_dlq_group"),
        replayed=message.offset < replayed_up_to,
    )


async def _count_dead_lettered_again(bus: BusSettings, dlq_topic: str, start: dict, replayed: dict) -> int:
    """Dead letters whose origin is one of the replayed copies, read from where the replay began."""
    partitions = list(await reported_end_offsets(bus, [dlq_topic]))
    consumer = new_consumer(bus, group_id=None)
    await consumer.start()
    count = 0
    try:
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, start.get(tp, 0))
        while batch := await consumer.getmany(timeout_ms=1000):
            for messages in batch.values():
                for message in messages:
                    headers = dict(message.headers or ())
                    origin = (
                        headers.get("pacte_dlq_topic", b"").decode(),
                        int(headers.get("pacte_dlq_partition", b"-1")),
                        int(headers.get("pacte_dlq_offset", b"-1")),
                    )
                    count += origin in replayed
    finally:
        await consumer.stop()
    return count


__all__ = [
    "BatchHandler",
    "ConsumerRunner",
    "DeadLetter",
    "Handler",
    "PermanentError",
    "ReplayReport",
    "Subscription",
    "TopicPartition",
    "read_dead_letters",
    "failure_text",
    "replay_dead_letters",
]
