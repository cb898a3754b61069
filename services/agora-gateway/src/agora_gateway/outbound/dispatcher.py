"""Sends the queued flows to AGORA, in order per file, exactly once in effect.

The queue is the `agora_flows` table. A file's next flow goes only when every earlier one
is acknowledged (or recorded as excluded/delegated): a rejection stops the file until an
operator resends. A flow is claimed with a lease (status `sent`); if its process dies, the
lease runs out and the flow is claimed again and resent with the same idempotency key and
the same body, which AGORA answers with its first answer. AGORA unavailable (5xx, timeout)
→ quick retries with backoff and jitter, then back to the queue for later. Calls about a
file are made in the file's journey trace (`Dossier.traceparent`, `adopt_trace`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pacte_common.aio import wait_any
from pacte_common.bus import is_transient
from pacte_common.contracts.people import open_identity
from pacte_common.db import utcnow
from pacte_common.service import Runtime
from pacte_common.tracing import adopt_trace
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from agora_gateway.backfill.export import kept_record_request
from agora_gateway.db.models import Dossier, Flow
from agora_gateway.db.queries import claim, due_heads, get_dossier, move
from agora_gateway.db.reading import read_sessions
from agora_gateway.domain.agora_file import Operation
from agora_gateway.domain.flows import FlowAction, FlowStatus, requeue_delay
from agora_gateway.events.publish import (
    key_of,
    publish_acknowledged,
    publish_rejected,
    publish_sent,
)
from agora_gateway.outbound.client import AgoraAnswer, AgoraClient, AgoraUnavailable
from agora_gateway.outbound.requests import NotSendable, operation_request
from agora_gateway.settings import AgoraGatewaySettings

log = logging.getLogger(__name__)

REQUEST_CONTEXT = "agora-gateway.flow-request.v1"


@dataclass(frozen=True)
class Work:
    flow_id: uuid.UUID
    dossier_id: uuid.UUID
    operation: Operation
    request: dict[str, Any]
    key: str
    version: int
    traceparent: str | None = None  # the file's journey trace


def seal_request(runtime: Runtime, request: dict) -> str:
    return runtime.cipher.encrypt(json.dumps(request, sort_keys=True, default=str), context=REQUEST_CONTEXT)


def open_request(runtime: Runtime, sealed: str) -> dict:
    return json.loads(runtime.cipher.decrypt(sealed, context=REQUEST_CONTEXT))


async def dispatch_job(runtime: Runtime, stop: asyncio.Event) -> None:
    settings: AgoraGatewaySettings = runtime.settings  # type: ignore[assignment]
    wakeup: asyncio.Event = runtime.extras["dispatch_wakeup"]
    in_flight: set[asyncio.Task] = set()
    async with AgoraClient(settings, reachability=runtime.extras.get("agora_reachability")) as client:
        try:
            while not stop.is_set():
                wakeup.clear()
                free = settings.dispatch_concurrency - len(in_flight)
                claimed: list[Work] = []
                if free > 0:
                    claimed = await claim_due(runtime, min(free, settings.dispatch_batch_size))
                    for work in claimed:
                        in_flight.add(asyncio.create_task(send(runtime, client, work), name=f"agora-send-{work.flow_id}"))
                if claimed and len(in_flight) < settings.dispatch_concurrency:
                    continue  # more may be due right now
                await wait_any(stop, wakeup, tasks=in_flight, timeout=settings.dispatch_poll_interval_s)
                for task in [t for t in in_flight if t.done()]:
                    in_flight.discard(task)
                    if not task.cancelled() and task.exception() is not None:
                        log.error("agora send failed unexpectedly: %r", task.exception())
        finally:
            if in_flight:
                # Give in-flight sends a moment; what is cut off is resent after its lease.
                pending = in_flight
                if settings.dispatch_shutdown_grace_s > 0:
                    _, pending = await asyncio.wait(in_flight, timeout=settings.dispatch_shutdown_grace_s)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)


async def claim_due(runtime: Runtime, limit: int) -> list[Work]:
    settings: AgoraGatewaySettings = runtime.settings  # type: ignore[assignment]
    claimed: list[Work] = []
    async with read_sessions(runtime)() as reader:  # looking for work takes no write lock
        heads = await due_heads(
            reader, now=utcnow(), limit=limit, create_without_nir=settings.create_without_nir, exclude=set()
        )
    if not heads:
        return claimed
    async with runtime.sessions() as session, session.begin():
        now = utcnow()
        for head in heads:
            flow = await session.get(Flow, head.id)
            if flow is None or not await claim(session, flow, now=now, lease_s=settings.dispatch_lease_s):
                continue
            dossier = await get_dossier(session, flow.dossier_id)
            assert dossier is not None
            if flow.request_encrypted is None:
                try:
                    request = build_request(runtime, dossier, flow)
                except NotSendable as refused:
                    await reject(runtime, session, flow, refused.code, refused.message)
                    continue
                flow.request_encrypted = seal_request(runtime, request)
                if flow.operation == Operation.CREATE.value and request["data"]["identity"]["nir"]:
                    dossier.nir_told = True
            else:
                request = open_request(runtime, flow.request_encrypted)
            if flow.first_sent_at is None:
                flow.first_sent_at = now
                await publish_sent(runtime, session, flow)
            claimed.append(
                Work(flow.id, flow.dossier_id, Operation(flow.operation), request, key_of(flow), flow.version, dossier.traceparent)
            )
    return claimed


def build_request(runtime: Runtime, dossier: Dossier, flow: Flow) -> dict:
    identity = open_identity(runtime.cipher, dossier.identity_encrypted) if dossier.identity_encrypted else None
    if flow.operation == Operation.BULK_LOAD.value and dossier.backfill_record_encrypted:
        # a back-filled file kept until its NIR came: its exported record, with that NIR
        return kept_record_request(runtime.cipher, dossier.backfill_record_encrypted, identity)
    return operation_request(
        Operation(flow.operation),
        snapshot=dossier.snapshot,
        identity=identity,
        flow_data=flow.data,
        agora_file_id=dossier.agora_file_id,
        trainee_status=runtime.settings.trainee_status,  # type: ignore[attr-defined]
    )


async def send(runtime: Runtime, client: AgoraClient, work: Work) -> None:
    with adopt_trace(work.traceparent):  # every call (and log line) about the file continues its trace
        try:
            answer = await exchange(client, work)
        except AgoraUnavailable as exc:
            await _recorded(runtime, requeue, work, str(exc))
            return
        await _recorded(runtime, record_answer, work, answer)


async def _recorded(runtime: Runtime, step, work: Work, outcome) -> None:
    """Records AGORA's answer (or its absence), retrying while the database is briefly
    unavailable (SQLite lock, failover): giving up would leave the flow claimed until its
    lease runs out. Each try is one transaction; a flow changed meanwhile is left alone."""
    settings: AgoraGatewaySettings = runtime.settings  # type: ignore[assignment]
    retrying = AsyncRetrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential_jitter(initial=settings.send_backoff_initial_s, max=settings.send_backoff_max_s),
        stop=stop_after_delay(settings.dispatch_lease_s),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            await step(runtime, work, outcome)


async def exchange(client: AgoraClient, work: Work) -> AgoraAnswer:
    if work.operation is Operation.BULK_LOAD:  # an operator resending a back-filled file
        answer = await client.bulk({"files": [work.request]}, work.key)
        result = (answer.body.get("results") or [{}])[0] if answer.acknowledged else answer.body
        return AgoraAnswer(200 if result.get("status") == "acknowledged" else 422, result)
    if work.operation is Operation.CREATE:
        data = work.request["data"]
        found = await client.search(
            {
                "funder_ref": data["funder_ref"],
                "nir": data["identity"]["nir"],
                "organisation_siret": data["organisation_siret"],
                "session_start_date": data["session_start_date"],
            }
        )
        if found:  # a pre-existing file: adopt it rather than create a duplicate
            existing = found[0]
            return AgoraAnswer(
                200,
                {"status": "acknowledged", "operation": "create", "agora_file_id": existing["agora_file_id"], "file_state": existing["state"], "found_existing": True},
            )
    return await client.operate(work.request, work.key)


async def _locked_flow(session, work: Work) -> Flow | None:
    from sqlalchemy import select

    flow = (await session.execute(select(Flow).where(Flow.id == work.flow_id).with_for_update())).scalar_one_or_none()
    if flow is None or flow.version != work.version or flow.status != FlowStatus.SENT.value:
        log.info("flow %s changed meanwhile (claimed again?): answer dropped", work.flow_id)
        return None
    return flow


async def record_answer(runtime: Runtime, work: Work, answer: AgoraAnswer) -> None:
    async with runtime.sessions() as session, session.begin():
        flow = await _locked_flow(session, work)
        if flow is None:
            return
        flow.agora_answer = answer.body
        flow.answered_at = utcnow()
        flow.claimed_until = None
        if answer.acknowledged:
            move(flow, FlowAction.ACKNOWLEDGE, session, reason="AGORA acknowledged" + (" (pre-existing file found)" if answer.body.get("found_existing") else ""))
            dossier = await get_dossier(session, flow.dossier_id)
            assert dossier is not None
            dossier.agora_file_id = answer.body.get("agora_file_id") or dossier.agora_file_id
            dossier.agora_state = answer.body.get("file_state") or dossier.agora_state
            await publish_acknowledged(runtime, session, flow, dossier.agora_file_id, dossier.agora_state)
        else:
            await reject(runtime, session, flow, answer.code, answer.message)
    wake = runtime.extras.get("dispatch_wakeup")
    if wake is not None:
        wake.set()  # the file's next flow may go now


async def reject(runtime: Runtime, session, flow: Flow, code: str, message: str, *, quiet: bool = False) -> None:
    move(flow, FlowAction.REJECT, session, reason=f"{code}: {message}")
    flow.rejection_code, flow.rejection_message = code, message
    flow.claimed_until = None
    flow.answered_at = utcnow()
    await publish_rejected(runtime, session, flow, code, message)
    (log.debug if quiet else log.warning)("AGORA rejected %s flow %s of dossier %s: %s", flow.operation, flow.id, flow.dossier_id, code)


async def requeue(runtime: Runtime, work: Work, error: str) -> None:
    settings: AgoraGatewaySettings = runtime.settings  # type: ignore[assignment]
    async with runtime.sessions() as session, session.begin():
        flow = await _locked_flow(session, work)
        if flow is None:
            return
        move(flow, FlowAction.REQUEUE, session, reason=error)
        flow.failed_claims += 1
        flow.last_error = error
        flow.claimed_until = None
        delay = requeue_delay(flow.failed_claims, settings.requeue_delay_initial_s, settings.requeue_delay_max_s)
        flow.next_attempt_at = utcnow() + timedelta(seconds=delay)
    log.warning("AGORA unavailable for flow %s (%s); next try in %.1fs", work.flow_id, error, delay)
