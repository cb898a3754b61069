"""Use cases that build the read models from the other services' events (docs/insights.md).

Each is called by the consumer inside its inbox transaction (no commit here): a redelivered
event finds its inbox row and changes nothing. Snapshots carry a version; an older one than
the row's (a late or replayed event) leaves the row as it is, so events of one file or session
may come in any order across topics.
"""

from __future__ import annotations

from datetime import datetime

from pacte_common.contracts import orientation as o
from pacte_common.contracts.outcomes import OutcomeRecorded
from pacte_common.contracts.sessions import (
    AttendanceEvent,
    AttendanceVoided,
    CatalogueEvent,
    DossierSnapshot,
    SatisfactionReviewRecorded,
    SessionCancelled,
    SessionSnapshot,
    TraineeCancelled,
    TraineeEnrolled,
    TraineeEvent,
    TraineeExited,
    TraineeInterrupted,
    TraineeResumed,
)
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from insights.db.models import (
    Action,
    AttendanceStatement,
    Dossier,
    Interruption,
    Outcome,
    PrescriptionStep,
    PrescriptionView,
    Programme,
    SatisfactionReview,
    TrainingSession,
)
from insights.db.public_search import keep_offers
from insights.db.queries import statement_row
from insights.db.writes import held_rows, upsert_rows
from insights.domain.indicators import SATISFACTION_MARKS as MARKS
from insights.domain.indicators import entry_facts


def _newer(held: int | None, incoming: int | None) -> bool:
    return held is None or incoming is None or incoming >= held


async def _upsert(db: AsyncSession, model, key, values: dict):
    row = await db.get(model, key)
    if row is None:
        row = model(id=key, **values)
        db.add(row)
        await db.flush()  # a later message of the same batch finds it (get does not see pending rows)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    return row


class _Run:
    """What a run of events leaves in some rows: each row as held (loaded once), changed in
    memory event after event, then written with one upsert per table (db/writes.py)."""

    def __init__(self, held: dict):
        self.held = held  # id -> columns as they are now (held, or changed by an earlier event)
        self.changes: dict = {}  # id -> columns this run sets

    def get(self, key) -> dict | None:
        return self.held.get(key)

    def set(self, key, values: dict) -> None:
        self.held[key] = {**self.held.get(key, {}), **values}
        self.changes[key] = {**self.changes.get(key, {}), **values}


async def apply_sessions(db: AsyncSession, snapshots: list[tuple[SessionSnapshot, bool | None]]) -> None:
    """The programmes, actions and sessions of these snapshots (catalogue or trainee events, in
    order; with each, whether it cancels its session, None if it does not say). The action and
    the session each move only with a snapshot at least as new as the one held: a late trainee
    event carries its action and session as they were when it was published."""
    actions = _Run(await held_rows(db, Action, {s.action_id for s, _ in snapshots}, "version", "distance_learning"))
    sessions = _Run(await held_rows(db, TrainingSession, {s.session_id for s, _ in snapshots}, "version"))
    programmes: dict = {}
    offers: dict = {}  # action id -> its index rows' snapshot: the last one with an offer, else the last one
    for snapshot, cancelled in snapshots:
        programme = snapshot.programme
        programmes[programme.code] = {"name": programme.name, "pillar": programme.pillar.value}
        action = actions.get(snapshot.action_id)
        if action is None or _newer(action["version"], snapshot.action_version):
            # an older publisher's snapshot has no distance_learning: the value held stays
            distance_learning = snapshot.distance_learning if snapshot.distance_learning is not None else bool(action and action["distance_learning"])
            actions.set(snapshot.action_id, {
                "lheo_id": snapshot.action_lheo_id, "programme_id": programme.code, "organisation_siret": snapshot.organisation_siret,
                "delivering_siret": snapshot.delivering_siret, "delivering_name": snapshot.delivering_name, "title": snapshot.action_title,
                "rncp_code": snapshot.rncp_code, "formacode": snapshot.formacode, "certifying": snapshot.certifying,
                "hours_in_centre": snapshot.hours_in_centre, "hours_in_company": snapshot.hours_in_company,
                "hourly_price": snapshot.hourly_price, "departement": snapshot.departement, "territory_code": snapshot.territory_code,
                "skill_blocks": list(snapshot.skill_blocks), "distance_learning": distance_learning,
                "version": snapshot.action_version,
            })
            if snapshot.offer is not None or offers.get(snapshot.action_id, (None,) * 4)[3] is None:
                offers[snapshot.action_id] = (snapshot.action_id, snapshot.action_title, snapshot.formacode, snapshot.offer)
        session = sessions.get(snapshot.session_id)
        if session is not None and not _newer(session["version"], snapshot.version):
            continue
        values = {
            "lheo_id": snapshot.session_lheo_id, "action_id": snapshot.action_id, "start_date": snapshot.start_date,
            "end_date": snapshot.end_date, "places": snapshot.places, "places_taken": snapshot.places_taken,
            "recruitment_state": snapshot.recruitment_state.value, "territory_code": snapshot.session_territory_code,
            "places_unknown": snapshot.places_unknown, "permanent_entries": snapshot.permanent_entries,
            "information_meetings": [day.isoformat() for day in snapshot.information_meetings], "version": snapshot.version,
        }
        if cancelled is not None:
            values["cancelled"] = cancelled
        sessions.set(snapshot.session_id, values)
    await upsert_rows(db, Programme, programmes)
    await upsert_rows(db, Action, actions.changes)
    await keep_offers(db, list(offers.values()))
    await upsert_rows(db, TrainingSession, sessions.changes)


