"""France Travail on the outbound engine (docs/france-travail.md): the certificates a trainee's
file owes France Travail (AIS, AES, interruption, resumption, end, cancellation), queued per
file, sent in order and exactly once, and the answers recorded.

The person's France Travail identifier comes sealed in the trainee event's identity (taken
at prescription or enrolment); the gateway keeps it encrypted and masked, never in a key, a
URL, a log line or an event. A file without one is queued and listed as waiting. A refusal
(France Travail's code and message, or the gateway's own check of the identifier's format)
stops only that file until an operator resends. An acknowledged AES publishes what it says
of the person's unemployment benefit, from which remuneration decides the regime.
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
from pacte_common.contracts.france_travail import FranceTravailBenefitAnswered
from pacte_common.contracts.people import open_identity
from pacte_common.contracts.sessions import AttendanceEvent, TraineeEvent
from pacte_common.errors import NotFound
from pacte_common.http import check_if_match
from pacte_common.tracing import adopt_trace, current_traceparent, parse_traceparent
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
from agora_gateway.clients.france_travail import FranceTravailClient, FranceTravailUnavailable
from agora_gateway.clients.partner import PartnerAnswer
from agora_gateway.db.france_travail import (
    find_ft_flow,
    ft_due_heads,
    ft_file_flows,
    ft_files,
    ft_files_for_update,
    ft_next_due_at,
    get_ft_file,
)
from agora_gateway.db.models import FtFile, FtFlow, FtFlowTransitionLog
from agora_gateway.db.outbound import claim_heads, has_next_flow
from agora_gateway.db.queries import SYSTEM
from agora_gateway.domain.agora_file import TraineeStep
from agora_gateway.domain.france_travail import (
    FT_FLOW,
    INVALID_IDENTIFIER,
    MALFORMED_ANSWER,
    BenefitAnswer,
    FtOperation,
    MalformedAnswer,
    attendance_certificate_due,
    attendance_data,
    benefit_of,
    certificate_data,
    certificate_request,
    ft_idempotency_key,
    mask_identifier,
    normalise_identifier,
    plan,
    valid_identifier,
)
from agora_gateway.domain.outbound import OPERATOR_ROLE, FlowAction, FlowStatus
from agora_gateway.runtime import GatewayRuntime

log = logging.getLogger(__name__)

IDENTIFIER_CONTEXT = "agora-gateway.france-travail-id.v1"
REQUEST_CONTEXT = "agora-gateway.france-travail-request.v1"


@dataclass(frozen=True)
class FtWork:
    flow_id: uuid.UUID
    dossier_id: uuid.UUID
    operation: FtOperation
    request: dict[str, Any]
    key: str
    version: int
    traceparent: str | None = None


def _move(db: AsyncSession, flow: FtFlow, action: FlowAction, *, actor: str = SYSTEM, reason: str | None = None,
          role: str | None = None) -> None:
    FT_FLOW.move(db, flow, action, log=FtFlowTransitionLog, actor=actor, role=role, reason=reason, flow_id=flow.id)


def key_of(flow: FtFlow) -> str:
    return ft_idempotency_key(flow.dossier_id, flow.sequence, flow.operation, flow.revision)


# ------------------------------------------------------------------ queueing (consumed trainee events)


async def followed_files(db: AsyncSession, dossier_ids: set[uuid.UUID]) -> dict[uuid.UUID, FtFile]:
    """A batch's files as France Travail's queue follows them, locked and read once for the
    batch; new ones are added as events create them."""
    return await ft_files_for_update(db, dossier_ids)


def on_trainee_event(db: AsyncSession, runtime: GatewayRuntime, files: dict[uuid.UUID, FtFile], event: TraineeEvent,
                     step: TraineeStep) -> None:
    """Runs in the consumer's inbox transaction (no commit): the file kept, its certificates queued."""
    if not runtime.settings.france_travail_enabled:
        return
    file = _followed_file(db, runtime, files, event)
    for operation in plan(set(file.planned), step):
        _queue(db, runtime, file, operation, certificate_data(operation, event), event.event_type)
    if file.has_identifier:  # an identity that brings the identifier lets the waiting certificates go
        wake_after_commit(db, runtime.ft_dispatch_wakeup, "ft_dispatch_wakeup_listener")


async def on_attendance_statement(db: AsyncSession, runtime: GatewayRuntime, event: AttendanceEvent) -> None:
    """A month signed on the attendance sheets (or its correction) queued as an `attendance`
    certificate on a file France Travail follows, after its AES (inbox transaction, no commit).
    Heard before its file or its entry, it raises `AttendanceBeforeEntry`: the consumer retries it,
    then dead-letters it where an operator sees it and replays it (docs/france-travail.md §2)."""
    if not runtime.settings.france_travail_enabled:
        return
    file = await get_ft_file(db, event.dossier_id, for_update=True)
    planned = set(file.planned) if file is not None else None
    if not attendance_certificate_due(planned, event.source):
        return
    data = attendance_data(event)
    queued = [flow.data["version"] for flow in await ft_file_flows(db, file.id)
              if flow.operation == FtOperation.ATTENDANCE.value and flow.data["month"] == data["month"]]
    if any(version >= data["version"] for version in queued):
        return  # heard again, or older than a version already queued: France Travail would refuse it
    _queue(db, runtime, file, FtOperation.ATTENDANCE, data, event.event_type)


