"""Monthly runs, statements and the paying agency's batch."""

from __future__ import annotations

import logging
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.errors import NotFound
from pacte_common.http import CursorParam, IfMatch, LimitParam, Page, etag
from pacte_common.pagination import by_month, keyset_page
from pacte_common.service import DbSession, RuntimeDep

from remuneration.api.access import (
    ensure_statement_readable,
    may_see_identifiers_in_clear,
    siret_seen_by,
)
from remuneration.api.presenters import run_out, statement_out
from remuneration.api.schemas import RunIn, RunOut, StatementOut
from remuneration.app import runs as use_cases
from remuneration.db import runs as queries
from remuneration.db.models import Run, Statement
from remuneration.domain.money import Month

log = logging.getLogger(__name__)
router = APIRouter(tags=["runs"])

RegionOnly = Annotated[Principal, require_kind(OrgKind.REGION)]
RunReader = Annotated[Principal, require_kind(OrgKind.REGION, OrgKind.PAYING_AGENCY)]
StatementReader = Annotated[Principal, require_kind(OrgKind.REGION, OrgKind.PAYING_AGENCY, OrgKind.TRAINING_ORG)]
MonthPath = Annotated[str, Path(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2021-05"])]


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
    return run_out(run)


@router.get("/runs/{month}", response_model=RunOut, summary="A run: state, counts and totals")
async def get_run(month: MonthPath, principal: RunReader, db: DbSession, response: Response):
    run = await db.get(Run, month)
    if run is None:
        raise NotFound(f"No run for {month}")
    response.headers["ETag"] = etag(run.version)
    return run_out(run)


@router.post("/runs/{month}/validate", response_model=RunOut,
             summary="Freeze the run, issue the payments and produce the batch (a retry answers the same)",
             description="Months are validated in order (409 `months-out-of-order` names the month to do first). "
                         "Validating a validated run again, without If-Match or with the version it validated, "
                         "is a retry: 200 with the same body, nothing issued twice.")
async def validate_run(month: MonthPath, principal: RegionOnly, db: DbSession, runtime: RuntimeDep,
                   response: Response, if_match: IfMatch = None):
    run = await use_cases.validate(db, runtime, month, principal.describe(), if_match)
    response.headers["ETag"] = etag(run.version)
    return run_out(run)


@router.get("/statements", response_model=Page[StatementOut], summary="Statements, by month and/or file")
async def list_statements(
    principal: StatementReader, db: DbSession,
    month: Annotated[str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")] = None,
    dossier_id: UUID | None = None, status: Annotated[str | None, Query(pattern="^(computed|waiting)$")] = None,
    cursor: CursorParam = None, limit: LimitParam = 50,
):
    query = queries.statements_query(month=month, dossier_id=dossier_id, status=status,
                                     siret=siret_seen_by(principal))
    page = await keyset_page(db, query, by_month(Statement.run_month, Statement.id), cursor=cursor, limit=limit,
                             render=tuple, entities=False)
    items = [await statement_out(db, statement, state) for statement, state in page.items]
    return Page[StatementOut](items=items, next_cursor=page.next_cursor)


@router.get("/statements/{statement_id}", response_model=StatementOut,
            summary="One statement with every line: inputs, scale version, components and how they were obtained")
async def get_statement(statement_id: UUID, principal: StatementReader, db: DbSession):
    row = await queries.statement_with_run_state(db, statement_id)
    statement, run_state = ensure_statement_readable(principal, row)
    return await statement_out(db, statement, run_state)


BATCH_RESPONSES = {200: {"content": {"text/csv": {}}, "description": "The batch file (see domain/batch.py)"}}


@router.get("/batches/{month}", response_class=Response, responses=BATCH_RESPONSES,
            summary="The paying agency's batch file of a validated run (CSV; NIR and IBAN masked for the Region)")
async def get_batch(
    month: MonthPath,
    principal: Annotated[Principal, require_kind(OrgKind.PAYING_AGENCY, OrgKind.REGION)],
    db: DbSession, runtime: RuntimeDep,
):
    reveal = may_see_identifiers_in_clear(principal)
    text, lines, total = await use_cases.batch_csv(db, runtime, month, reveal)
    # Access to personal data (NIR, IBAN) is logged: who and what, never the data itself.
    log.info("batch %s downloaded by %s (%d lines)", month, principal.describe(), lines)
    return Response(
        text, media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="pacte-remuneration-{month}.csv"',
                 "X-Batch-Lines": str(lines), "X-Batch-Total": f"{total:.2f}", "Cache-Control": "no-store"},
    )
