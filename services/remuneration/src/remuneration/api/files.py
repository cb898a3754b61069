"""POST /requests (the trainee's request at entry) and GET /files/{dossier_id} (the entitlement)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.http import IfMatch, etag
from pacte_common.idempotency import IdempotencyKey, answer_response
from pacte_common.service import DbSession, RuntimeDep
from pacte_common.tracing import trace_id_of

from remuneration.api.access import UNKNOWN_FILE, file_for_body, file_for_path
from remuneration.api.schemas import (
    DebtSummary,
    FileOut,
    RemunerationRequestIn,
    RequestAmendmentIn,
    RequestView,
)
from remuneration.app import files
from remuneration.db.debts import debts_of_file
from remuneration.db.files import attendance_versions, voided_attendance
from remuneration.db.models import RemunerationFile
from remuneration.domain.money import ZERO
from remuneration.domain.regime import REGIME_LABELS, Regime
from remuneration.domain.states import DEBT_STATE_LABELS, FILE_STATE_LABELS, DebtState, FileState

router = APIRouter(tags=["requests"])

Filer = Annotated[Principal, require_kind(OrgKind.TRAINING_ORG, OrgKind.REGION)]
Reader = Annotated[Principal, require_kind(OrgKind.TRAINING_ORG, OrgKind.REGION, OrgKind.PAYING_AGENCY)]


def file_view(file: RemunerationFile) -> FileOut:
    request = None
    if file.request_id:
        request = RequestView(
            request_id=file.request_id, filed_at=file.request_filed_at, filed_by=file.request_filed_by,
            facts=file.request_facts, iban_masked=file.iban_masked,
            nir_masked=file.request_facts.get("nir_masked"),
        )
    return FileOut(
        dossier_id=file.dossier_id, person_id=file.person_id, organisation_siret=file.organisation_siret,
        state=file.state, state_label=FILE_STATE_LABELS[FileState(file.state)], regime=file.regime,
        regime_label=REGIME_LABELS[Regime(file.regime)] if file.regime else None, regime_reason=file.regime_reason,
        differential_eligible=file.differential_eligible, entry_date=file.entry_date, exit_date=file.exit_date,
        programme_code=file.programme_code, request=request, trace_id=trace_id_of(file.traceparent),
        france_travail_benefit=(file.france_travail_answer or {}).get("unemployment_benefit"),
        version=file.version,
    )


@router.post("/requests", status_code=201, response_model=FileOut, responses=UNKNOWN_FILE,
             summary="File the trainee's remuneration request (RS1); before or after the entry")
async def file_request(body: RemunerationRequestIn, principal: Filer, db: DbSession, runtime: RuntimeDep,
                       idempotency_key: IdempotencyKey = None):
    answer = await files.file_request(
        db, runtime, principal, body, load=lambda: file_for_body(db, principal, body.dossier_id, lock=True),
        render=file_view, idempotency_key=idempotency_key,
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
    return file_view(file)


@router.get("/files/{dossier_id}", response_model=FileOut, summary="A file's entitlement: state, regime and why")
async def get_file(dossier_id: UUID, principal: Reader, db: DbSession, response: Response):
    file = await file_for_path(db, principal, dossier_id)
    response.headers["ETag"] = etag(file.version)
    view = file_view(file)
    view.attendance_versions = await attendance_versions(db, dossier_id)
    view.voided_attendance = await voided_attendance(db, dossier_id)
    if principal.org_kind in (OrgKind.REGION, OrgKind.PAYING_AGENCY):  # the trainee's money, not the organisation's
        debts = await debts_of_file(db, dossier_id)
        view.debts = [DebtSummary(id=d.id, state=d.state, state_label=DEBT_STATE_LABELS[DebtState(d.state)],
                                  amount=d.amount, balance=d.balance, url=f"/debts/{d.id}") for d in debts]
        view.debt_balance = sum((d.balance for d in debts), ZERO)
    return view
