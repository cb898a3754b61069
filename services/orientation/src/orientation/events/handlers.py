"""What orientation consumes: the catalogue (read model) and the trainee's entry or cancellation.

Handlers run inside the inbox transaction (pacte_common.consumer): a redelivered event is
skipped there, and a second, distinct event with the same meaning changes nothing here.
"""

from __future__ import annotations

import logging

from pacte_common.consumer import Subscription
from pacte_common.contracts.sessions import (
    SessionCancelled,
    SessionClosed,
    SessionPublished,
    SessionSnapshot,
    SessionUpdated,
    TraineeCancelled,
    TraineeEnrolled,
    TraineeEntered,
    TraineeEvent,
)
from pacte_common.db import utcnow
from pacte_common.events import Envelope
from pacte_common.service import Runtime
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from orientation.db.models import CatalogueSession, Prescription
from orientation.db.queries import catalogue_session_for_update
from orientation.domain.catalogue import is_newer
from orientation.domain.prescription import Action, Status
from orientation.workflow import apply_action

log = logging.getLogger(__name__)


async def on_catalogue_event(runtime: Runtime, session: AsyncSession, envelope: Envelope) -> None:
    snapshot: SessionSnapshot = envelope.data.session
    row = await catalogue_session_for_update(session, snapshot.session_id)
    cancelled = isinstance(envelope.data, SessionCancelled)
    if row is None:
        row = CatalogueSession(session_id=snapshot.session_id, cancelled=False)
        session.add(row)
    elif not is_newer(row.snapshot_version, snapshot.version):
        # A late or replayed event: the read model already holds a newer picture.
        log.info("catalogue event %s for session %s is older (v%s ≤ v%s): ignored", envelope.type, snapshot.session_id, snapshot.version, row.snapshot_version)
        if cancelled and not row.cancelled:
            row.cancelled = True  # a cancellation is final, whenever it comes
        return
    apply_snapshot(row, snapshot, closed=isinstance(envelope.data, SessionClosed), cancelled=cancelled)
    row.last_event_type = envelope.type


def apply_snapshot(row: CatalogueSession, snapshot: SessionSnapshot, *, closed: bool = False, cancelled: bool = False) -> None:
    row.action_id = snapshot.action_id
    row.organisation_siret = snapshot.organisation_siret
    row.action_title = snapshot.action_title
    row.programme_code = snapshot.programme.code
    row.programme_name = snapshot.programme.name
    row.pillar = snapshot.programme.pillar.value
    row.rncp_code = snapshot.rncp_code
    row.formacode = snapshot.formacode
    row.departement = snapshot.departement
    row.start_date = snapshot.start_date
    row.end_date = snapshot.end_date
    row.places = snapshot.places
    row.places_taken = snapshot.places_taken
    # A closed event wins over whatever state its snapshot carries; a cancellation is final.
    row.recruitment_state = "closed" if closed else snapshot.recruitment_state.value
    row.cancelled = cancelled or bool(row.cancelled)
    row.snapshot = snapshot.model_dump(mode="json")
    row.snapshot_version = snapshot.version if snapshot.version is not None else row.snapshot_version
    row.updated_at = utcnow()


async def _refresh_places_from(session: AsyncSession, event: TraineeEvent) -> None:
    """A trainee event carries the session as it stood when the place changed hands: applying it
    here (when newer) counts the place in the same transaction that moves the prescription on, so
    an entry goes from "admitted" to "place taken" at once, whichever topic is read first."""
    snapshot = event.dossier.session
    row = await catalogue_session_for_update(session, snapshot.session_id)
    if row is not None and snapshot.version is not None and is_newer(row.snapshot_version, snapshot.version):
        apply_snapshot(row, snapshot)


async def _prescription_of(session: AsyncSession, event: TraineeEvent) -> Prescription | None:
    prescription_id = event.dossier.prescription_id
    if prescription_id is None:
        return None  # a direct enrolment by the organisation: not ours
    return await session.get(Prescription, prescription_id)


async def on_trainee_enrolled(runtime: Runtime, session: AsyncSession, envelope: Envelope) -> None:
    """Sessions opened the file of our admission: its place now counts in `places_taken`."""
    event: TraineeEnrolled = envelope.data
    if event.dossier.prescription_id is None:
        return
    # Not a transition: no version bump, so partners' ETags stay valid.
    await session.execute(
        update(Prescription)
        .where(Prescription.id == event.dossier.prescription_id, Prescription.dossier_id.is_(None))
        .values(dossier_id=event.dossier.dossier_id)
        .execution_options(synchronize_session=False)
    )


async def on_trainee_entered(runtime: Runtime, session: AsyncSession, envelope: Envelope) -> None:
    event: TraineeEntered = envelope.data
    await _refresh_places_from(session, event)
    prescription = await _prescription_of(session, event)
    if prescription is None:
        return
    if prescription.status != Status.ADMITTED.value:
        # Already entered (the same entry told twice) or closed otherwise: nothing to change.
        log.info("entry of prescription %s ignored in state %s", prescription.id, prescription.status)
        return
    await apply_action(
        session, runtime, prescription, Action.ENTER, actor=event.actor, at=utcnow(),
        reason=f"entry on {event.entry_date.isoformat()}",
        details={"dossier_id": str(event.dossier.dossier_id), "entry_date": event.entry_date.isoformat()},
        changes={"dossier_id": event.dossier.dossier_id},
    )


async def on_trainee_cancelled(runtime: Runtime, session: AsyncSession, envelope: Envelope) -> None:
    event: TraineeCancelled = envelope.data
    await _refresh_places_from(session, event)
    prescription = await _prescription_of(session, event)
    if prescription is None:
        return
    if prescription.status not in (Status.ADMITTED.value, Status.ENTERED.value):
        log.info("cancellation of prescription %s ignored in state %s", prescription.id, prescription.status)
        return
    await apply_action(
        session, runtime, prescription, Action.CANCEL_ADMISSION, actor=event.actor, at=utcnow(),
        reason=event.reason, details={"dossier_id": str(event.dossier.dossier_id)},
        changes={"dossier_id": event.dossier.dossier_id},
    )


SUBSCRIPTIONS = [
    Subscription(
        name="catalogue",
        handlers={
            SessionPublished: on_catalogue_event,
            SessionUpdated: on_catalogue_event,
            SessionClosed: on_catalogue_event,
            SessionCancelled: on_catalogue_event,
        },
    ),
    Subscription(
        name="trainees",
        handlers={
            TraineeEnrolled: on_trainee_enrolled,
            TraineeEntered: on_trainee_entered,
            TraineeCancelled: on_trainee_cancelled,
        },
    ),
]
