"""Signing without an account (docs/attendance.md §2): personal link, the room's QR code, the
trainer's device; the trainer's countersignature; corrections. Every record is appended."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from pacte_common.errors import Conflict, Forbidden, Invalid, NotFound, ProblemError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from attendance.app.context import Caller, Evidence
from attendance.app.schedule import ensure_month_open, half_day_for, session_for
from attendance.db.models import (
    Countersignature,
    FraudFlag,
    HalfDay,
    Signature,
    Trainee,
    TrainingSession,
)
from attendance.domain import sheet, tokens
from attendance.settings import AttendanceSettings

SELF_METHODS = ("link", "qr")
RENEW = "Demandez un nouveau lien à votre organisme de formation (ou signez avec le QR code affiché en salle)."


class Gone(ProblemError):
    status, slug, title = 410, "expired", "Expired"


async def trainee_in(db: AsyncSession, half_day: HalfDay, dossier_id: uuid.UUID, field: str = "body.dossier_id") -> Trainee:
    trainee = await db.get(Trainee, dossier_id)
    if trainee is None or trainee.session_id != half_day.session_id:
        raise NotFound("this trainee is not in the half-day's session", field=field)
    if not sheet.in_training(half_day.day, trainee.entry_date, trainee.exit_date):
        raise Conflict(f"the trainee is not in training on {half_day.day} (entry {trainee.entry_date}, exit {trainee.exit_date})",
                       slug="not-in-training")
    return trainee


def _check_window(settings: AttendanceSettings, half_day: HalfDay, now: datetime) -> None:
    opens, closes = sheet.signing_window(half_day.day, half_day.starts_at, half_day.ends_at, settings.timezone,
                                         settings.sign_opens_before_min, settings.sign_closes_after_min)
    if half_day.cancelled:
        raise Conflict("this half-day is cancelled", slug="half-day-cancelled")
    if not opens <= now <= closes:
        raise Conflict(f"signing is open from {opens.isoformat()} to {closes.isoformat()} (server time {now.isoformat()})",
                       slug="outside-window", opens_at=opens.isoformat(), closes_at=closes.isoformat())


async def latest(db: AsyncSession, half_day_id: uuid.UUID, dossier_id: uuid.UUID) -> Signature | None:
    return await db.scalar(select(Signature).where(Signature.half_day_id == half_day_id, Signature.dossier_id == dossier_id)
                           .order_by(Signature.seq.desc()).limit(1))


async def _flag_shared_device(db: AsyncSession, half_day: HalfDay, signature: Signature) -> None:
    if signature.method not in SELF_METHODS or not signature.device_hash:
        return
    others = (await db.scalars(select(Signature.dossier_id).where(
        Signature.half_day_id == half_day.id, Signature.device_hash == signature.device_hash,
        Signature.method.in_(SELF_METHODS), Signature.dossier_id != signature.dossier_id))).all()
    if others:
        session = await db.get(TrainingSession, half_day.session_id)
        db.add(FraudFlag(kind="shared_device", session_id=half_day.session_id, organisation_siret=session.organisation_siret,
                         half_day_id=half_day.id, dossier_ids=sorted({str(d) for d in [*others, signature.dossier_id]}),
                         device_hash=signature.device_hash,
                         detail=f"one device signed for {len(set(others)) + 1} trainees on {half_day.day} ({half_day.period})"))


async def _sign(db: AsyncSession, settings: AttendanceSettings, half_day: HalfDay, dossier_id: uuid.UUID, *, method: str,
                consent: str, drawn: str | None, evidence: Evidence, author: str, token_id: str | None, now: datetime
                ) -> tuple[Signature, bool]:
    """The trainee's signature of the half-day; the same again gives the one already made."""
    await trainee_in(db, half_day, dossier_id)
    found = await latest(db, half_day.id, dossier_id)
    if found is not None:
        if found.present:
            return found, False
        raise Conflict("the organisation recorded this half-day as not signed; ask it for a correction", slug="corrected")
    _check_window(settings, half_day, now)
    signature = Signature(id=uuid.uuid4(), half_day_id=half_day.id, dossier_id=dossier_id, seq=1, present=True, method=method,
                          signed_at=now, consent=consent, drawn_sha256=drawn, ip_hash=evidence.ip_hash,
                          user_agent_hash=evidence.user_agent_hash, device_hash=evidence.device_hash, token_id=token_id,
                          author=author)
    db.add(signature)
    try:
        await db.flush()
    except IntegrityError:  # signed at the same instant by another request: that one stands
        await db.rollback()
        return await latest(db, half_day.id, dossier_id), False
    await _flag_shared_device(db, half_day, signature)
    await db.commit()
    return signature, True


