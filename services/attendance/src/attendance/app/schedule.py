"""The schedule of a session: generated from a weekly pattern, imported from an iCalendar or a CSV file, edited.

A change of a half-day that already has signatures keeps them and is logged (half_day_changes)."""

from __future__ import annotations

import uuid
from datetime import date
from zoneinfo import ZoneInfo

from pacte_common.errors import Conflict, Invalid, NotFound
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from attendance.app.context import Caller
from attendance.db.models import HalfDay, HalfDayChange, MonthClosure, Signature, TrainingSession
from attendance.domain import schedule as rules

EDITABLE = ("starts_at", "ends_at", "hours", "place", "distance", "trainer", "cancelled")


async def session_for(db: AsyncSession, caller: Caller, session_id: uuid.UUID, *, create: bool = False) -> TrainingSession:
    """The session, if the caller sees it (api/access.py: an organisation only its own). An organisation may
    plan a session before its first trainee arrives: it is recorded as the caller's until
    sessions' first trainee event says whose it is; if another's, that plan is dropped
    (app/trainees.py) and the caller no longer sees the session."""
    session = await db.get(TrainingSession, session_id)
    if session is None and create and caller.organisation is not None:
        session = TrainingSession(id=session_id, organisation_siret=caller.organisation)
        db.add(session)
        await db.flush()
    if session is None or caller.organisation not in (None, session.organisation_siret):
        raise NotFound(f"unknown session {session_id}: no schedule and no trainee yet")
    return session


async def ensure_month_open(db: AsyncSession, session_id: uuid.UUID, day: date) -> None:
    """A validated month is final: nothing of it changes any more (409 `month-closed`, naming it)."""
    month = f"{day:%Y-%m}"
    if await db.scalar(select(MonthClosure.id).where(MonthClosure.session_id == session_id, MonthClosure.month == month)) is not None:
        raise Conflict(f"the month {month} is closed: its sheet no longer changes", slug="month-closed", month=month)


def _invalid(error: rules.ScheduleError) -> Invalid:
    if error.errors:
        return Invalid(error.message, errors=error.errors)
    return Invalid(error.message, field=error.field)


async def add_planned(db: AsyncSession, session_id: uuid.UUID, planned: list[rules.Planned], origin: str) -> tuple[list[HalfDay], int]:
    """Adds the half-days not planned yet (same day and period: kept as is). Returns the new ones
    and how many were already there."""
    existing = {(h.day, h.period) for h in (await db.scalars(select(HalfDay).where(HalfDay.session_id == session_id))).all()}
    created = []
    for item in planned:
        if (item.day, item.period) in existing:
            continue
        existing.add((item.day, item.period))
        half_day = HalfDay(id=uuid.uuid4(), session_id=session_id, day=item.day, period=item.period, starts_at=item.starts_at,
                           ends_at=item.ends_at, hours=item.hours, place=item.place, distance=item.distance,
                           trainer=item.trainer, origin=origin)
        db.add(half_day)
        created.append(half_day)
    await db.flush()
    return created, len(planned) - len(created)


async def generate(db: AsyncSession, caller: Caller, session_id: uuid.UUID, request: dict) -> tuple[list[HalfDay], int, list]:
    await session_for(db, caller, session_id, create=True)
    try:
        planned, skipped = rules.generate(
            request["first_day"], request["last_day"], request["weekdays"], request["slots"], closures=request["closures"],
            place=request.get("place"), distance=request.get("distance", False), trainer=request.get("trainer"),
        )
    except rules.ScheduleError as exc:
        raise _invalid(exc) from None
    created, kept = await add_planned(db, session_id, planned, "pattern")
    await db.commit()
    return created, kept, skipped


# The files a schedule is imported from (docs/attendance.md §1): origin → reader.
IMPORTS = {
    "ical": lambda content, timezone: rules.from_icalendar(content, ZoneInfo(timezone)),
    "csv": lambda content, timezone: rules.from_csv(content),
}


async def import_file(db: AsyncSession, caller: Caller, session_id: uuid.UUID, origin: str, content: bytes,
                      timezone: str) -> tuple[list[HalfDay], int]:
    """Imports half-days from a file, all or nothing: a bad file changes nothing (422 naming what is
    wrong). A day and period already planned is kept as it is, with its signatures: changing it is
    an edit (`edit`: logged, with a reason once signed)."""
    await session_for(db, caller, session_id, create=True)
    try:
        planned = IMPORTS[origin](content, timezone)
    except rules.ScheduleError as exc:
        raise _invalid(exc) from None
    created, kept = await add_planned(db, session_id, planned, origin)
    await db.commit()
    return created, kept


async def half_day_for(db: AsyncSession, caller: Caller, half_day_id: uuid.UUID, *, lock: bool = False) -> HalfDay:
    half_day = await db.get(HalfDay, half_day_id, with_for_update=lock)
    if half_day is None:
        raise NotFound("unknown half-day")
    await session_for(db, caller, half_day.session_id)
    return half_day


def _state(half_day: HalfDay) -> dict:
    return {name: (str(getattr(half_day, name)) if name in ("starts_at", "ends_at", "hours") else getattr(half_day, name)) for name in EDITABLE}


async def edit(db: AsyncSession, caller: Caller, half_day_id: uuid.UUID, changes: dict, reason: str | None, version: int | None) -> HalfDay:
    """Changes a planned half-day; its signatures stay; the change is logged with who and why."""
    half_day = await half_day_for(db, caller, half_day_id, lock=True)
    await ensure_month_open(db, half_day.session_id, half_day.day)
    if version is not None and version != half_day.version:
        raise Conflict(f"the half-day changed meanwhile (version {half_day.version})", slug="concurrent-update")
    signed = await db.scalar(select(func.count()).select_from(Signature).where(Signature.half_day_id == half_day.id))
    if signed and not (reason or "").strip():
        raise Invalid("a half-day that has signatures is changed with a reason", field="body.reason")
    before = _state(half_day)
    for name, value in changes.items():
        setattr(half_day, name, value)
    if "starts_at" in changes or "ends_at" in changes:
        if half_day.ends_at <= half_day.starts_at:
            raise Invalid("the end must come after the start", field="body.ends_at")
        if "hours" not in changes:
            half_day.hours = rules.hours_between(half_day.starts_at, half_day.ends_at)
    half_day.version += 1
    db.add(HalfDayChange(half_day_id=half_day.id, actor=caller.actor, reason=reason, before=before,
                         after=_state(half_day), signatures_kept=signed or 0))
    await db.flush()
    await db.commit()
    return half_day


async def changes_of(db: AsyncSession, half_day_id: uuid.UUID) -> list[HalfDayChange]:
    return list((await db.scalars(select(HalfDayChange).where(HalfDayChange.half_day_id == half_day_id).order_by(HalfDayChange.id))).all())


async def half_days_of(db: AsyncSession, session_id: uuid.UUID, first=None, last=None) -> list[HalfDay]:
    query = select(HalfDay).where(HalfDay.session_id == session_id)
    if first is not None:
        query = query.where(HalfDay.day >= first, HalfDay.day <= last)
    return list((await db.scalars(query.order_by(HalfDay.day, HalfDay.starts_at))).all())
