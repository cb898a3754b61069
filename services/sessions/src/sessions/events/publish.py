"""What the sessions service publishes: catalogue, trainee and attendance events.

Snapshots are built from the rows so every event carries the whole picture (consumers never
call back). Events go through the transactional outbox, keyed by session or dossier id.
"""

from __future__ import annotations

from datetime import date, datetime

from pacte_common.contracts.outcomes import (
    Horizon,
    OutcomeRecorded,
    OutcomeSituation,
    OutcomeSource,
)
from pacte_common.contracts.people import PersonProfile
from pacte_common.contracts.sessions import (
    AttendanceCorrected,
    AttendanceRecorded,
    AttendanceVoided,
    CatalogueEvent,
    DossierSnapshot,
    OfferDetails,
    ProgrammeInfo,
    SatisfactionReviewRecorded,
    SessionSnapshot,
    TraineeEvent,
    TrainingPlace,
)
from pacte_common.service import Runtime
from pacte_common.tracing import adopt_trace
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.db.models import AttendanceStatement, Dossier, Programme, TrainingSession
from sessions.db.outcomes import Outcome
from sessions.db.satisfaction import SatisfactionReview
from sessions.domain.satisfaction import MARKS


def programme_info(programme: Programme) -> ProgrammeInfo:
    return ProgrammeInfo(
        code=programme.code,
        name=programme.name,
        pillar=programme.pillar,
        funder=programme.funder,
        remuneration_approved=programme.remuneration_approved,
        tension_sector=programme.tension_sector,
        agora_category=programme.agora_category,
        delegated_to_france_travail=programme.delegated_to_france_travail,
    )


def session_snapshot(session: TrainingSession, *, with_offer: bool = True) -> SessionSnapshot:
    """`with_offer`: the action's public texts and place (the catalogue's events carry them; a
    trainee event, read by five services, does not: insights keeps what the catalogue sent)."""
    action = session.action
    return SessionSnapshot(
        session_id=session.id,
        action_id=action.id,
        programme=programme_info(action.programme),
        organisation_siret=action.organisation_siret,
        delivering_siret=action.delivering_siret,
        delivering_name=action.delivering_name,
        action_title=action.title,
        rncp_code=action.rncp_code,
        formacode=action.formacode,
        certifying=action.certifying,
        hours_in_centre=action.hours_in_centre,
        hours_in_company=action.hours_in_company,
        weekly_hours=action.weekly_hours,
        hourly_price=action.hourly_price,
        departement=action.departement,
        territory_code=action.territory_code,
        start_date=session.start_date,
        end_date=session.end_date,
        places=session.places,
        places_taken=session.places_taken,
        places_unknown=session.places_unknown,
        permanent_entries=session.permanent_entries,
        recruitment_state=session.recruitment_state,
        information_meetings=[date.fromisoformat(d) for d in session.information_meetings or []],
        skill_blocks=list(action.skill_blocks or []),
        action_lheo_id=action.lheo_id,
        action_version=action.version,
        session_lheo_id=session.lheo_id,
        session_territory_code=session.territory_code,
        distance_learning=action.distance_learning,
        offer=offer_details(action.lheo_details) if with_offer else None,
        version=session.version,
    )