async def issue_link(db: AsyncSession, settings: AttendanceSettings, caller: Caller, half_day_id: uuid.UUID,
                     dossier_id: uuid.UUID, now: datetime) -> tuple[str, datetime]:
    half_day = await half_day_for(db, caller, half_day_id)
    await trainee_in(db, half_day, dossier_id)
    ttl = timedelta(seconds=settings.link_ttl_s)
    return tokens.link_token(settings.signing_key, dossier_id, half_day.id, now, ttl), now + ttl


def read_link(settings: AttendanceSettings, token: str, now: datetime) -> tokens.LinkClaims:
    try:
        return tokens.read_link(settings.signing_key, token, now)
    except tokens.TokenExpired:
        raise Gone("this signing link has expired. " + RENEW, how_to_renew=RENEW) from None
    except tokens.TokenInvalid:
        raise Forbidden("this is not a valid signing link") from None


async def sign_by_link(db: AsyncSession, settings: AttendanceSettings, token: str, half_day_id: uuid.UUID, dossier_id: uuid.UUID,
                       consent: str, drawn: str | None, evidence: Evidence, now: datetime) -> tuple[Signature, bool]:
    claims = read_link(settings, token, now)
    if claims.half_day_id != half_day_id or claims.dossier_id != dossier_id:
        raise Forbidden("this link is for another trainee or another half-day")
    half_day = await db.get(HalfDay, half_day_id)
    if half_day is None:
        raise NotFound("unknown half-day")
    return await _sign(db, settings, half_day, dossier_id, method="link", consent=consent, drawn=drawn, evidence=evidence,
                       author=f"trainee:{dossier_id}", token_id=claims.token_id, now=now)


async def qr_code(db: AsyncSession, settings: AttendanceSettings, caller: Caller, half_day_id: uuid.UUID, now: datetime) -> tuple[str, datetime]:
    half_day = await half_day_for(db, caller, half_day_id)
    return tokens.qr_token(settings.signing_key, half_day.id, now, settings.qr_window_s)


async def trainee_pass(db: AsyncSession, settings: AttendanceSettings, caller: Caller, session_id: uuid.UUID,
                       dossier_id: uuid.UUID, now: datetime) -> str:
    session = await session_for(db, caller, session_id)
    trainee = await db.get(Trainee, dossier_id)
    if trainee is None or trainee.session_id != session.id:
        raise NotFound("this trainee is not in the session", field="path.dossier_id")
    return tokens.pass_token(settings.signing_key, dossier_id, session.id, await pass_expiry(db, settings, session, now))


async def pass_expiry(db: AsyncSession, settings: AttendanceSettings, session: TrainingSession, now: datetime) -> datetime:
    """The one lifetime of a trainee's pass: the end (local midnight) of the session's last day, or of
    its last planned half-day, plus settings.pass_grace_days; never before now plus the grace."""
    last = max([d for d in (session.end_date, await db.scalar(select(func.max(HalfDay.day)).where(
        HalfDay.session_id == session.id))) if d is not None], default=None)
    grace = timedelta(days=settings.pass_grace_days)
    if last is None:
        return now + grace
    ends = datetime.combine(last + timedelta(days=1), time.min, ZoneInfo(settings.timezone))
    return max(ends, now) + grace


async def issue_pass(db: AsyncSession, settings: AttendanceSettings, signature: Signature, now: datetime) -> tuple[str, datetime]:
    """The pass the signing page leaves on the phone, once a link signature succeeded."""
    half_day = await db.get(HalfDay, signature.half_day_id)
    session = await db.get(TrainingSession, half_day.session_id)
    until = await pass_expiry(db, settings, session, now)
    return tokens.pass_token(settings.signing_key, signature.dossier_id, session.id, until), until


