"""Who is in which session: from sessions' trainee events (each carries the whole file)."""

from __future__ import annotations

from pacte_common.contracts.sessions import TraineeEvent
from sqlalchemy.ext.asyncio import AsyncSession

from attendance.db.models import Trainee, TrainingSession


async def on_trainee_event(db: AsyncSession, event: TraineeEvent) -> None:
    """Keeps the newest snapshot of the file (an older or replayed one changes nothing)."""
    dossier = event.dossier
    snapshot = dossier.session
    session = await db.get(TrainingSession, snapshot.session_id)
    if session is None:
        db.add(TrainingSession(id=snapshot.session_id, organisation_siret=snapshot.organisation_siret,
                               action_title=snapshot.action_title, start_date=snapshot.start_date, end_date=snapshot.end_date))
    else:
        session.organisation_siret = snapshot.organisation_siret
        session.action_title, session.start_date, session.end_date = snapshot.action_title, snapshot.start_date, snapshot.end_date
    trainee = await db.get(Trainee, dossier.dossier_id)
    if trainee is None:
        db.add(Trainee(dossier_id=dossier.dossier_id, person_id=dossier.person_id, session_id=snapshot.session_id,
                       status=dossier.status.value, entry_date=dossier.entry_date, exit_date=dossier.exit_date,
                       dossier_version=dossier.version))
    elif dossier.version >= trainee.dossier_version:
        trainee.session_id, trainee.status = snapshot.session_id, dossier.status.value
        trainee.entry_date, trainee.exit_date, trainee.dossier_version = dossier.entry_date, dossier.exit_date, dossier.version
    await db.flush()
