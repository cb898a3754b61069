"""The flow use cases: claim the due flows, send them to AGORA, record the answer, requeue,
and the operator's resend.

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
from datetime import datetime
from functools import partial
from typing import Any

from pacte_common.clock import utcnow
from pacte_common.contracts.people import open_identity
from pacte_common.errors import NotFound
from pacte_common.http import check_if_match
from pacte_common.tracing import adopt_trace
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.app.outbound.engine import (
    Partner,
    dispatch_loop,
    locked_flow,
    recorded,
    requeue,
    wake_after_commit,
)
from agora_gateway.clients.agora import AgoraAnswer, AgoraClient, AgoraUnavailable
from agora_gateway.db.models import Dossier, Flow, FlowTransitionLog
from agora_gateway.db.outbound import claim_heads, has_next_flow
from agora_gateway.db.queries import (
    SYSTEM,
    dossiers_of,
    due_heads,
    find_flow,
    get_dossier,
    next_due_at,
)
from agora_gateway.domain.agora_file import Operation
from agora_gateway.domain.export import kept_record_request
from agora_gateway.domain.flows import FLOW, OPERATOR_ROLE, FlowAction
from agora_gateway.domain.requests import (
    NotSendable,
    found_existing_answer,
    operation_request,
    search_query,
)
from agora_gateway.events.publish import (
    key_of,
    publish_acknowledged,
    publish_rejected,
    publish_sent,
)
from agora_gateway.runtime import GatewayRuntime

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


def seal_request(runtime: GatewayRuntime, request: dict) -> str:
    return runtime.cipher.encrypt(json.dumps(request, sort_keys=True, default=str), context=REQUEST_CONTEXT)


def open_request(runtime: GatewayRuntime, sealed: str) -> dict:
    return json.loads(runtime.cipher.decrypt(sealed, context=REQUEST_CONTEXT))


def move(db: AsyncSession, flow: Flow, action: FlowAction, *, actor: str = SYSTEM, reason: str | None = None,
         role: str | None = None) -> None:
    """The flow's state machine: check, set the status, log who/when/from/to/why (and the trace)."""
    FLOW.move(db, flow, action, log=FlowTransitionLog, actor=actor, role=role, reason=reason, flow_id=flow.id)


def wake_dispatcher(runtime: GatewayRuntime) -> None:
    runtime.dispatch_wakeup.set()


def wake_dispatcher_after_commit(db: AsyncSession, runtime: GatewayRuntime) -> None:
    """For a use case committed by its caller (the consumer): wake the dispatcher once it is."""
    wake_after_commit(db, runtime.dispatch_wakeup, "dispatch_wakeup_listener")


# ------------------------------------------------------------------ the dispatcher job


async def _next_due_at(db: AsyncSession, now: datetime) -> datetime | None:
    return await next_due_at(db, now=now)


async def dispatch_job(runtime: GatewayRuntime, stop: asyncio.Event) -> None:
    await dispatch_loop(runtime, stop, AGORA)


# ------------------------------------------------------------------ claim


async def claim_due(runtime: GatewayRuntime, limit: int) -> list[Work]:
    """The due head flows taken in one statement, logged in one, their files read in one."""
    settings = runtime.settings
    async with runtime.readers()() as reader:  # looking for work takes no write lock
        heads = await due_heads(
            reader, now=utcnow(), limit=limit, create_without_nir=settings.create_without_nir, exclude=set()
        )
    if not heads:
        return []
    async with runtime.db_factory() as db, db.begin():
        now = utcnow()
        sources = {head.id: head.status for head in heads}
        first_sends = {head.id for head in heads if head.first_sent_at is None}
        flows = await claim_heads(db, Flow, heads, now=now, lease_s=settings.dispatch_lease_s)
        if not flows:
            return []  # another process took them first
        # the claim is a conditional UPDATE: its log rows have the same check and columns as a move
        await db.execute(insert(FlowTransitionLog), [
            FLOW.checked_row(sources[flow.id], FlowAction.CLAIM, actor=SYSTEM, at=now,
                             reason=f"attempt {flow.attempts}", flow_id=flow.id) for flow in flows])
        dossiers = await dossiers_of(db, {flow.dossier_id for flow in flows})
        requests = [(flow, request) for flow in flows if (request := await _request(db, runtime, flow, dossiers[flow.dossier_id]))]
        sent = [flow for flow, _ in requests if flow.id in first_sends]
        for flow in sent:
            flow.first_sent_at = now
        await publish_sent(db, runtime, sent, dossiers)
        await db.flush()  # the versions the answers will be recorded against
    return [Work(flow.id, flow.dossier_id, Operation(flow.operation), request, key_of(flow), flow.version,
                 dossiers[flow.dossier_id].traceparent) for flow, request in requests]


async def _request(db: AsyncSession, runtime: GatewayRuntime, flow: Flow, dossier: Dossier) -> dict | None:
    """A claimed flow's request (built and sealed at its first claim, the same body after)."""
    if flow.request_encrypted is None:
        try:
            request = build_request(runtime, dossier, flow)
        except NotSendable as refused:
            await reject(db, runtime, flow, refused.code, refused.message)
            return None
        flow.request_encrypted = seal_request(runtime, request)
        if flow.operation == Operation.CREATE.value and request["data"]["identity"]["nir"]:
            dossier.nir_told = True
    else:
        request = open_request(runtime, flow.request_encrypted)
    return request


