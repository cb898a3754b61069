"""POST /emergency-aids: granted or refused with the reason; a granted aid is paid in the next batch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.contracts.remuneration import EmergencyAidGranted
from pacte_common.db import utcnow
from pacte_common.idempotency import IdempotencyKey, idempotent_create
from pacte_common.service import DbSession, RuntimeDep
from pacte_common.tracing import adopt_trace
from sqlalchemy import select

from remuneration.api.access import file_for_body
from remuneration.api.schemas import EmergencyAidIn, EmergencyAidOut
from remuneration.db.files import regime_facts
from remuneration.db.models import EmergencyAid
from remuneration.domain.emergency_aid import AidCase, decide_emergency_aid
from remuneration.domain.regime import Regime
from remuneration.domain.states import FileState

router = APIRouter(tags=["emergency aid"])
Requester = Annotated[Principal, require_kind(OrgKind.TRAINING_ORG, OrgKind.REGION)]


def aid_view(aid: EmergencyAid) -> EmergencyAidOut:
    return EmergencyAidOut(
        id=aid.id, dossier_id=aid.dossier_id, decision="granted" if aid.granted else "refused",
        reason_code=aid.reason_code, reason=aid.reason, amount=aid.amount, household_size=aid.household_size,
        monthly_resources=aid.monthly_resources, paid_in_run=aid.paid_in_run, created_at=aid.created_at,
    )


@router.post("/emergency-aids", status_code=201, response_model=EmergencyAidOut,
             summary="Ask for the emergency aid (250 €, once per file): granted or refused with the reason")
async def ask_emergency_aid(body: EmergencyAidIn, principal: Requester, session: DbSession, runtime: RuntimeDep,
                            idempotency_key: IdempotencyKey = None):
    async def create():
        file = await file_for_body(session, principal, body.dossier_id, lock=True)
        already = await session.scalar(
            select(EmergencyAid.id).where(EmergencyAid.dossier_id == file.dossier_id, EmergencyAid.granted.is_(True))
        )
        decision = decide_emergency_aid(AidCase(
            regime=Regime(file.regime) if file.regime else Regime.NONE,
            programme_code=file.programme_code,
            unemployment_benefit=regime_facts(file).unemployment_benefit,
            household_size=body.household_size,
            monthly_resources=body.monthly_resources,
            already_granted=already is not None,
            in_training=file.state == FileState.OPEN or (file.state == FileState.NOT_ENTITLED),
        ), runtime.settings.policy())
        aid = EmergencyAid(
            dossier_id=file.dossier_id, granted_dossier_id=file.dossier_id if decision.granted else None,
            granted=decision.granted, reason_code=decision.reason_code, reason=decision.reason,
            amount=decision.amount, household_size=body.household_size, monthly_resources=body.monthly_resources,
            requested_by=principal.describe(), created_at=utcnow(),
        )
        session.add(aid)
        await session.flush()
        if decision.granted:
            with adopt_trace(file.traceparent):
                await runtime.outbox.publish(session, EmergencyAidGranted(
                    dossier_id=file.dossier_id, person_id=file.person_id, occurred_at=aid.created_at, aid_id=aid.id,
                    amount=aid.amount,
                ), key=str(file.dossier_id))
        return 201, aid_view(aid)

    return await idempotent_create(session, runtime.tables, hasher=runtime.hasher, principal=principal, operation="emergency-aid",
                                   key=idempotency_key, payload=body.model_dump(mode="json"), create=create)