async def sign_by_qr(db: AsyncSession, settings: AttendanceSettings, qr: str, trainee_pass_token: str, consent: str,
                     evidence: Evidence, now: datetime) -> tuple[Signature, bool]:
    try:
        dossier_id, session_id = tokens.read_pass(settings.signing_key, trainee_pass_token, now)
        claims = tokens.read_qr(settings.signing_key, qr)
    except tokens.TokenExpired:
        raise Gone("your pass has expired. " + RENEW, how_to_renew=RENEW) from None
    except tokens.TokenInvalid:
        raise Forbidden("not a valid QR code or pass") from None
    half_day = await db.get(HalfDay, claims.half_day_id)
    if half_day is None or half_day.session_id != session_id:
        raise Forbidden("this QR code is for another session")
    if not tokens.qr_still_valid(claims, now, settings.qr_window_s):
        await _flag_late_qr(db, half_day, dossier_id, evidence, now, claims)
        raise Gone("this QR code has expired: scan the code shown in the room now", how_to_renew="Scannez le QR code affiché en salle.")
    return await _sign(db, settings, half_day, dossier_id, method="qr", consent=consent, drawn=None, evidence=evidence,
                       author=f"trainee:{dossier_id}", token_id=f"qr:{claims.window}", now=now)


async def _flag_late_qr(db: AsyncSession, half_day: HalfDay, dossier_id: uuid.UUID, evidence: Evidence, now: datetime,
                        claims: tokens.QrClaims) -> None:
    """One flag per (half-day, trainee, QR window): a replayed code does not grow the table."""
    prefix = f"QR code of window {claims.window} used at "
    flagged = (await db.scalars(select(FraudFlag.dossier_ids).where(
        FraudFlag.kind == "late_qr", FraudFlag.half_day_id == half_day.id, FraudFlag.detail.startswith(prefix)))).all()
    if [str(dossier_id)] in flagged:
        return
    session = await db.get(TrainingSession, half_day.session_id)
    db.add(FraudFlag(kind="late_qr", session_id=half_day.session_id, organisation_siret=session.organisation_siret,
                     half_day_id=half_day.id, dossier_ids=[str(dossier_id)], device_hash=evidence.device_hash,
                     detail=f"{prefix}{now.isoformat()}, after its window"))
    await db.commit()


async def sign_on_trainer_device(db: AsyncSession, settings: AttendanceSettings, caller: Caller, half_day_id: uuid.UUID,
                                 dossier_id: uuid.UUID, consent: str, drawn: str | None, evidence: Evidence, now: datetime
                                 ) -> tuple[Signature, bool]:
    half_day = await half_day_for(db, caller, half_day_id)
    return await _sign(db, settings, half_day, dossier_id, method="trainer", consent=consent, drawn=drawn, evidence=evidence,
                       author=caller.actor, token_id=None, now=now)


async def correct(db: AsyncSession, caller: Caller, half_day_id: uuid.UUID, dossier_id: uuid.UUID, present: bool,
                  reason: str | None, now: datetime) -> Signature:
    """A correction is a new record (author, reason) after the ones it corrects; nothing is changed."""
    if not (reason or "").strip():
        raise Invalid("a correction states its reason", field="body.reason")
    half_day = await half_day_for(db, caller, half_day_id, lock=True)
    await ensure_month_open(db, half_day.session_id, half_day.day)
    await trainee_in(db, half_day, dossier_id)
    found = await latest(db, half_day.id, dossier_id)
    seq = await db.scalar(select(func.coalesce(func.max(Signature.seq), 0)).where(
        Signature.half_day_id == half_day.id, Signature.dossier_id == dossier_id))
    signature = Signature(id=uuid.uuid4(), half_day_id=half_day.id, dossier_id=dossier_id, seq=seq + 1, present=present,
                          method="correction", signed_at=now, consent="correction by the organisation", author=caller.actor,
                          reason=reason.strip(), corrects_id=found.id if found else None)
    db.add(signature)
    await db.flush()
    await db.commit()
    return signature


async def countersign(db: AsyncSession, settings: AttendanceSettings, caller: Caller, half_day_id: uuid.UUID, trainer: str,
                      evidence: Evidence, now: datetime) -> tuple[Countersignature, bool]:
    half_day = await half_day_for(db, caller, half_day_id)
    found = await db.scalar(select(Countersignature).where(Countersignature.half_day_id == half_day.id))
    if found is not None:
        return found, False
    await ensure_month_open(db, half_day.session_id, half_day.day)
    starts = sheet.local_instant(half_day.day, half_day.starts_at, settings.timezone)
    if now < starts:
        raise Conflict(f"a half-day is countersigned once it has started ({starts.isoformat()})", slug="not-started",
                       starts_at=starts.isoformat())
    record = Countersignature(id=uuid.uuid4(), half_day_id=half_day.id, trainer=trainer, signed_at=now, author=caller.actor,
                              ip_hash=evidence.ip_hash)
    db.add(record)
    await db.flush()
    await db.commit()
    return record, True