def _queue(db: AsyncSession, runtime: GatewayRuntime, file: FtFile, operation: FtOperation, data: dict[str, Any],
           event_type: str) -> None:
    """One certificate at the end of the file's queue; the dispatcher woken once it is committed."""
    flow = FtFlow(id=uuid.uuid4(), dossier_id=file.id, sequence=file.next_sequence, operation=operation.value,
                  status=FlowStatus.PENDING.value, revision=1, data=data, event_type=event_type, attempts=0,
                  failed_claims=0, next_attempt_at=utcnow(), version=1)
    file.next_sequence += 1
    file.planned = [*file.planned, operation.value]
    db.add(flow)
    FT_FLOW.record_creation(db, flow, log=FtFlowTransitionLog, actor=SYSTEM, action="queue",
                            reason=f"planned from {event_type}", flow_id=flow.id)
    if file.has_identifier:
        wake_after_commit(db, runtime.ft_dispatch_wakeup, "ft_dispatch_wakeup_listener")


def _followed_file(db: AsyncSession, runtime: GatewayRuntime, files: dict[uuid.UUID, FtFile], event: TraineeEvent) -> FtFile:
    snapshot = event.dossier
    file = files.get(snapshot.dossier_id)
    if file is None:
        file = FtFile(id=snapshot.dossier_id, person_id=snapshot.person_id, has_identifier=False, snapshot={},
                      snapshot_version=0, planned=[], next_sequence=1)
        db.add(file)
        files[file.id] = file
    if snapshot.version >= file.snapshot_version:
        file.snapshot = snapshot.model_dump(mode="json", exclude={"identity_encrypted"})
        file.snapshot_version = snapshot.version
        if snapshot.identity_encrypted:
            identity = open_identity(runtime.cipher, snapshot.identity_encrypted)
            keep_identifier(runtime, file, normalise_identifier(identity.france_travail_id))
    if file.traceparent is None:
        file.traceparent = parse_traceparent(current_traceparent.get())
    return file


def keep_identifier(runtime: GatewayRuntime, file: FtFile, identifier: str | None) -> None:
    """The identifier sealed and masked; a later identity without one keeps the one known."""
    if identifier is None:
        return
    file.identifier_encrypted = runtime.cipher.encrypt(identifier, context=IDENTIFIER_CONTEXT)
    file.identifier_masked = mask_identifier(identifier)
    file.has_identifier = True


# ------------------------------------------------------------------ claim


async def claim_due(runtime: GatewayRuntime, limit: int) -> list[FtWork]:
    """The due head certificates taken in one statement, logged in one, their files read in one."""
    async with runtime.readers()() as reader:
        heads = await ft_due_heads(reader, now=utcnow(), limit=limit)
    if not heads:
        return []
    async with runtime.db_factory() as db, db.begin():
        now = utcnow()
        sources = {head.id: head.status for head in heads}
        flows = await claim_heads(db, FtFlow, heads, now=now, lease_s=runtime.settings.dispatch_lease_s)
        if not flows:
            return []
        # the claim is a conditional UPDATE: its log rows have the same check and columns as a move
        await db.execute(insert(FtFlowTransitionLog), [
            FT_FLOW.checked_row(sources[flow.id], FlowAction.CLAIM, actor=SYSTEM, at=now,
                                reason=f"attempt {flow.attempts}", flow_id=flow.id) for flow in flows])
        files = await ft_files(db, {flow.dossier_id for flow in flows})
        requests = [(flow, request) for flow in flows if (request := await _request(db, runtime, flow, files[flow.dossier_id], now))]
        await db.flush()  # the versions the answers will be recorded against
    return [FtWork(flow.id, flow.dossier_id, FtOperation(flow.operation), request, key_of(flow), flow.version,
                   files[flow.dossier_id].traceparent) for flow, request in requests]


async def _request(db: AsyncSession, runtime: GatewayRuntime, flow: FtFlow, file: FtFile, now: datetime) -> dict | None:
    """A claimed certificate's request (built and sealed at its first claim, the same body after)."""
    assert file.identifier_encrypted is not None
    if flow.request_encrypted is None:
        identifier = runtime.cipher.decrypt(file.identifier_encrypted, context=IDENTIFIER_CONTEXT)
        if not valid_identifier(identifier):
            await reject(db, runtime, flow, INVALID_IDENTIFIER,
                         f"The France Travail identifier {file.identifier_masked} is not in the expected format")
            return None
        request = certificate_request(FtOperation(flow.operation), identifier=identifier, dossier_id=file.id,
                                      snapshot=file.snapshot, data=flow.data)
        flow.request_encrypted = runtime.cipher.encrypt(json.dumps(request, sort_keys=True), context=REQUEST_CONTEXT)
    else:
        request = json.loads(runtime.cipher.decrypt(flow.request_encrypted, context=REQUEST_CONTEXT))
    if flow.first_sent_at is None:
        flow.first_sent_at = now
    return request


