"""The outbound engine's dispatcher, shared by every partner (AGORA, France Travail).

A partner's queue is its flow table (db/outbound.py queries it). The dispatcher claims the
due head flows of the files (a claim is a lease: status `sent` until `claimed_until`), sends
them concurrently through the partner's client, and records each answer in a transaction of
its own; a flow changed meanwhile (claimed again after its lease) is left alone. In-process
commits wake the dispatcher at once; when idle it sleeps until the next flow comes due.
The adapter says how to claim (its own checks and body), how to send and how to record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pacte_common.aio import heartbeat, wait_any
from pacte_common.bus import is_transient
from pacte_common.clock import utcnow
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from agora_gateway.db.outbound import renew_leases
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
    model: Any  # its flow table (claims' leases are renewed on it)


# A use case recording an answer in the recorder's transaction: (db, runtime, work, outcome).
Step = Callable[[AsyncSession, GatewayRuntime, Any, Any], Awaitable[None]]

# Set in each send task: frees its call slot once the partner has answered (see `recorded`).
_call_slot: ContextVar[Callable[[], None] | None] = ContextVar("outbound_call_slot", default=None)


async def dispatch_loop(runtime: GatewayRuntime, stop: asyncio.Event, partner: Partner) -> None:
    """`dispatch_concurrency` bounds the calls to the partner at once; a send whose answer is
    being recorded (waiting for the database, SQLite's single writer) no longer holds a call
    slot, and at most as many sends again may be recording."""
    settings = runtime.settings
    in_flight: dict[asyncio.Task, Any] = {}  # every send not finished (call and recording) -> its claim
    calling: set[asyncio.Task] = set()  # the sends whose call to the partner is not answered yet
    wakeup = partner.wakeup(runtime)
    leases = asyncio.create_task(_keep_leases(runtime, partner, in_flight, stop), name=f"{partner.name}-leases")
    recorder = Recorder(runtime, partner.name)
    _recorder.set(recorder)  # the send tasks created below inherit it
    async with partner.open_client(runtime) as client:
        try:
            while not stop.is_set():
                wakeup.clear()
                free = min(settings.dispatch_concurrency - len(calling), 2 * settings.dispatch_concurrency - len(in_flight))
                claimed: list[Any] = []
                asked = min(free, settings.dispatch_batch_size)
                if free > 0:
                    claimed = await partner.claim_due(runtime, asked)
                    for work in claimed:
                        task = asyncio.create_task(_sending(runtime, partner, client, work, calling, wakeup),
                                                   name=f"{partner.name}-send-{work.flow_id}")
                        in_flight[task] = work
                        calling.add(task)
                if claimed and len(claimed) == asked and free > asked:
                    continue  # a full batch: more may be due right now (fewer: all that was due was taken)
                poll_s = settings.dispatch_poll_interval_s if claimed or in_flight else await _idle_wait_s(runtime, partner)
                # A recorded answer wakes the loop (its file's next flow), and so does a call that
                # frees the last call slot; waiting on the tasks too woke it twice per answer (two
                # due-heads queries). They are waited on only when the recordings are at their bound.
                recordings_full = len(in_flight) >= 2 * settings.dispatch_concurrency
                await wait_any(stop, wakeup, tasks=set(in_flight) if recordings_full else (), timeout=poll_s)
                _forget_done(in_flight, partner.name)
                calling &= in_flight.keys()
        finally:
            try:
                await _let_finish(set(in_flight), settings.dispatch_shutdown_grace_s)
                await recorder.close()
            finally:  # also when the dispatcher itself is cancelled meanwhile
                recorder.task.cancel()
                leases.cancel()


async def _keep_leases(runtime: GatewayRuntime, partner: Partner, in_flight: dict[asyncio.Task, Any], stop: asyncio.Event) -> None:
    """The heartbeat of this process's claims: every quarter of `dispatch_lease_s`, the leases of
    the flows it is sending move forward, so a lease can be short: a flow claimed by a process
    that died is claimed again within one lease (seconds), while a slow call of a live process
    is never sent twice (docs/france-travail.md §1)."""
    lease_s = runtime.settings.dispatch_lease_s

    async def beat() -> bool:
        held = [(work.flow_id, work.version) for task, work in list(in_flight.items()) if not task.done()]
        if held:
            async with runtime.db_factory() as db, db.begin():
                await renew_leases(db, partner.model, held, until=utcnow() + timedelta(seconds=lease_s))
        return True  # a claim taken again meanwhile is simply not renewed: its answer is not recorded

    await heartbeat(beat, every_s=lease_s / 4, stop=stop, name=f"{partner.name} dispatch leases")


async def _sending(runtime: GatewayRuntime, partner: Partner, client: Any, work: Any, calling: set[asyncio.Task],
                   wakeup: asyncio.Event) -> None:
    task = asyncio.current_task()
    concurrency = runtime.settings.dispatch_concurrency

    def free_slot() -> None:
        if task in calling:
            was_full = len(calling) >= concurrency
            calling.discard(task)
            if was_full:
                wakeup.set()  # the dispatcher may claim again

    _call_slot.set(free_slot)
    try:
        await partner.send(runtime, client, work)
    finally:
        free_slot()


async def _idle_wait_s(runtime: GatewayRuntime, partner: Partner) -> float:
    """Nothing to send: sleep until the next requeued flow is due (or a lease runs out), at most
    the idle poll (rows another instance writes, which cannot wake this one)."""
    idle_s = runtime.settings.dispatch_idle_poll_interval_s
    now = utcnow()
    async with runtime.readers()() as reader:
        due = await partner.next_due_at(reader, now)
    return idle_s if due is None else min(idle_s, max((due - now).total_seconds(), 0.0))


def _forget_done(in_flight: dict[asyncio.Task, Any], name: str) -> None:
    for task in [t for t in in_flight if t.done()]:
        del in_flight[task]
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


class Recorder:
    """Writes the partner's answers a run at a time: the answers that came while the previous run
    was being written go together, in one transaction (one commit, not one per answer). A run
    that fails for another reason than a brief database outage is written again one answer per
    transaction, so that one answer that cannot be recorded holds no other."""

    def __init__(self, runtime: GatewayRuntime, name: str):
        self.runtime = runtime
        self.queue: asyncio.Queue[tuple[Step, Any, Any, asyncio.Future]] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(), name=f"{name}-recorder")

    async def record(self, step: Step, work: Any, outcome: Any) -> None:
        done = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((step, work, outcome, done))
        await asyncio.shield(done)  # a send cancelled at shutdown does not take its recording with it

    async def close(self) -> None:
        """Writes what was queued before it (within the shutdown grace), then stops; a cancellation
        of the caller goes on (the caller cancels the recorder)."""
        self.queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self.task), self.runtime.settings.dispatch_shutdown_grace_s)
        except TimeoutError:
            self.task.cancel()  # what is cut off is resent after its lease
            await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        limit = 2 * self.runtime.settings.dispatch_concurrency
        closing = False
        while not closing:
            run = []
            item = await self.queue.get()
            while item is not None:
                run.append(item)
                if len(run) >= limit or self.queue.empty():
                    break
                item = self.queue.get_nowait()
            closing = item is None
            if run:
                await self._write(run)

    async def _write(self, run: list[tuple[Step, Any, Any, asyncio.Future]]) -> None:
        try:
            await self._transaction(run)
        except Exception as exc:
            if len(run) > 1 and not is_transient(exc):
                for item in run:
                    await self._write([item])
                return
            log.error("recording %d answer(s) failed (%r): their flows are claimed again after the lease", len(run), exc)
            for *_, done in run:
                done.set_exception(exc)
            return
        for *_, done in run:
            done.set_result(None)

    async def _transaction(self, run: list[tuple[Step, Any, Any, asyncio.Future]]) -> None:
        await record_together(self.runtime, [(step, work, outcome) for step, work, outcome, _ in run])


async def record_together(runtime: GatewayRuntime, answers: list[tuple[Step, Any, Any]]) -> None:
    """One transaction for these answers, retried while the database is briefly unavailable
    (SQLite lock, failover, deadlock): giving up would leave the flows claimed until their
    lease runs out."""
    settings = runtime.settings
    retrying = AsyncRetrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential_jitter(initial=settings.send_backoff_initial_s, max=settings.send_backoff_max_s),
        stop=stop_after_delay(settings.dispatch_lease_s),
        reraise=True,
    )
    ordered = sorted(answers, key=lambda answer: answer[1].dossier_id)  # files locked in one order, as the consumer does
    async for attempt in retrying:
        with attempt:
            async with runtime.db_factory() as db, db.begin():
                for step, work, outcome in ordered:
                    await step(db, runtime, work, outcome)


# Set in the dispatcher's task, so in each send task it creates: its recorder (see `recorded`).
_recorder: ContextVar[Recorder | None] = ContextVar("outbound_recorder", default=None)


async def recorded(runtime: GatewayRuntime, step: Step, work: Any, outcome: Any) -> None:
    """Records the partner's answer (or its absence) with the dispatcher's recorder: `step(db,
    runtime, work, outcome)` runs in a transaction it may share with other answers; a flow
    changed meanwhile is left alone (`locked_flow`)."""
    free_slot = _call_slot.get()
    if free_slot is not None:
        free_slot()  # the partner has answered (or is unavailable): the next call may go
    recorder = _recorder.get()
    if recorder is None:  # outside a dispatcher: in a transaction of its own
        await record_together(runtime, [(step, work, outcome)])
        return
    await recorder.record(step, work, outcome)


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
        return
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
