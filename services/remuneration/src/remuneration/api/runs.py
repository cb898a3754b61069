"""Monthly runs, statements and the paying agency's batch."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.errors import NotFound
from pacte_common.http import CursorParam, IfMatch, LimitParam, Page, etag
from pacte_common.pagination import by_month, keyset_page
from pacte_common.service import DbSession, RuntimeDep
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.api.access import may_see
from remuneration.api.schemas import AdjustmentOut, ComponentOut, RunIn, RunOut, StatementOut
from remuneration.app import runs as use_cases
from remuneration.db import runs as queries
from remuneration.db.models import Run, Statement
from remuneration.domain.money import Month
from remuneration.domain.regime import REGIME_LABELS, Regime
from remuneration.domain.states import RUN, RUN_STATE_LABELS, RunState

log = logging.getLogger(__name__)
router = APIRouter(tags=["runs"])

RegionOnly = Annotated[Principal, require_kind(OrgKind.REGION)]
RunReader = Annotated[Principal, require_kind(OrgKind.REGION, OrgKind.PAYING_AGENCY)]
StatementReader = Annotated[Principal, require_kind(OrgKind.REGION, OrgKind.PAYING_AGENCY, OrgKind.TRAINING_ORG)]
MonthPath = Annotated[str, Path(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2021-05"])]


def run_view(run: Run) -> RunOut:
    return RunOut(
        month=run.month, state=run.state, state_label=RUN_STATE_LABELS[RunState(run.state)], version=run.version,
        computed_at=run.computed_at, computed_by=run.computed_by, validated_at=run.validated_at,
        validated_by=run.validated_by, statements_computed=run.statements_computed,
        statements_waiting=run.statements_waiting, payment_lines=run.payment_lines,
        months_reviewed=run.months_reviewed, total_amount=run.total_amount,
        component_totals={k: Decimal(v) for k, v in (run.component_totals or {}).items()},
        allowed_actions=[a.value for a in RUN.allowed_actions(run.state)],
        statements_url=f"/statements?month={run.month}",
        waiting_url=f"/statements?month={run.month}&status=waiting",
        batch_url=f"/batches/{run.month}" if run.state == RunState.VALIDATED else None,
    )


@router.post("/runs", status_code=201, response_model=RunOut,
             summary="Compute (or recompute, while a draft) the run of a month",
             description="Every earlier month of every file whose facts changed since a validated run settled it "
                         "is reviewed against the facts known now: differences "
                         "are paid or recovered as adjustments, explained line by line. 409 `months-out-of-order` "
                         "when the previous run with statements is not validated; 409 `missing-rate` when a rate "
                         "has no version in force for the month.")
async def create_run(body: RunIn, principal: RegionOnly, db: DbSession, runtime: RuntimeDep, response: Response):
    run = await use_cases.compute(db, runtime, Month.parse(body.month), principal.describe())
    response.headers["ETag"] = etag(run.version)
    response.headers["Location"] = f"/runs/{run.month}"
    return run_view(run)


@router.get("/runs/{month}", response_model=RunOut, summary="A run: state, counts and totals")
async def get_run(month: MonthPath, principal: RunReader, db: DbSession, response: Response):
    run = await db.get(Run, month)
    if run is None:
        raise NotFound(f"No run for {month}")
    response.headers["ETag"] = etag(run.version)
    return run_view(run)


@router.post("/runs/{month}/validate", response_model=RunOut,
             summary="Freeze the run, issue the payments and produce the batch (a retry answers the same)",
             description="Months are validated in order (409 `months-out-of-order` names the month to do first). "
                         "Validating a validated run again, without If-Match or with the version it validated, "
                         "is a retry: 200 with the same body, nothing issued twice.")
async def validate_run(month: MonthPath, principal: RegionOnly, db: DbSession, runtime: RuntimeDep,
                   response: Response, if_match: IfMatch = None):
    run = await use_cases.validate(db, runtime, month, principal.describe(), if_match)
    response.headers["ETag"] = etag(run.version)
    return run_view(run)


async def statement_view(db: AsyncSession, statement: Statement, run_state: str) -> StatementOut:
    adjustments = await queries.adjustments_of(db, statement.id)
    return StatementOut(
        id=statement.id, month=statement.run_month, run_state=run_state, dossier_id=statement.dossier_id,
        person_id=statement.person_id, status=statement.status, waiting_reason=statement.waiting_reason,
        regime=statement.regime, regime_label=REGIME_LABELS[Regime(statement.regime)],
        regime_reason=statement.regime_reason, scale_version=statement.scale_version, inputs=statement.inputs,
        components=[ComponentOut(**c) for c in statement.components], earned_amount=statement.earned_amount,
        amount=statement.amount, advance_outstanding_after=statement.advance_outstanding_after,
        overpayment_outstanding_after=statement.overpayment_outstanding_after,
        adjustments=[AdjustmentOut(concerned_month=a.concerned_month, attendance_version=a.attendance_version,
                                   recomputed_amount=a.recomputed_amount, delta=a.delta, explanation=a.explanation)
                     for a in adjustments],
        reviewed_months=statement.reviewed_months or [], trace_id=statement.trace_id,
    )


@router.get("/statements", response_model=Page[StatementOut], summary="Statements, by month and/or file")
async def list_statements(
    principal: StatementReader, db: DbSession,
    month: Annotated[str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")] = None,
    dossier_id: UUID | None = None, status: Annotated[str | None, Query(pattern="^(computed|waiting)$")] = None,
    cursor: CursorParam = None, limit: LimitParam = 50,
):
    query = queries.statements_query(month=month, dossier_id=dossier_id, status=status,
                                     siret=principal.org_id if principal.org_kind is OrgKind.TRAINING_ORG else None)
    page = await keyset_page(db, query, by_month(Statement.run_month, Statement.id), cursor=cursor, limit=limit,
                             render=tuple, entities=False)
    items = [await statement_view(db, statement, state) for statement, state in page.items]
    return Page[StatementOut](items=items, next_cursor=page.next_cursor)


@router.get("/statements/{statement_id}", response_model=StatementOut,
            summary="One statement with every line: inputs, scale version, components and how they were obtained")
async def get_statement(statement_id: UUID, principal: StatementReader, db: DbSession):
    row = await queries.statement_with_run_state(db, statement_id)
    if row is None or not may_see(principal, row[0].organisation_siret):
        raise NotFound("No such statement")
    return await statement_view(db, *row)


BATCH_RESPONSES = {200: {"content": {"text/csv": {}}, "description": "The batch file (see domain/batch.py)"}}


@router.get("/batches/{month}", response_class=Response, responses=BATCH_RESPONSES,
            summary="The paying agency's batch file of a validated run (CSV; NIR and IBAN masked for the Region)")
async def get_batch(
    month: MonthPath,
    principal: Annotated[Principal, require_kind(OrgKind.PAYING_AGENCY, OrgKind.REGION)],
    db: DbSession, runtime: RuntimeDep,
):
    # NIR and IBAN in clear only for who pays; the Region checks totals and lines on masked values.
    reveal = principal.org_kind is OrgKind.PAYING_AGENCY
    text, lines, total = await use_cases.batch_csv(db, runtime, month, reveal)
    # Access to personal data (NIR, IBAN) is logged: who and what, never the data itself.
    log.info("batch %s downloaded by %s (%d lines)", month, principal.describe(), lines)
    return Response(
        text, media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="pacte-remuneration-{month}.csv"',
                 "X-Batch-Lines": str(lines), "X-Batch-Total": f"{total:.2f}", "Cache-Control": "no-store"},
    )