async def on_catalogue_events(db: AsyncSession, events: list[CatalogueEvent]) -> None:
    await apply_sessions(db, [(event.session, True if isinstance(event, SessionCancelled) else None) for event in events])


def _file_values(dossier: DossierSnapshot) -> dict:
    profile = dossier.profile
    return {
        "session_id": dossier.session.session_id, "person_id": dossier.person_id, "prescriber_code": dossier.prescriber_code,
        "prescription_id": dossier.prescription_id,
        "sex": profile.sex,
        "education_level": profile.education_level, "disabled_worker": profile.disabled_worker, "qpv": profile.qpv,
        **entry_facts(profile.birth_date, profile.jobseeker_registration_date, dossier.entry_date),
        "status": dossier.status.value, "entry_date": dossier.entry_date, "exit_date": dossier.exit_date,
        "version": dossier.version,
    }


async def on_trainee_events(db: AsyncSession, events: list[TraineeEvent]) -> None:
    """The files as the events' snapshots have them (their sessions too), in order; an exit adds
    how it ended, an interruption or a resumption its dates, a cancellation its time (the
    trajectories')."""
    await apply_sessions(db, [(event.dossier.session, None) for event in events])
    files = _Run(await held_rows(db, Dossier, {event.dossier.dossier_id for event in events}, "version", "enrolled_at"))
    for event in events:
        await _interruption(db, event)
        key = event.dossier.dossier_id
        held = files.get(key)
        if held is not None and isinstance(event, TraineeEnrolled):
            files.set(key, {"enrolled_at": event.occurred_at})  # the enrolment may arrive after a later event of the file
            held = files.get(key)
        if held is not None and not _newer(held["version"], event.dossier.version):
            continue
        values = _file_values(event.dossier)
        if held is None or held["enrolled_at"] is None:
            values["enrolled_at"] = event.occurred_at  # the earliest event seen until the enrolment's own arrives
        if isinstance(event, TraineeExited):
            values.update(exit_kind=event.exit_kind.value, certification_result=event.certification_result and event.certification_result.value,
                          dropout_reason=event.dropout_reason and event.dropout_reason.value,
                          skill_blocks_obtained=list(event.skill_blocks_obtained), realised_hours=event.realised_hours)
        if isinstance(event, TraineeCancelled):
            values["cancelled_at"] = event.occurred_at
        files.set(key, values)
    await upsert_rows(db, Dossier, files.changes)


async def _interruption(db: AsyncSession, event: TraineeEvent) -> None:
    """An interruption's start (its reason) or its resumption, whichever comes first."""
    if isinstance(event, TraineeInterrupted):
        await _upsert(db, Interruption, event.interruption_id, {
            "dossier_id": event.dossier.dossier_id, "start_date": event.start_date, "reason": event.reason.value})
    elif isinstance(event, TraineeResumed):
        row = await db.get(Interruption, event.interruption_id)
        if row is None:  # the resumption before its interruption (a replay in another order): its start comes later
            db.add(Interruption(id=event.interruption_id, dossier_id=event.dossier.dossier_id, start_date=event.resumption_date,
                                reason="", resumption_date=event.resumption_date))
        else:
            row.resumption_date = event.resumption_date