def _coordinate(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def offer_details(details: dict | None) -> OfferDetails:
    """What the public search shows of an action, from the LHEO file it came from (none for an
    action made through the API: only its catalogue fields)."""
    details = details or {}
    place = details.get("adresse") or {}
    codes = details.get("codes") or {}
    organisation = details.get("organisme") or {}
    latitude, longitude = _coordinate(place.get("latitude")), _coordinate(place.get("longitude"))
    if latitude is None or longitude is None or not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        latitude = longitude = None
    return OfferDetails(
        objectives=details.get("objectif"), expected_results=details.get("resultats"), content=details.get("contenu"),
        organisation_name=organisation.get("raison_sociale") or organisation.get("nom"),
        place=TrainingPlace(postcode=place.get("codepostal"), insee=place.get("code_insee"), city=place.get("ville"),
                            latitude=latitude, longitude=longitude) if place else None,
        formacodes=list(codes.get("formacode", [])), nsf_codes=list(codes.get("nsf", [])), rome_codes=list(codes.get("rome", [])),
    )


def dossier_snapshot(dossier: Dossier, *, session: SessionSnapshot | None = None) -> DossierSnapshot:
    """`session`: the file's session as the catalogue event of the same change has just built it
    (its offer left out here), rather than built a second time."""
    return DossierSnapshot(
        dossier_id=dossier.id,
        prescription_id=dossier.prescription_id,
        prescriber_code=dossier.prescriber_code,
        person_id=dossier.person_id,
        profile=PersonProfile.model_validate(dossier.profile),
        identity_encrypted=dossier.identity_encrypted,
        has_nir=dossier.has_nir,
        session=session.model_copy(update={"offer": None}) if session else session_snapshot(dossier.session, with_offer=False),
        status=dossier.status,
        entry_date=dossier.entry_date,
        exit_date=dossier.exit_date,
        version=dossier.version,
    )


async def publish_catalogue(db: AsyncSession, runtime: Runtime, event_class: type[CatalogueEvent], session: TrainingSession) -> None:
    await runtime.outbox.publish(db, event_class(session=session_snapshot(session)), key=str(session.id))


async def publish_trainee(
    db: AsyncSession, runtime: Runtime, event_class: type[TraineeEvent], dossier: Dossier, actor: str, at: datetime, **fields
) -> None:
    event = event_class(dossier=dossier_snapshot(dossier), occurred_at=at, actor=actor, **fields)
    with adopt_trace(dossier.traceparent):  # the file's trace, whichever call acts on it
        await runtime.outbox.publish(db, event, key=str(dossier.id))


async def publish_attendance(db: AsyncSession, runtime: Runtime, dossier: Dossier, statement: AttendanceStatement) -> None:
    event_class = AttendanceRecorded if statement.version == 1 else AttendanceCorrected
    event = event_class(
        dossier_id=dossier.id,
        person_id=dossier.person_id,
        month=statement.month,
        version=statement.version,
        planned_hours=statement.planned_hours,
        attended_hours=statement.attended_hours,
        justified_absence_hours=statement.justified_absence_hours,
        unjustified_absence_hours=statement.unjustified_absence_hours,
        in_company_hours=statement.in_company_hours,
        recorded_at=statement.recorded_at,
        source=statement.source or "manual",
    )
    with adopt_trace(dossier.traceparent):
        await runtime.outbox.publish(db, event, key=str(dossier.id))


async def publish_attendance_voided(db: AsyncSession, runtime: Runtime, dossier: Dossier, statement: AttendanceStatement) -> None:
    event = AttendanceVoided(
        dossier_id=dossier.id,
        person_id=dossier.person_id,
        month=statement.month,
        version=statement.version,
        reason=statement.voided_reason,
        voided_at=statement.voided_at,
    )
    with adopt_trace(dossier.traceparent):
        await runtime.outbox.publish(db, event, key=str(dossier.id))


def outcome_event(dossier: Dossier, outcome: Outcome) -> OutcomeRecorded:
    action = dossier.session.action
    return OutcomeRecorded(
        outcome_id=outcome.id,
        dossier_id=dossier.id,
        person_id=dossier.person_id,
        session_id=dossier.session_id,
        programme_code=action.programme.code,
        pillar=action.programme.pillar,
        organisation_siret=action.organisation_siret,
        exit_date=dossier.exit_date,
        horizon_months=Horizon(outcome.horizon_months),
        situation=OutcomeSituation(outcome.situation),
        observed_on=outcome.observed_on,
        source=OutcomeSource(outcome.source),
        job_related_to_training=outcome.job_related_to_training,
        version=outcome.version,
        recorded_at=outcome.recorded_at,
        actor=outcome.recorded_by,
    )


async def publish_outcomes(db: AsyncSession, runtime: Runtime, written: list[tuple[Dossier, Outcome]]) -> None:
    """Outcomes as recorded (their versions set by the flush); each in its file's trace, like
    every event of the file; one INSERT for all."""
    events = [(outcome_event(dossier, outcome), str(dossier.id), dossier.traceparent) for dossier, outcome in written]
    await runtime.outbox.publish_many(db, events)


async def publish_reviews(db: AsyncSession, runtime: Runtime, reviews: list[SatisfactionReview]) -> None:
    """The reviews an import stored (created, changed or unchanged), for the read side (docs/insights.md); one INSERT for all."""
    events = [
        (SatisfactionReviewRecorded(review_id=r.review_id, action_id=r.action_id, session_id=r.session_id, organisation_siret=r.organisation_siret,
                                    review_date=r.review_date, published_comment=r.comment,
                                    **{name: getattr(r, name) for name in MARKS}),
         str(r.session_id or r.action_id), None)
        for r in reviews
    ]
    if events:
        await runtime.outbox.publish_many(db, events)
