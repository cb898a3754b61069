"""Debts: the list and one debt (Region and paying agency), the paying agency's demands and
repayments, the Region's write-offs, and the repayment demand file of a validated run."""

from __future__ import annotations

import logging
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.errors import NotFound
from pacte_common.http import CursorParam, IfMatch, LimitParam, Page, etag
from pacte_common.pagination import by_month, keyset_page
from pacte_common.service import DbSession, RuntimeDep
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.api.access import may_see_identifiers_in_clear
from remuneration.api.presenters import debt_detail_out, debt_out
from remuneration.api.runs import MonthPath
from remuneration.api.schemas import (
    DebtOut,
    DebtTotals,
    DemandIn,
    RepaymentIn,
    WriteOffIn,
)
from remuneration.app import debts as use_cases
from remuneration.app import runs as run_use_cases
from remuneration.db import debts as queries
from remuneration.db.models import Debt
from remuneration.domain.states import DebtState

log = logging.getLogger(__name__)
router = APIRouter(tags=["debts"])

DebtReader = Annotated[Principal, require_kind(OrgKind.REGION, OrgKind.PAYING_AGENCY)]
PayingAgency = Annotated[Principal, require_kind(OrgKind.PAYING_AGENCY)]
RegionOnly = Annotated[Principal, require_kind(OrgKind.REGION)]
StateFilter = Annotated[str | None, Query(pattern="^(" + "|".join(s.value for s in DebtState) + ")$")]
MonthFilter = Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


async def _answer(db: AsyncSession, debt: Debt, response: Response) -> DebtOut:
    response.headers["ETag"] = etag(debt.version)
    return await debt_detail_out(db, debt)


@router.get("/debts", response_model=Page[DebtOut], summary="Debts (money owed back), by state, file or run")
async def list_debts(principal: DebtReader, db: DbSession, state: StateFilter = None, dossier_id: UUID | None = None,
                     run_month: MonthFilter = None, cursor: CursorParam = None, limit: LimitParam = 50):
    query = queries.debts_query(state=state, dossier_id=dossier_id, run_month=run_month)
    return await keyset_page(db, query, by_month(Debt.run_month, Debt.id), cursor=cursor, limit=limit,
                             render=debt_out)


@router.get("/debts/totals", response_model=DebtTotals, summary="How many debts are still owed, and how much")
async def debt_totals(principal: DebtReader, db: DbSession):
    count, balance = await queries.owed_total(db)
    return DebtTotals(owed_debts=count, owed_balance=balance)


@router.get("/debts/{debt_id}", response_model=DebtOut,
            summary="One debt: amount, balance, where it comes from, its repayments and its history")
async def get_debt(debt_id: UUID, principal: DebtReader, db: DbSession, response: Response):
    debt = await db.get(Debt, debt_id)
    if debt is None:
        raise NotFound("No such debt")
    return await _answer(db, debt, response)


@router.post("/debts/{debt_id}/demand", response_model=DebtOut,
             summary="Record that the repayment demand (ordre de reversement) was sent to the trainee")
async def demand_debt(debt_id: UUID, body: DemandIn, principal: PayingAgency, db: DbSession, runtime: RuntimeDep,
                      response: Response, if_match: IfMatch = None):
    debt = await use_cases.demand(db, runtime, debt_id, reference=body.reference, demanded_on=body.demanded_on,
                                  actor=principal.describe(), if_match=if_match)
    return await _answer(db, debt, response)


@router.post("/debts/{debt_id}/repayments", status_code=201, response_model=DebtOut,
             summary="Record a repayment received; the same reference again answers 200 and changes nothing",
             description="422 naming `body.amount` when it is more than what is still owed; 409 when the reference "
                         "was recorded with another amount or date.")
async def record_repayment(debt_id: UUID, body: RepaymentIn, principal: PayingAgency, db: DbSession,
                           runtime: RuntimeDep, response: Response):
    debt, _, created = await use_cases.record_repayment(
        db, runtime, debt_id, use_cases.Repayment(body.amount, body.received_on, body.reference), principal.describe())
    if not created:
        response.status_code = 200
    return await _answer(db, debt, response)


@router.post("/debts/{debt_id}/write-off", response_model=DebtOut,
             summary="Write off what is left of a debt, with the Region's reason")
async def write_off_debt(debt_id: UUID, body: WriteOffIn, principal: RegionOnly, db: DbSession, runtime: RuntimeDep,
                         response: Response, if_match: IfMatch = None):
    debt = await use_cases.write_off(db, runtime, debt_id, reason=body.reason, actor=principal.describe(),
                                     if_match=if_match)
    return await _answer(db, debt, response)


DEMAND_RESPONSES = {200: {"content": {"text/csv": {}}, "description": "The repayment demand file (docs/remuneration.md)"}}


@router.get("/demands/{month}", response_class=Response, responses=DEMAND_RESPONSES,
            summary="The repayment demands of the debts a validated run opened (CSV; NIR and IBAN masked for the "
                    "Region)")
async def get_demands(month: MonthPath, principal: DebtReader, db: DbSession, runtime: RuntimeDep):
    reveal = may_see_identifiers_in_clear(principal)
    text, lines, total = await run_use_cases.demands_csv(db, runtime, month, reveal)
    log.info("repayment demands %s downloaded by %s (%d lines)", month, principal.describe(), lines)
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="pacte-repayment-demands-{month}.csv"',
        "X-Demand-Lines": str(lines), "X-Demand-Total": f"{total:.2f}", "Cache-Control": "no-store",
    })



