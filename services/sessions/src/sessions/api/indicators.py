"""`GET /indicators`: the Pacte's monitoring indicators (DOMAIN.md §8), JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pacte_common.auth import CurrentPrincipal, OrgKind
from pacte_common.errors import Forbidden, Invalid
from pacte_common.http import IsoDate
from pacte_common.service import DbSession, RuntimeDep
from sqlalchemy import select

from sessions.db.models import Action, AttendanceStatement, Dossier, Programme, TrainingSession
from sessions.domain.indicators import (
    Average,
    FileFacts,
    IndicatorPolicy,
    Period,
    Ratio,
    SessionFacts,
    compute,
)

router = APIRouter(tags=["indicators"])

SCOPES = {"all": "all", "F": "sex:F", "M": "sex:M"}


def policy_of(settings) -> IndicatorPolicy:
    return IndicatorPolicy(
        disabled_target=settings.indicator_disabled_target,
        senior_age=settings.indicator_senior_age,
        young_age_limit=settings.indicator_young_age_limit,
        long_term_months=settings.indicator_long_term_months,
        low_qualified_levels=frozenset(settings.indicator_low_qualified_levels),
    )


async def load_facts(db, *, programme=None, departement=None, organisation=None):
    """Files and sessions within the filters, plus all files for the PRÉPA → VISA follow-up."""
    realised: dict = {}
    for dossier_id, attended, in_company in (
        await db.execute(
            select(AttendanceStatement.dossier_id, AttendanceStatement.attended_hours, AttendanceStatement.in_company_hours).where(
                AttendanceStatement.current.is_(True)
            )
        )
    ).all():
        realised[dossier_id] = realised.get(dossier_id, Decimal("0")) + attended + in_company

    query = (
        select(Dossier, TrainingSession, Action, Programme)
        .join(TrainingSession, Dossier.session_id == TrainingSession.id)
        .join(Action, TrainingSession.action_id == Action.id)
        .join(Programme, Action.programme_id == Programme.id)
    )
    all_files, scoped_files = [], []
    for dossier, session, action, prog in (await db.execute(query)).unique().all():
        profile = dossier.profile
        facts = FileFacts(
            dossier_id=dossier.id,
            person_id=dossier.person_id,
            session_id=session.id,
            sex=profile["sex"],
            birth_date=date.fromisoformat(profile["birth_date"]),
            education_level=profile.get("education_level"),
            jobseeker_registration_date=date.fromisoformat(profile["jobseeker_registration_date"]) if profile.get("jobseeker_registration_date") else None,
            disabled_worker=bool(profile.get("disabled_worker")),
            qpv=bool(profile.get("qpv")),
            pillar=prog.pillar,
            status=dossier.status,
            entry_date=dossier.entry_date,
            exit_date=dossier.exit_date,
            exit_kind=dossier.exit_kind,
            dropout_reason=dossier.dropout_reason,
            certification_result=dossier.certification_result,
            realised_hours=dossier.realised_hours if dossier.realised_hours is not None else realised.get(dossier.id, Decimal("0")),
            programmed_hours=action.hours_in_centre + action.hours_in_company,
        )
        all_files.append(facts)
        if _in_scope(action, prog, programme, departement, organisation):
            scoped_files.append(facts)

    session_query = (
        select(TrainingSession, Action, Programme)
        .join(Action, TrainingSession.action_id == Action.id)
        .join(Programme, Action.programme_id == Programme.id)
    )
    sessions = [
        SessionFacts(session.id, session.places, session.start_date, session.end_date)
        for session, action, prog in (await db.execute(session_query)).unique().all()
        if _in_scope(action, prog, programme, departement, organisation)
    ]
    return scoped_files, sessions, all_files


def _in_scope(action, prog, programme, departement, organisation) -> bool:
    return (
        (programme is None or prog.code == programme)
        and (departement is None or action.departement == departement)
        and (organisation is None or action.organisation_siret == organisation)
    )


def _render(value: Ratio | Average) -> dict:
    if isinstance(value, Ratio):
        body = {"numerator": value.numerator, "denominator": value.denominator, "value": value.value}
        if value.target is not None:
            body.update(target=value.target, meets_target=value.meets_target)
        return body
    return {"total": value.total, "count": value.count, "value": value.value}


@router.get("/indicators", summary="Monitoring indicators, by sex; JSON or CSV (Accept: text/csv)")
async def indicators(
    request: Request,
    principal: CurrentPrincipal,
    db: DbSession,
    runtime: RuntimeDep,
    period_from: Annotated[IsoDate | None, Query(alias="from")] = None,
    period_to: Annotated[IsoDate | None, Query(alias="to")] = None,
    programme: str | None = None,
    departement: str | None = None,
    organisation: str | None = None,
):
    if principal.org_kind is OrgKind.TRAINING_ORG:
        if organisation not in (None, principal.org_id):
            raise Forbidden("A training organisation sees its own indicators")
        organisation = principal.org_id
    elif principal.org_kind is not OrgKind.REGION:
        raise Forbidden("Indicators are read by the Region and training organisations")
    if period_from and period_to and period_to < period_from:
        raise Invalid("'to' must be on or after 'from'", field="query.to")
    files, sessions, everyone = await load_facts(db, programme=programme, departement=departement, organisation=organisation)
    result = compute(files, sessions, Period(period_from, period_to), policy_of(runtime.settings), follow_up_files=everyone)
    filters = {"from": period_from, "to": period_to, "programme": programme, "departement": departement, "organisation": organisation}

    if "text/csv" in request.headers.get("accept", ""):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["scope", "indicator", "numerator", "denominator", "value", "target"])
        for scope, label in SCOPES.items():
            indicator_set = result[scope]
            writer.writerow([label, "entries", indicator_set.entries, "", indicator_set.entries, ""])
            for name, value in indicator_set.values.items():
                if isinstance(value, Ratio):
                    writer.writerow([label, name, value.numerator, value.denominator, "" if value.value is None else value.value, value.target or ""])
                else:
                    writer.writerow([label, name, value.total, value.count, "" if value.value is None else value.value, ""])
        return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": 'attachment; filename="indicators.csv"'})

    def one(indicator_set) -> dict:
        return {"entries": indicator_set.entries, **{name: _render(v) for name, v in indicator_set.values.items()}}

    body = {"filters": filters, "all": one(result["all"]), "by_sex": {sex: one(result[sex]) for sex in ("F", "M")}}
    return JSONResponse(jsonable_encoder(body))