def build_request(runtime: GatewayRuntime, dossier: Dossier, flow: Flow) -> dict:
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
        trainee_status=runtime.settings.trainee_status,
    )


# ------------------------------------------------------------------ send and record


async def send(runtime: GatewayRuntime, client: AgoraClient, work: Work) -> None:
    with adopt_trace(work.traceparent):  # every call (and log line) about the file continues its trace
        try:
            answer = await exchange(client, work)
        except AgoraUnavailable as exc:
            await recorded(runtime, partial(requeue, model=Flow, move=move, partner="AGORA"), work, str(exc))
            return
        await recorded(runtime, record_answer, work, answer)


async def exchange(client: AgoraClient, work: Work) -> AgoraAnswer:
    if work.operation is Operation.BULK_LOAD:  # an operator resending a back-filled file
        answer = await client.bulk({"files": [work.request]}, work.key)
        result = (answer.body.get("results") or [{}])[0] if answer.acknowledged else answer.body
        return AgoraAnswer(200 if result.get("status") == "acknowledged" else 422, result)
    if work.operation is Operation.CREATE:
        found = await client.search(search_query(work.request))
        if found:  # a pre-existing file: adopt it rather than create a duplicate
            return AgoraAnswer(200, found_existing_answer(found[0]))
    return await client.operate(work.request, work.key)


async def _locked_flow(db: AsyncSession, work: Work) -> Flow | None:
    return await locked_flow(db, Flow, work)


async def record_answer(db: AsyncSession, runtime: GatewayRuntime, work: Work, answer: AgoraAnswer) -> None:
    """In the recorder's transaction (app/outbound/engine.py), with other answers."""
    flow = await _locked_flow(db, work)
    if flow is None:
        return
    flow.agora_answer = answer.body
    flow.answered_at = utcnow()
    flow.claimed_until = None
    if answer.acknowledged:
        await _acknowledge(db, runtime, flow, answer)
        # the file's next flow may go now (a poll for nothing costs the dispatcher a transaction)
        if await has_next_flow(db, Flow, flow.dossier_id, flow.sequence):
            wake_dispatcher_after_commit(db, runtime)
    else:
        await reject(db, runtime, flow, answer.code, answer.message)


async def _acknowledge(db: AsyncSession, runtime: GatewayRuntime, flow: Flow, answer: AgoraAnswer) -> None:
    found = " (pre-existing file found)" if answer.body.get("found_existing") else ""
    move(db, flow, FlowAction.ACKNOWLEDGE, reason="AGORA acknowledged" + found)
    dossier = await get_dossier(db, flow.dossier_id)
    assert dossier is not None
    dossier.agora_file_id = answer.body.get("agora_file_id") or dossier.agora_file_id
    dossier.agora_state = answer.body.get("file_state") or dossier.agora_state
    await publish_acknowledged(db, runtime, flow, dossier.agora_file_id, dossier.agora_state)


async def reject(db: AsyncSession, runtime: GatewayRuntime, flow: Flow, code: str, message: str, *, quiet: bool = False) -> None:
    move(db, flow, FlowAction.REJECT, reason=f"{code}: {message}")
    flow.rejection_code, flow.rejection_message = code, message
    flow.claimed_until = None
    flow.answered_at = utcnow()
    await publish_rejected(db, runtime, flow, code, message)
    (log.debug if quiet else log.warning)("AGORA rejected %s flow %s of dossier %s: %s", flow.operation, flow.id, flow.dossier_id, code)


# ------------------------------------------------------------------ the operator's resend


async def retry(db: AsyncSession, runtime: GatewayRuntime, flow_id: uuid.UUID, *, if_match: str | None, actor: str) -> Flow:
    """Resend a rejected flow after the data was fixed at the source (HTTP use case: commits)."""
    flow = await find_flow(db, flow_id, for_update=True)
    if flow is None:
        raise NotFound(f"No flow {flow_id}")
    check_if_match(if_match, flow.version)
    previous = f"{flow.rejection_code}: {flow.rejection_message}"
    move(db, flow, FlowAction.RETRY, actor=actor, role=OPERATOR_ROLE, reason=f"operator resend after {previous}")
    # A new revision: a new idempotency key, and the body rebuilt from the file's current
    # data (a back-filled file is resent as exported).
    flow.revision += 1
    if flow.operation != Operation.BULK_LOAD.value:
        flow.request_encrypted = None
    flow.first_sent_at = None
    flow.rejection_code = flow.rejection_message = None
    flow.failed_claims = 0
    flow.next_attempt_at = utcnow()
    await db.commit()
    wake_dispatcher(runtime)
    return flow


AGORA = Partner(
    name="agora",
    wakeup=lambda runtime: runtime.dispatch_wakeup,
    open_client=lambda runtime: AgoraClient(runtime.settings, reachability=runtime.agora_reachability),
    claim_due=claim_due,
    send=send,
    next_due_at=_next_due_at,
    model=Flow,
)