# ------------------------------------------------------------------ send and record


async def send(runtime: GatewayRuntime, client: FranceTravailClient, work: FtWork) -> None:
    with adopt_trace(work.traceparent):
        try:
            answer = await client.certify(work.request, work.key)
        except FranceTravailUnavailable as exc:
            await recorded(runtime, partial(requeue, model=FtFlow, move=_move, partner="France Travail"), work, str(exc))
            return
        await recorded(runtime, record_answer, work, answer)


async def record_answer(db: AsyncSession, runtime: GatewayRuntime, work: FtWork, answer: PartnerAnswer) -> None:
    """In the recorder's transaction (app/outbound/engine.py), with other answers."""
    flow = await locked_flow(db, FtFlow, work)
    if flow is None:
        return
    flow.answer = answer.body
    flow.answered_at = utcnow()
    flow.claimed_until = None
    if answer.acknowledged:
        await _acknowledge(db, runtime, flow, answer.body)
        if await has_next_flow(db, FtFlow, flow.dossier_id, flow.sequence):  # the file's next certificate may go
            wake_after_commit(db, runtime.ft_dispatch_wakeup, "ft_dispatch_wakeup_listener")
    else:
        await reject(db, runtime, flow, answer.code, answer.message)


async def _acknowledge(db: AsyncSession, runtime: GatewayRuntime, flow: FtFlow, body: dict[str, Any]) -> None:
    """An acknowledgement whose benefit cannot be read is recorded as a refusal of that file
    (`malformed_answer`): the answer is kept, the file waits, an operator resends."""
    try:
        benefit = benefit_of(body) if flow.operation == FtOperation.AES.value else None
    except MalformedAnswer as exc:
        await reject(db, runtime, flow, MALFORMED_ANSWER, f"France Travail's answer is malformed: {exc}")
        return
    _move(db, flow, FlowAction.ACKNOWLEDGE, reason="France Travail acknowledged")
    if benefit is not None:
        await _publish_benefit(db, runtime, flow, benefit)


async def _publish_benefit(db: AsyncSession, runtime: GatewayRuntime, flow: FtFlow, benefit: BenefitAnswer) -> None:
    file = await get_ft_file(db, flow.dossier_id)
    event = FranceTravailBenefitAnswered(
        flow_id=flow.id, dossier_id=flow.dossier_id, person_id=file.person_id if file else None, occurred_at=utcnow(),
        certificate_id=benefit.certificate_id, revision=flow.revision, unemployment_benefit=benefit.unemployment_benefit,
        daily_amount=benefit.daily_amount, benefit_end_date=benefit.benefit_end_date, answered_at=flow.answered_at,
    )
    with adopt_trace(file.traceparent if file else None):
        await runtime.outbox.publish(db, event, key=str(flow.dossier_id))


async def reject(db: AsyncSession, runtime: GatewayRuntime, flow: FtFlow, code: str, message: str) -> None:
    """France Travail's code and message kept on the flow (the database, not the logs): the file waits."""
    _move(db, flow, FlowAction.REJECT, reason=f"refused: {code}")
    flow.rejection_code, flow.rejection_message = code, message
    flow.claimed_until = None
    flow.answered_at = utcnow()
    log.warning("France Travail refused %s flow %s of dossier %s: %s", flow.operation, flow.id, flow.dossier_id, code)


# ------------------------------------------------------------------ the operator's resend


async def retry(db: AsyncSession, runtime: GatewayRuntime, flow_id: uuid.UUID, *, if_match: str | None, actor: str) -> FtFlow:
    """Resend a refused certificate after the data (the identifier, at the source) was corrected; commits."""
    flow = await find_ft_flow(db, flow_id, for_update=True)
    if flow is None:
        raise NotFound(f"No France Travail flow {flow_id}")
    check_if_match(if_match, flow.version)
    _move(db, flow, FlowAction.RETRY, actor=actor, role=OPERATOR_ROLE,
          reason=f"operator resend after {flow.rejection_code}")
    flow.revision += 1  # a new idempotency key, and the body rebuilt from the file's current data
    flow.request_encrypted = None
    flow.first_sent_at = None
    flow.rejection_code = flow.rejection_message = None
    flow.failed_claims = 0
    flow.next_attempt_at = utcnow()
    await db.commit()
    runtime.ft_dispatch_wakeup.set()
    return flow


# ------------------------------------------------------------------ the dispatcher


FRANCE_TRAVAIL = Partner(
    name="france-travail",
    wakeup=lambda runtime: runtime.ft_dispatch_wakeup,
    open_client=lambda runtime: FranceTravailClient(runtime.settings, reachability=runtime.france_travail_reachability),
    claim_due=claim_due,
    send=send,
    next_due_at=ft_next_due_at,
    model=FtFlow,
)


async def ft_dispatch_job(runtime: GatewayRuntime, stop: asyncio.Event) -> None:
    if not runtime.settings.france_travail_enabled:
        await stop.wait()
        return
    await dispatch_loop(runtime, stop, FRANCE_TRAVAIL)
