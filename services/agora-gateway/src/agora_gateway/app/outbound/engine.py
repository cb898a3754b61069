"""The outbound engine's dispatcher, shared by every partner (AGORA, France Travail).

A partner's queue is its flow table (db/outbound.py queries it). The dispatcher claims the
due head flows of the files (a claim is a lease: status `sent` until `claimed_until`), sends
them concurrently through the partner's client, and records the answers by group commit: the
answers that arrive while a recording transaction runs go together in the next one (both
partners', at most `dispatch_record_batch_size`), so SQLite's single writer is taken once per
batch rather than once per answer; a batch that fails is recorded again one answer per
transaction. A flow changed meanwhile (claimed again after its lease) is left alone.
In-process commits wake the dispatcher at once; when idle it sleeps until the next flow comes
due. The adapter says how to claim (its own checks and body), how to send and how to record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from pacte_common.aio import wait_any
from pacte_common.bus import is_transient
from pacte_common.clock import utcnow
from pacte_common.tracing import adopt_trace
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from agora_gateway.domain.outbound import FlowAction, FlowStatus, requeue_delay
from agora_gateway.runtime import GatewayRuntime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Partner:
    """One adapter on the engine: its name, wake-up, client, claim and send."""

    name: str
    wakeup: Callable[[GatewayRuntime], asyncio.Event]
    open_client: Callable[[GatewayRuntime], AbstractAsyncContextManager[Any]]
    claim_due: Callable[[GatewayRuntime, int], Awaitable[list[Any]]]
    send: Callable[[GatewayRuntime, Any, Any], Awaitable[None]]
    next_due_at: Callable[[AsyncSession, datetime], Awaitable[datetime | None]]


async def dispatch_loop(runtime: GatewayRuntime, stop: asyncio.Event, partner: Partner) -> None:
    settings = runtime.settings
    in_flight: set[asyncio.Task] = set()
    wakeup = partner.wakeup(runtime)
    async with partner.open_client(runtime) as client:
        try:
            while not stop.is_set():
                wakeup.clear()
                free = settings.dispatch_concurrency - len(in_flight)
                claimed: list[Any] = []
                asked = min(free, settings.dispatch_batch_size)
                if free > 0:
                    claimed = await partner.claim_due(runtime, asked)
                    for work in claimed:
                        in_flight.add(asyncio.create_task(partner.send(runtime, client, work),
                                                          name=f"{partner.name}-send-{work.flow_id}"))
                if len(claimed) == asked and len(in_flight) < settings.dispatch_concurrency:
                    continue  # a full batch: more may be due right now (fewer: all that was due was taken)
                poll_s = settings.dispatch_poll_interval_s if claimed or in_flight else await _idle_wait_s(runtime, partner)
                # A send that ends matters here only when it frees the last slot: its answer, once
                # committed, sets the wake-up itself (waiting on the tasks too woke the loop twice).
                full = len(in_flight) >= settings.dispatch_concurrency
                await wait_any(stop, wakeup, tasks=in_flight if full else (), timeout=poll_s)
                _forget_done(in_flight, partner.name)
        finally:
            await _let_finish(in_flight, settings.dispatch_shutdown_grace_s)


async def _idle_wait_s(runtime: GatewayRuntime, partner: Partner) -> float:
    """Nothing to send: sleep until the next requeued flow is due (or a lease runs out), at most
    the idle poll (rows another instance writes, which cannot wake this one)."""
    idle_s = runtime.settings.dispatch_idle_poll_interval_s
    now = utcnow()
    async with runtime.readers()() as reader:
        due = await partner.next_due_at(reader, now)
    return idle_s if due is None else min(idle_s, max((due - now).total_seconds(), 0.0))


def _forget_done(in_flight: set[asyncio.Task], name: str) -> None:
    for task in [t for t in in_flight if t.done()]:
        in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s send failed unexpectedly: %r", name, task.exception())


async def _let_finish(in_flight: set[asyncio.Task], grace_s: float) -> None:
    """Gives in-flight sends a moment; what is cut off is resent after its lease."""
    if not in_flight:
        return
    pending = in_flight
    if grace_s > 0:
        _, pending = await asyncio.wait(in_flight, timeout=grace_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


# A recording step: runs in the recording transaction (no commit) and returns the wake-up to
# set once that transaction is committed (a dispatcher whose file's next flow may go), or None.
RecordStep = Callable[[AsyncSession, GatewayRuntime, Any, Any], Awaitable[asyncio.Event | None]]


@dataclass
class _Answer:
    step: RecordStep
    work: Any
    outcome: Any
    done: asyncio.Future


class AnswerRecorder:
    """Group commit of the partners' answers: an answer joins the ones waiting, and the
    recorder records them together, in arrival order, at most `dispatch_record_batch_size` per
    transaction. Under load the answers pile up while a transaction runs and the batches grow
    (one write lock, one commit for many answers); alone, an answer is recorded at once."""

    def __init__(self, runtime: GatewayRuntime) -> None:
        self.runtime = runtime
        self._waiting: list[_Answer] = []
        self._drainer: asyncio.Task | None = None

    async def record(self, step: RecordStep, work: Any, outcome: Any) -> None:
        answer = _Answer(step, work, outcome, asyncio.get_running_loop().create_future())
        self._waiting.append(answer)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="outbound-recorder")
        # a send cut off at shutdown does not cancel the recording of its answer
        await asyncio.shield(answer.done)

    async def _drain(self) -> None:
        size = max(1, self.runtime.settings.dispatch_record_batch_size)
        batch: list[_Answer] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:size], self._waiting[size:]
                try:
                    await _with_retries(self.runtime, partial(_record_together, self.runtime, batch))
                    _settle(batch)
                except Exception as exc:
                    if len(batch) == 1:
                        _settle(batch, exc)
                        continue
                    log.info("recording %d answers together failed (%r); one transaction per answer", len(batch), exc)
                    for answer in batch:
                        try:
                            await _with_retries(self.runtime, partial(_record_together, self.runtime, [answer]))
                            _settle([answer])
                        except Exception as single:
                            _settle([answer], single)
        except asyncio.CancelledError:
            for answer in [*batch, *self._waiting]:
                answer.done.cancel()
            self._waiting = []
            raise


def _settle(answers: list[_Answer], error: BaseException | None = None) -> None:
    for answer in answers:
        if answer.done.done():
            continue
        if error is None:
            answer.done.set_result(None)
        else:
            answer.done.set_exception(error)


async def _record_together(runtime: GatewayRuntime, batch: list[_Answer]) -> None:
    wakeups: list[asyncio.Event] = []
    async with runtime.db_factory() as db, db.begin():
        for answer in batch:
            with adopt_trace(getattr(answer.work, "traceparent", None)):
                wakeup = await answer.step(db, runtime, answer.work, answer.outcome)
            if wakeup is not None and wakeup not in wakeups:
                wakeups.append(wakeup)
    for wakeup in wakeups:  # committed: the files' next flows may go now
        wakeup.set()


async def _with_retries(runtime: GatewayRuntime, attempt_once: Callable[[], Awaitable[None]]) -> None:
    """Retries while the database is briefly unavailable (SQLite lock, failover): giving up
    would leave the flows claimed until their lease runs out. Each try is one transaction."""
    settings = runtime.settings
    retrying = AsyncRetrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential_jitter(initial=settings.send_backoff_initial_s, max=settings.send_backoff_max_s),
        stop=stop_after_delay(settings.dispatch_lease_s),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            await attempt_once()


async def recorded(runtime: GatewayRuntime, step: RecordStep, work: Any, outcome: Any) -> None:
    """Records the partner's answer (or its absence) through the runtime's group commit; the
    step leaves alone a flow changed meanwhile (claimed again after its lease)."""
    if runtime.answer_recorder is None:
        runtime.answer_recorder = AnswerRecorder(runtime)
    await runtime.answer_recorder.record(step, work, outcome)


async def locked_flow(db: AsyncSession, model: Any, work: Any) -> Any | None:
    """The claimed flow, locked, if it is still the claim `work` was sent under."""
    flow = (await db.execute(select(model).where(model.id == work.flow_id).with_for_update())).scalar_one_or_none()
    if flow is None or flow.version != work.version or flow.status != FlowStatus.SENT.value:
        log.info("flow %s changed meanwhile (claimed again?): answer dropped", work.flow_id)
        return None
    return flow


async def requeue(db: AsyncSession, runtime: GatewayRuntime, work: Any, error: str, *, model: Any,
                  move: Callable[..., None], partner: str) -> None:
    """The partner was unavailable (5xx, timeout, no connection): the claimed flow goes back to
    its queue, due again after a doubling delay (`requeue_delay_initial_s` … `_max_s`).
    `model` is the partner's flow table, `move(db, flow, action, reason=)` its state machine's move;
    an adapter passes them with `functools.partial` to `recorded`."""
    settings = runtime.settings
    flow = await locked_flow(db, model, work)
    if flow is None:
        return None
    move(db, flow, FlowAction.REQUEUE, reason=error)
    flow.failed_claims += 1
    flow.last_error = error
    flow.claimed_until = None
    delay = requeue_delay(flow.failed_claims, settings.requeue_delay_initial_s, settings.requeue_delay_max_s)
    flow.next_attempt_at = utcnow() + timedelta(seconds=delay)
    log.warning("%s unavailable for flow %s (%s); next try in %.1fs", partner, work.flow_id, error, delay)


def wake_after_commit(db: AsyncSession, wakeup: asyncio.Event, marker: str) -> None:
    """For a use case committed by its caller (the consumer): wake a dispatcher once it is."""
    if db.info.get(marker):
        return
    db.info[marker] = True

    def _wake(sync_session) -> None:
        sync_session.info.pop(marker, None)
        wakeup.set()

    sa_event.listen(db.sync_session, "after_commit", _wake, once=True)
