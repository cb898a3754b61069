"""Who is in which session: from sessions' trainee events (each carries the whole file)."""

from __future__ import annotations

from pacte_common.contracts.people import open_identity
from pacte_common.contracts.sessions import TraineeEvent
from pacte_common.crypto import FieldCipher
from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from attendance.db.models import Countersignature, HalfDay, HalfDayChange, Trainee, TrainingSession

NAME_CONTEXT = "attendance.trainee-name"


def sealed_name(cipher: FieldCipher, sealed_identity: str | None) -> str | None:
    """The name shown on the sheet (usual name or birth name, first names), sealed again with our key."""
    if not sealed_identity:
        return None
    identity = open_identity(cipher, sealed_identity)
    return cipher.encrypt(f"{(identity.usual_name or identity.birth_name).upper()} {identity.first_names}", context=NAME_CONTEXT)


def name_of(cipher: FieldCipher, trainee) -> str:
    if trainee.name_encrypted:
        return cipher.decrypt(trainee.name_encrypted, context=NAME_CONTEXT)
    return f"Stagiaire {str(trainee.dossier_id)[:8]}"


async def _drop_foreign_plan(db: AsyncSession, session_id) -> None:
    """A session planned before sessions' events by an organisation that is not the session's
    (docs/attendance.md §1): the first event says whose it is, and that plan is dropped. It has
    no signature (no trainee was known), only half-days, their changes and countersignatures."""
    if await db.scalar(select(exists().where(Trainee.session_id == session_id))):
        return  # a session already known from events that changed organisation keeps its sheets
    half_days = select(HalfDay.id).where(HalfDay.session_id == session_id).scalar_subquery()
    await db.execute(delete(Countersignature).where(Countersignature.half_day_id.in_(half_days)))
    await db.execute(delete(HalfDayChange).where(HalfDayChange.half_day_id.in_(half_days)))
    await db.execute(delete(HalfDay).where(HalfDay.session_id == session_id))


async def on_trainee_event(db: AsyncSession, cipher: FieldCipher, event: TraineeEvent) -> None:
    """Keeps the newest snapshot of the file (an older or replayed one changes nothing)."""
    dossier = event.dossier
    name = sealed_name(cipher, dossier.identity_encrypted)
    snapshot = dossier.session
    session = await db.get(TrainingSession, snapshot.session_id)
    if session is None:
        db.add(TrainingSession(id=snapshot.session_id, organisation_siret=snapshot.organisation_siret,
                               action_title=snapshot.action_title, start_date=snapshot.start_date, end_date=snapshot.end_date))
    else:
        if session.organisation_siret != snapshot.organisation_siret:
            await _drop_foreign_plan(db, session.id)
        session.organisation_siret = snapshot.organisation_siret
        session.action_title, session.start_date, session.end_date = snapshot.action_title, snapshot.start_date, snapshot.end_date
    trainee = await db.get(Trainee, dossier.dossier_id)
    if trainee is None:
        db.add(Trainee(dossier_id=dossier.dossier_id, person_id=dossier.person_id, session_id=snapshot.session_id,
                       status=dossier.status.value, entry_date=dossier.entry_date, exit_date=dossier.exit_date,
                       dossier_version=dossier.version, name_encrypted=name))
    elif dossier.version >= trainee.dossier_version:
        trainee.session_id, trainee.status = snapshot.session_id, dossier.status.value
        trainee.entry_date, trainee.exit_date, trainee.dossier_version = dossier.entry_date, dossier.exit_date, dossier.version
        trainee.name_encrypted = name or trainee.name_encrypted
    await db.flush()
