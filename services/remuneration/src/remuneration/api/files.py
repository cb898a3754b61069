"""POST /requests (the trainee's request at entry) and GET /files/{dossier_id} (the entitlement)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.http import IfMatch, etag
from pacte_common.idempotency import IdempotencyKey, answer_response
from pacte_common.service import DbSession, RuntimeDep

from remuneration.api.access import UNKNOWN_FILE, file_for_body, file_for_path, may_see_debts
from remuneration.api.presenters import debt_summary_out, file_out
from remuneration.api.schemas import (
    FileOut,
    RemunerationRequestIn,
    RequestAmendmentIn,
)
from remuneration.app import files
from remuneration.db.debts import debts_of_file
from remuneration.db.files import attendance_versions, voided_attendance
from remuneration.domain.money import ZERO

router = APIRouter(tags=["requests"])

Filer = Annotated[Principal, require_kind(OrgKind.TRAINING_ORG, OrgKind.REGION)]
Reader = Annotated[Principal, require_kind(OrgKind.TRAINING_ORG, OrgKind.REGION, OrgKind.PAYING_AGENCY)]


@router.post("/requests", status_code=201, response_model=FileOut, responses=UNKNOWN_FILE,
             summary="File the trainee's remuneration request (RS1); before or after the entry")
async def file_request(body: RemunerationRequestIn, principal: Filer, db: DbSession, runtime: RuntimeDep,
                       idempotency_key: IdempotencyKey = None):
    answer = await files.file_request(
        db, runtime, principal, body, load=lambda: file_for_body(db, principal, body.dossier_id, lock=True),
        render=file_out, idempotency_key=idempotency_key,
    )
    return answer_response(answer, headers={"Location": f"/files/{body.dossier_id}"})


@router.patch("/requests/{dossier_id}", response_model=FileOut,
              summary="Correct facts of the request; the regime is decided again and paid months are reviewed",
              description="Months already paid are never rewritten: the next run recomputes them with the corrected "
                          "facts and pays the difference or recovers the overpayment, naming what changed.")
async def amend_request(dossier_id: UUID, body: RequestAmendmentIn, principal: Filer, db: DbSession,
                runtime: RuntimeDep, response: Response, if_match: IfMatch = None):
    file = await file_for_path(db, principal, dossier_id)
    changes = body.model_dump(mode="json", exclude_unset=True)
    file = await files.amend_request(db, runtime, file, changes, principal.describe(), if_match)
    response.headers["ETag"] = etag(file.version)
    return file_out(file)


@router.get("/files/{dossier_id}", response_model=FileOut, summary="A file's entitlement: state, regime and why")
async def get_file(dossier_id: UUID, principal: Reader, db: DbSession, response: Response):
    file = await file_for_path(db, principal, dossier_id)
    response.headers["ETag"] = etag(file.version)
    view = file_out(file)
    view.attendance_versions = await attendance_versions(db, dossier_id)
    view.voided_attendance = await voided_attendance(db, dossier_id)
    if may_see_debts(principal):
        debts = await debts_of_file(db, dossier_id)
        view.debts = [debt_summary_out(d) for d in debts]
        view.debt_balance = sum((d.balance for d in debts), ZERO)
    return view
