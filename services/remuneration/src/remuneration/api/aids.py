"""POST /emergency-aids: granted or refused with the reason; a granted aid is paid in the next batch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.idempotency import IdempotencyKey, answer_response
from pacte_common.service import DbSession, RuntimeDep

from remuneration.api.access import UNKNOWN_FILE, file_for_body
from remuneration.api.presenters import aid_out
from remuneration.api.schemas import EmergencyAidIn, EmergencyAidOut
from remuneration.app import aids

router = APIRouter(tags=["emergency aid"])
Requester = Annotated[Principal, require_kind(OrgKind.TRAINING_ORG, OrgKind.REGION)]


@router.post("/emergency-aids", status_code=201, response_model=EmergencyAidOut, responses=UNKNOWN_FILE,
             summary="Ask for the emergency aid (250 €, once per file): granted or refused with the reason")
async def ask_emergency_aid(body: EmergencyAidIn, principal: Requester, db: DbSession, runtime: RuntimeDep,
                            idempotency_key: IdempotencyKey = None):
    return answer_response(await aids.ask_emergency_aid(
        db, runtime, principal, body, load=lambda: file_for_body(db, principal, body.dossier_id, lock=True),
        render=aid_out, idempotency_key=idempotency_key,
    ))
