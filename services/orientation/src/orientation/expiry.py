"""Background job: prescriptions the organisation did not answer within the delay expire."""

from __future__ import annotations

import asyncio
import logging

from pacte_common.db import utcnow
from pacte_common.service import Runtime
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from orientation.db.models import Prescription
from orientation.domain.prescription import EXPIRABLE_STATUSES, Action
from orientation.settings import OrientationSettings
from orientation.workflow import apply_action

log = logging.getLogger(__name__)

ACTOR = "system:expiry"


async def expire_overdue(runtime: Runtime) -> int:
    """One pass: expires every overdue prescription, each in its own transaction; returns how many."""
    settings: OrientationSettings = runtime.settings
    now = utcnow()
    deadline = now - settings.prescription_expiry_delay
    expired = 0
    async with runtime.sessions() as session:
        overdue = (
            await session.scalars(
                select(Prescription.id)
                .where(
                    Prescription.status.in_([s.value for s in EXPIRABLE_STATUSES]),
                    Prescription.status_changed_at <= deadline,
                )
                .order_by(Prescription.status_changed_at)
                .limit(settings.expiry_batch_size)
            )
        ).all()
    for prescription_id in overdue:
        async with runtime.sessions() as session:
            prescription = await session.get(Prescription, prescription_id)
            # Re-checked in this transaction: an answer may have come since the scan.
            if prescription is None or prescription.status not in EXPIRABLE_STATUSES:
                continue
            if prescription.status_changed_at > deadline:
                continue
            try:
                await apply_action(
                    session, runtime, prescription, Action.EXPIRE, actor=ACTOR, at=now,
                    reason=f"no answer within {settings.prescription_expiry_delay.days} days",
                    details={"last_change_at": prescription.status_changed_at.isoformat()},
                )
                await session.commit()
                expired += 1
            except StaleDataError:
                await session.rollback()  # answered meanwhile: the answer wins
    return expired


async def expiry_job(runtime: Runtime, stop: asyncio.Event) -> None:
    settings: OrientationSettings = runtime.settings
    while not stop.is_set():
        count = await expire_overdue(runtime)
        if count:
            log.info("expired %d prescriptions", count)
        try:
            await asyncio.wait_for(stop.wait(), settings.expiry_check_interval_s)
        except TimeoutError:
            pass
