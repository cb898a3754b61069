"""Rendering of api/catalogue.py's answers."""

from __future__ import annotations

from sessions.api.schemas import ActionOut, ProgrammeOut, RepublishOut, SessionOut
from sessions.db.models import Action, Programme, TrainingSession
from sessions.events.publish import session_snapshot


def programme_out(programme: Programme) -> ProgrammeOut:
    return ProgrammeOut.model_validate(programme)


def action_out(action: Action) -> ActionOut:
    return ActionOut(
        id=action.id,
        lheo_id=action.lheo_id,
        programme_code=action.programme.code,
        organisation_siret=action.organisation_siret,
        delivering_siret=action.delivering_siret,
        delivering_name=action.delivering_name,
        version=action.version,
        title=action.title,
        rncp_code=action.rncp_code,
        formacode=action.formacode,
        certifying=action.certifying,
        hours_in_centre=action.hours_in_centre,
        hours_in_company=action.hours_in_company,
        weekly_hours=action.weekly_hours,
        hourly_price=action.hourly_price,
        part_time=action.part_time,
        distance_learning=action.distance_learning,
        modules=action.modules,
        skill_blocks=action.skill_blocks,
        departement=action.departement,
        territory_code=action.territory_code,
    )


def session_out(session: TrainingSession) -> SessionOut:
    return SessionOut(
        id=session.id,
        lheo_id=session.lheo_id,
        version=session.version,
        cancelled=session.cancelled_at is not None,
        cancel_reason=session.cancel_reason,
        **session_snapshot(session).model_dump(exclude={"version"}),
    )


def republish_out(sessions: int) -> RepublishOut:
    return RepublishOut(sessions=sessions)
