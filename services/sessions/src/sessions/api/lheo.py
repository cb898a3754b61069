"""`POST /catalogue/lheo`: import an LHEO offer file, upserting actions and sessions by LHEO id.

A re-import of the same file changes nothing and publishes nothing. The report lists what
was created, updated or left unchanged, and each rejected element with its path and reason.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.contracts.sessions import SessionPublished, SessionUpdated
from pacte_common.errors import Invalid, ProblemError
from pacte_common.service import DbSession, RuntimeDep
from pydantic import BaseModel
from sqlalchemy import select

from sessions.db.models import Action, Programme, TrainingSession
from sessions.domain.lheo import LheoAction, LheoFileRefused, LheoSession, parse
from sessions.events.publish import publish_catalogue

router = APIRouter(tags=["catalogue"])


class ImportedItem(BaseModel):
    kind: str
    lheo_id: str
    id: str
    path: str


class RejectedItem(BaseModel):
    path: str
    reason: str


class ImportReport(BaseModel):
    created: list[ImportedItem] = []
    updated: list[ImportedItem] = []
    unchanged: list[ImportedItem] = []
    rejected: list[RejectedItem] = []
    counts: dict[str, int] = {}


class PayloadTooLarge(ProblemError):
    status, slug, title = 413, "payload-too-large", "The file is too large"


def _action_fields(parsed: LheoAction, programme: Programme) -> dict:
    return {
        "programme_id": programme.id,
        "organisation_siret": parsed.organisation_siret,
        "title": parsed.title,
        "rncp_code": parsed.rncp_code,
        "formacode": parsed.formacode,
        "certifying": parsed.certifying,
        "hours_in_centre": parsed.hours_in_centre,
        "hours_in_company": parsed.hours_in_company,
        "weekly_hours": parsed.weekly_hours,
        "hourly_price": parsed.hourly_price,
        "part_time": parsed.part_time,
        "distance_learning": parsed.distance_learning,
        "modules": list(parsed.modules),
        "skill_blocks": list(parsed.skill_blocks),
        "departement": parsed.departement,
        "territory_code": parsed.territory_code,
    }


def _session_fields(parsed: LheoSession) -> dict:
    return {
        "start_date": parsed.start_date,
        "end_date": parsed.end_date,
        "places": parsed.places,
        "permanent_entries": parsed.permanent_entries,
        "recruitment_state": parsed.recruitment_state,
        "information_meetings": [d.isoformat() for d in parsed.information_meetings],
    }


def _changed(row, fields: dict) -> dict:
    def same(current, new):
        if isinstance(new, date) or new is None or isinstance(current, bool):
            return current == new
        try:
            return type(new)(current) == new  # Decimal("12.50") vs Decimal("12.5"): same value
        except Exception:
            return current == new

    return {name: value for name, value in fields.items() if not same(getattr(row, name), value)}


@router.post(
    "/catalogue/lheo",
    response_model=ImportReport,
    summary="Import an LHEO XML offer (Region)",
    openapi_extra={
        "requestBody": {"content": {"application/xml": {"schema": {"type": "string"}}}, "required": True},
        "x-body-limit-setting": "lheo_max_bytes",
    },
)
async def import_lheo(
    request: Request,
    principal: Annotated[Principal, require_kind(OrgKind.REGION)],
    db: DbSession,
    runtime: RuntimeDep,
    programme_code: Annotated[str | None, Query(description="Programme for formations without extra 'code-dispositif'")] = None,
):
    settings = runtime.settings
    data = await request.body()
    if len(data) > settings.lheo_max_bytes:
        raise PayloadTooLarge(f"the file exceeds {settings.lheo_max_bytes} bytes")
    if not data.strip():
        raise Invalid("the request body must be an LHEO XML file", field="body")
    try:
        offer = parse(data, default_programme=programme_code, departements=frozenset(settings.departements))
    except LheoFileRefused as refused:
        raise Invalid(str(refused), field="body") from None

    report = ImportReport(rejected=[RejectedItem(path=r.path, reason=r.reason) for r in offer.rejections])
    programmes = {p.code: p for p in (await db.execute(select(Programme))).scalars()}
    for parsed in offer.actions:
        programme = programmes.get(parsed.programme_code)
        if programme is None:
            report.rejected.append(RejectedItem(path=parsed.path, reason=f"unknown programme {parsed.programme_code!r}"))
            continue
        fields = _action_fields(parsed, programme)
        action = (await db.execute(select(Action).where(Action.lheo_id == parsed.lheo_id))).unique().scalar_one_or_none()
        action_changed = False
        if action is None:
            action = Action(lheo_id=parsed.lheo_id, version=1, **fields)
            db.add(action)
            await db.flush()
            await db.refresh(action)
            report.created.append(ImportedItem(kind="action", lheo_id=parsed.lheo_id, id=str(action.id), path=parsed.path))
        else:
            changes = _changed(action, fields)
            if changes:
                for name, value in changes.items():
                    setattr(action, name, value)
                action.version += 1
                await db.flush()
                await db.refresh(action)
                action_changed = True
                report.updated.append(ImportedItem(kind="action", lheo_id=parsed.lheo_id, id=str(action.id), path=parsed.path))
            else:
                report.unchanged.append(ImportedItem(kind="action", lheo_id=parsed.lheo_id, id=str(action.id), path=parsed.path))
        for parsed_session in parsed.sessions:
            fields = _session_fields(parsed_session)
            session = (
                await db.execute(select(TrainingSession).where(TrainingSession.lheo_id == parsed_session.lheo_id))
            ).unique().scalar_one_or_none()
            item = dict(kind="session", lheo_id=parsed_session.lheo_id, path=parsed_session.path)
            if session is None:
                session = TrainingSession(lheo_id=parsed_session.lheo_id, action_id=action.id, places_taken=0, version=1, **fields)
                db.add(session)
                await db.flush()
                await db.refresh(session)
                await publish_catalogue(runtime, db, SessionPublished, session)
                report.created.append(ImportedItem(id=str(session.id), **item))
            else:
                if session.action_id != action.id:
                    report.rejected.append(RejectedItem(path=parsed_session.path, reason=f"session {parsed_session.lheo_id!r} belongs to another action"))
                    continue
                changes = _changed(session, fields)
                if changes:
                    for name, value in changes.items():
                        setattr(session, name, value)
                    session.version += 1
                    await db.flush()
                    await db.refresh(session)
                    await publish_catalogue(runtime, db, SessionUpdated, session)
                    report.updated.append(ImportedItem(id=str(session.id), **item))
                else:
                    if action_changed:  # the action's new attributes reach the session's readers
                        await publish_catalogue(runtime, db, SessionUpdated, session)
                    report.unchanged.append(ImportedItem(id=str(session.id), **item))
    await db.commit()
    report.counts = {
        "created": len(report.created),
        "updated": len(report.updated),
        "unchanged": len(report.unchanged),
        "rejected": len(report.rejected),
    }
    return report
