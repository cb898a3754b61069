"""The catalogue read model: session snapshots from the sessions service, applied in order.

Called from consumed events only (events/handlers.py): nothing here commits, the consumer
commits with the inbox row.
"""

from __future__ import annotations

import logging

from pacte_common.clock import utcnow
from pacte_common.contracts.sessions import SessionSnapshot
from sqlalchemy.ext.asyncio import AsyncSession

from orientation.db.models import CatalogueSession
from orientation.db.queries import catalogue_session_for_update
from orientation.domain.catalogue import is_newer

log = logging.getLogger(__name__)


async def on_catalogue_event(
    db: AsyncSession, snapshot: SessionSnapshot, *, event_type: str, closed: bool, cancelled: bool
) -> None:
    """A session published, updated, closed or cancelled: the read model takes the newer picture."""
    row = await catalogue_session_for_update(db, snapshot.session_id)
    if row is None:
        row = CatalogueSession(session_id=snapshot.session_id, cancelled=False)
        db.add(row)
    elif not is_newer(row.snapshot_version, snapshot.version):
        # A late or replayed event: the read model already holds a newer picture.
        log.info(
            "catalogue event %s for session %s is older (v%s ≤ v%s): ignored",
            event_type, snapshot.session_id, snapshot.version, row.snapshot_version,
        )
        if cancelled and not row.cancelled:
            row.cancelled = True  # a cancellation is final, whenever it comes
        return
    apply_snapshot(row, snapshot, closed=closed, cancelled=cancelled)
    row.last_event_type = event_type


async def refresh_places(db: AsyncSession, snapshot: SessionSnapshot) -> None:
    """A trainee event carries the session as it stood when the place changed hands: applying it
    here (when newer) counts the place in the same transaction that moves the prescription on, so
    an entry goes from "admitted" to "place taken" at once, whichever topic is read first."""
    row = await catalogue_session_for_update(db, snapshot.session_id)
    if row is not None and snapshot.version is not None and is_newer(row.snapshot_version, snapshot.version):
        apply_snapshot(row, snapshot)


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
