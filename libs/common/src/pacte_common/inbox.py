"""The inbox: a consumed message applied exactly once.

In ONE database transaction the handler's effect and the (consumer, event id) inbox row are
written; a redelivered event finds its row and changes nothing. A fetch's batch (every
partition's messages, each partition's in order) goes in one transaction; if it fails, each
message again on its own, with the retry policy of `pacte_common.consumer`
(docs/conventions.md §1.3) and the dead-letter topic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import tenacity
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pacte_common.aio import wait_any
from pacte_common.bus import CLUSTER_HEADER, is_transient
from pacte_common.db import utcnow
from pacte_common.events import Envelope, EventError, IntegrationEvent, decode
from pacte_common.logs import redact
from pacte_common.messaging import MessagingTables
from pacte_common.settings import BusSettings
from pacte_common.tracing import current_traceparent

log = logging.getLogger("pacte_common.consumer")

# handler(session, context, envelope): `context` is the service Runtime (None in lib tests), after
# the database session as everywhere in the services (`(db, runtime, ...)`);
# the handler runs inside the inbox transaction and must not commit.
Handler = Callable[[AsyncSession, Any, Envelope], Awaitable[None]]
BatchHandler = Callable[[AsyncSession, Any, list[Envelope]], Awaitable[None]]
REPLAY_GROUP_HEADER = "pacte_replay_group"  # a replayed dead letter is for this group only


@dataclass
class Subscription:
    """What one consumer group of a service handles: event classes → handler."""

    name: str
    handlers: dict[type[IntegrationEvent], Handler]
    topics: tuple[str, ...] = field(default=())
    # Optional: event classes handled a run at a time — handler(session, context, [envelopes])
    # gets consecutive events of one fetched batch that it handles (one type or several, when
    # one handler is given for them), in order, in the batch's transaction (set-based SQL: one
    # statement for the run instead of one per event).
    batch_handlers: dict[type[IntegrationEvent], BatchHandler] = field(default_factory=dict)

    def __post_init__(self):
        if not self.topics:
            classes = list(self.handlers) + list(self.batch_handlers)
            self.topics = tuple(dict.fromkeys(cls.topic for cls in classes))
        self.by_type = {cls.event_type: handler for cls, handler in self.handlers.items()}
        self.batch_by_type = {cls.event_type: handler for cls, handler in self.batch_handlers.items()}
        for event_type, handler in self.batch_by_type.items():  # one message at a time: a run of one
            self.by_type[event_type] = _single(handler)


def _single(batch_handler: BatchHandler) -> Handler:
    async def handle(session, context, envelope):
        await batch_handler(session, context, [envelope])

    return handle


class PermanentError(Exception):
    """Raised by a handler for a message that can never succeed (invalid data): no retries,
    straight to the dead-letter topic with the reason."""


PERMANENT_ERRORS = (PermanentError, EventError, ValidationError)


class _Stopping(Exception):
    """The service is stopping in the middle of retries: leave the offset uncommitted."""


class InboxHandler:
    """Applies one consumer group's messages through the inbox (what `ConsumerRunner` fetched)."""

    def __init__(
        self,
        subscription: Subscription,
        *,
        consumer_name: str,
        group_id: str,
        bus: BusSettings,
        factory: async_sessionmaker[AsyncSession],
        tables: MessagingTables,
        dlq_topic: Callable[[str], str],
        known_cluster: Callable[[], str | None],
        on_outcome: Callable[[str, str], None] | None = None,
        context: Any = None,
    ):
        self.subscription = subscription
        self.consumer_name = consumer_name
        self.group_id = group_id
        self.bus = bus
        self.factory = factory
        self.tables = tables
        self.dlq_topic = dlq_topic
        self._known_cluster = known_cluster
        self.on_outcome = on_outcome or (lambda event_type, outcome: None)
        self.context = context
        self.transient_retries = 0
        self.stop = asyncio.Event()  # the runner's, once it runs: retries end when it is set

    @property
    def cluster_id(self) -> str | None:
        """The broker incarnation the runner last saw: a copy sent to another one is not ours."""
        return self._known_cluster()

    async def handle_batch(self, messages, dlq_producer: AIOKafkaProducer) -> None:
        """Handles a fetched batch (each partition's messages in order) in one transaction; on
        any failure, falls back to one transaction per message (with its retries and
        dead-lettering)."""
        if len(messages) > 1:
            try:
                outcomes = await self._handle_together(messages)
            except Exception as exc:  # each message again on its own, with retries and the DLQ
                log.info("consumer %s: batch of %d failed (%r); one transaction per message", self.group_id,
                         len(messages), exc)
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
            if not self._for_us(message, event_type):
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
            fresh = []
            for message, envelope in envelopes:
                if envelope.id in seen:
                    outcomes.append((envelope.type, "duplicate"))
                    continue
                seen.add(envelope.id)
                fresh.append((message, envelope))
            if fresh:  # one multi-row INSERT for the batch's inbox rows
                await session.execute(inbox.insert(), [self._inbox_values(m, e) for m, e in fresh])
            for run in _runs([envelope for _, envelope in fresh], self.subscription.batch_by_type):
                await self._apply(session, run)
                outcomes.extend((envelope.type, "handled") for envelope in run)
        return outcomes

    async def _apply(self, session: AsyncSession, run: list[Envelope]) -> None:
        """One event with its handler, or a run of one type with its batch handler."""
        batch_handler = self.subscription.batch_by_type.get(run[0].type)
        token = current_traceparent.set(run[0].traceparent)
        try:
            if batch_handler is not None:
                await batch_handler(session, self.context, run)
            else:
                await self.subscription.by_type[run[0].type](session, self.context, run[0])
        finally:
            current_traceparent.reset(token)

    def _for_us(self, message, event_type: str) -> bool:
        """False for another consumer's event on a shared topic, for a dead letter that
        `replay-dlq` sent back for another consumer group, and for a copy sent by a relay to a
        broker incarnation it had not yet noticed."""
        if event_type and event_type not in self.subscription.by_type:
            return False
        for name, value in message.headers or ():
            if name == REPLAY_GROUP_HEADER and value.decode(errors="replace") != self.group_id:
                return False
            if name == CLUSTER_HEADER and self.cluster_id and value.decode(errors="replace") != self.cluster_id:
                # Sent to this broker by a relay that still believed in the previous one: it
                # sends it again, in order, once it notices (messaging.OutboxRelay).
                return False
        return True

    def _inbox_values(self, message, envelope: Envelope) -> dict:
        return dict(
            consumer=self.consumer_name,
            event_id=envelope.id,
            source=envelope.source,
            event_type=envelope.type,
            topic=message.topic,
            received_at=utcnow(),
        )

    def _inbox_row(self, message, envelope: Envelope):
        return self.tables.inbox.insert().values(self._inbox_values(message, envelope))

    async def handle(self, message, dlq_producer: AIOKafkaProducer) -> str:
        """Handles one Kafka message; returns the outcome (handled, duplicate, ignored, dead-lettered)."""
        headers = dict(message.headers or ())
        event_type = headers.get("ce_type", b"").decode(errors="replace")
        if not self._for_us(message, event_type):
            return self._outcome(event_type, "ignored")
        try:
            envelope = decode(message.headers, message.value)
        except EventError as exc:
            log.error("consumer %s: rejected message %s@%s: %s", self.group_id, message.topic, message.offset, exc)
            await self._dead_letter(dlq_producer, message, f"undecodable: {exc}")
            return self._outcome(event_type or "unknown", "dead_lettered")

        handler = self.subscription.by_type[envelope.type]

        async def attempt() -> str:
            token = current_traceparent.set(envelope.traceparent)
            try:
                async with self.factory() as session, session.begin():
                    if await self._already_handled(session, envelope.id):
                        return "duplicate"
                    await session.execute(self._inbox_row(message, envelope))
                    await handler(session, self.context, envelope)
                return "handled"
            finally:
                current_traceparent.reset(token)

        try:
            outcome = await self._retrying(envelope)(attempt)
            return self._outcome(envelope.type, outcome)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.stop.is_set():
                raise _Stopping from exc  # not handled, not committed: redelivered after restart
            log.error("consumer %s: %s %s dead-lettered: %r", self.group_id, envelope.type, envelope.id, exc)
            await self._dead_letter(dlq_producer, message, failure_text(exc))
            return self._outcome(envelope.type, "dead_lettered")

    def _retrying(self, envelope: Envelope) -> tenacity.AsyncRetrying:
        """Transient failures: for ever, capped backoff. Permanent: never. Others: a few times."""
        other_failures = 0

        def worth_retrying(error: BaseException) -> bool:
            nonlocal other_failures
            if isinstance(error, PERMANENT_ERRORS):
                return False
            if is_transient(error):
                self.transient_retries += 1
                return True
            other_failures += 1
            return other_failures < self.bus.consumer_max_attempts

        def log_retry(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception()
            kind = "transient failure" if is_transient(error) else "failure"
            log.warning(
                "consumer %s: %s %s %s (attempt %d), partition held, retrying in %.1fs: %r",
                self.group_id, envelope.type, envelope.id, kind, state.attempt_number,
                state.upcoming_sleep, error,
            )

        return tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(worth_retrying),
            wait=tenacity.wait_exponential_jitter(
                initial=self.bus.consumer_retry_backoff_s,
                max=self.bus.transient_retry_max_backoff_s,
                jitter=self.bus.consumer_retry_backoff_s,
            ),
            stop=lambda state: self.stop.is_set(),
            sleep=lambda seconds: wait_any(self.stop, timeout=seconds),
            before_sleep=log_retry,
            reraise=True,
        )

    async def _already_handled(self, session: AsyncSession, event_id: str) -> bool:
        inbox = self.tables.inbox
        found = await session.execute(
            select(inbox.c.event_id).where(inbox.c.consumer == self.consumer_name, inbox.c.event_id == event_id)
        )
        return found.first() is not None

    async def _dead_letter(self, producer: AIOKafkaProducer, message, error: str) -> None:
        headers = list(message.headers or ()) + [
            # Operators read it (`GET /admin/dead-letters`, the console): no NIR or IBAN in it.
            ("pacte_dlq_error", redact(error)[:2000].encode()),
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


def failure_text(exc: BaseException) -> str:
    """What a dead letter says of its failure. Pydantic's messages quote the input (a name, a
    NIR): only each field's location and problem are kept."""
    if isinstance(exc, ValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
        return f"ValidationError: {problems}"
    return f"{type(exc).__name__}: {exc}"


def _runs(envelopes: list[Envelope], batched: dict) -> list[list[Envelope]]:
    """Consecutive events of one batch handler grouped (order kept); others one by one."""
    runs: list[list[Envelope]] = []
    for envelope in envelopes:
        if runs and envelope.type in batched and batched.get(runs[-1][0].type) is batched[envelope.type]:
            runs[-1].append(envelope)
        else:
            runs.append([envelope])
    return runs