async def on_outcome(db: AsyncSession, event: OutcomeRecorded) -> None:
    """An outcome recorded or corrected in sessions: the latest version of each (file, horizon,
    source) is held; an older one (a late or replayed event) changes nothing. One recorded
    again under another id (after sessions purged the first) takes the place of the one held."""
    row = (await db.execute(select(Outcome).where(
        Outcome.dossier_id == event.dossier_id, Outcome.horizon_months == int(event.horizon_months),
        Outcome.source == event.source.value))).scalar_one_or_none()
    if row is not None and row.id == event.outcome_id and row.version > event.version:
        return
    if row is not None and row.id != event.outcome_id:
        await db.delete(row)
        await db.flush()
    await _upsert(db, Outcome, event.outcome_id, {
        "dossier_id": event.dossier_id, "person_id": event.person_id, "horizon_months": int(event.horizon_months),
        "situation": event.situation.value, "observed_on": event.observed_on, "source": event.source.value,
        "job_related_to_training": event.job_related_to_training, "version": event.version,
    })


async def on_attendance(db: AsyncSession, event: AttendanceEvent) -> None:
    """A month's statement (first or corrected): the latest version of the month is current."""
    if await statement_row(db, event.dossier_id, event.month, event.version) is not None:
        return
    latest = await statement_row(db, event.dossier_id, event.month)
    if latest is not None and latest.version > event.version:
        current = False  # a correction already arrived: this older version is history
    else:
        current = True
        await db.execute(update(AttendanceStatement).where(
            AttendanceStatement.dossier_id == event.dossier_id, AttendanceStatement.month == event.month).values(current=False))
    db.add(AttendanceStatement(dossier_id=event.dossier_id, month=event.month, version=event.version, current=current,
                               attended_hours=event.attended_hours, in_company_hours=event.in_company_hours))


async def on_attendance_voided(db: AsyncSession, event: AttendanceVoided) -> None:
    await void_month(db, event.dossier_id, event.month, event.voided_at)


async def void_month(db: AsyncSession, dossier_id, month: str, at: datetime) -> None:
    await db.execute(update(AttendanceStatement).where(
        AttendanceStatement.dossier_id == dossier_id, AttendanceStatement.month == month).values(voided_at=at))


async def on_review(db: AsyncSession, event: SatisfactionReviewRecorded) -> None:
    """An ANOTEA review as sessions stored it (the last import's marks and published comment win)."""
    values = event.model_dump(include={"action_id", "session_id", "organisation_siret", "review_date", *MARKS})
    values["comment"] = event.published_comment
    row = await db.get(SatisfactionReview, event.review_id)
    if row is None:
        db.add(SatisfactionReview(review_id=event.review_id, **values))
    else:
        for name, value in values.items():
            setattr(row, name, value)


def step_details(event: o.PrescriptionEvent) -> tuple[str | None, str | None]:
    """The reason code and a short detail of a prescription's step (never free text about the person)."""
    match event:
        case o.PrescriptionRefused():
            return event.reason_code, None
        case o.PositioningScheduled():
            return event.positioning_kind, event.positioning_date.isoformat()
        case o.PrescriptionReoriented():
            return None, f"new prescription {event.new_prescription_id}"
        case o.PrescriptionEntered():
            return None, f"training file {event.dossier_id}"
        case _:
            return None, None


async def on_prescription_event(db: AsyncSession, event: o.PrescriptionEvent) -> None:
    """A step of a prescription into the trajectories' read model, once: each event is a step of
    its prescription (keyed by prescription id, so in order); the same fact re-published under
    another event id adds nothing."""
    view = await db.get(PrescriptionView, event.prescription_id)
    if view is None:
        view = PrescriptionView(
            prescription_id=event.prescription_id, person_id=event.person_id, session_id=event.session_id,
            prescriber_kind=event.prescriber_kind, prescriber_code=event.prescriber_code,
            organisation_siret=event.organisation_siret, status=event.status,
            previous_prescription_id=getattr(event, "previous_prescription_id", None),
            submitted_at=event.occurred_at, updated_at=event.occurred_at,
        )
        db.add(view)
        await db.flush()
    elif event.occurred_at >= view.updated_at:
        view.status, view.updated_at = event.status, event.occurred_at
    if isinstance(event, o.PrescriptionSubmitted):
        view.submitted_at = min(view.submitted_at, event.occurred_at)
        view.previous_prescription_id = event.previous_prescription_id
    known = await db.execute(select(PrescriptionStep.id).where(
        PrescriptionStep.prescription_id == event.prescription_id, PrescriptionStep.status == event.status,
        PrescriptionStep.occurred_at == event.occurred_at))
    if known.first() is None:
        reason_code, detail = step_details(event)
        db.add(PrescriptionStep(prescription_id=event.prescription_id, status=event.status, occurred_at=event.occurred_at,
                                reason_code=reason_code, detail=detail))
        await db.flush()
