"""What the sessions service consumes: an admitted prescription opens the training file, once."""

from __future__ import annotations

import logging

from pacte_common.consumer import Subscription
from pacte_common.contracts.orientation import PrescriptionAdmitted
from pacte_common.contracts.people import open_identity
from pacte_common.events import Envelope
from pacte_common.service import Runtime
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.db.models import Dossier
from sessions.db.queries import open_dossier, session_for_update
from sessions.events.trajectory import trajectory_subscription

log = logging.getLogger(__name__)


class UnknownSession(LookupError):
    """The prescription names a session this service does not know: retried, then dead-lettered."""


async def on_admitted(runtime: Runtime, db: AsyncSession, envelope: Envelope) -> None:
    event: PrescriptionAdmitted = envelope.data  # type: ignore[assignment]
    existing = await db.execute(select(Dossier.id).where(Dossier.prescription_id == event.prescription_id))
    if existing.first():
        log.info("prescription %s already has its training file", event.prescription_id)
        return  # the same admission re-published under another event id changes nothing
    session = await session_for_update(db, event.session_id)
    if session is None:
        raise UnknownSession(f"session {event.session_id} is not in the catalogue")
    nir_hash = None
    if event.identity_encrypted and event.has_nir:
        # The same NIR must find the same person later (direct enrolment looks it up).
        identity = open_identity(runtime.cipher, event.identity_encrypted)
        nir_hash = runtime.hasher.hash("nir", identity.nir) if identity.nir else None
    dossier = await open_dossier(
        runtime,
        db,
        session=session,
        person_id=event.person_id,
        profile=event.profile.model_dump(mode="json"),
        identity_encrypted=event.identity_encrypted,
        has_nir=event.has_nir,
        nir_hash=nir_hash,
        actor=event.actor,
        at=event.occurred_at,
        prescription_id=event.prescription_id,
        prescriber_kind=event.prescriber_kind,
        prescriber_code=event.prescriber_code,
    )
    log.info("training file %s opened for prescription %s", dossier.id, event.prescription_id)


def subscriptions(name: str = "prescriptions", trajectory_name: str = "trajectory") -> list[Subscription]:
    """The admissions that open files, and (a group of its own) the trajectories' prescriptions read model."""
    return [Subscription(name=name, handlers={PrescriptionAdmitted: on_admitted}), trajectory_subscription(trajectory_name)]
