"""What the trainee's signing page needs: the half-day a link names, who the trainee is, signing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from pacte_common.crypto import FieldCipher
from pacte_common.errors import NotFound
from sqlalchemy.ext.asyncio import AsyncSession

from attendance.app import signing
from attendance.app.context import Evidence
from attendance.app.trainees import name_of
from attendance.db.models import HalfDay, Signature, Trainee, TrainingSession
from attendance.settings import AttendanceSettings


@dataclass(frozen=True)
class HalfDayView:
    trainee: str
    title: str
    day: date
    period: str
    starts_at: time
    ends_at: time
    place: str | None
    distance: bool
    trainer: str | None
    signed_at: datetime | None


async def link_view(db: AsyncSession, cipher: FieldCipher, settings: AttendanceSettings, token: str, now: datetime) -> HalfDayView:
    claims = signing.read_link(settings, token, now)
    half_day, trainee = await db.get(HalfDay, claims.half_day_id), await db.get(Trainee, claims.dossier_id)
    if half_day is None or trainee is None:
        raise NotFound("unknown half-day")
    session = await db.get(TrainingSession, half_day.session_id)
    latest = await signing.latest(db, half_day.id, trainee.dossier_id)
    return HalfDayView(name_of(cipher, trainee), session.action_title or "Formation", half_day.day, half_day.period, half_day.starts_at,
                       half_day.ends_at, half_day.place, half_day.distance, half_day.trainer,
                       latest.signed_at if latest is not None and latest.present else None)


async def sign_link(db: AsyncSession, cipher: FieldCipher, settings: AttendanceSettings, token: str, consent: str, evidence: Evidence,
                    now: datetime) -> tuple[HalfDayView, Signature, bool, tuple[str, datetime]]:
    """Signs with the link; then (and only then) the trainee's pass, with when it ends."""
    view = await link_view(db, cipher, settings, token, now)
    claims = signing.read_link(settings, token, now)
    signature, created = await signing.sign_by_link(db, settings, token, claims.half_day_id, claims.dossier_id, consent, None, evidence, now)
    return view, signature, created, await signing.issue_pass(db, settings, signature, now)


async def sign_qr(db: AsyncSession, settings: AttendanceSettings, code: str, trainee_pass: str, consent: str, evidence: Evidence,
                  now: datetime) -> tuple[Signature, bool]:
    return await signing.sign_by_qr(db, settings, code, trainee_pass, consent, evidence, now)
