"""Reads for the overview of the sheets (GET /overview, docs/attendance.md §8): a page of the
sessions that have half-days in the week or a month not closed among the months looked at, each
with its week's half-days counted and its months waiting for validation, and the flags count."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from pacte_common.http import decode_cursor, encode_cursor
from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from attendance.db.models import (
    Absence,
    Countersignature,
    FraudFlag,
    HalfDay,
    MonthClosure,
    Signature,
    Trainee,
    TrainingSession,
)
from attendance.domain import overview as rules
from attendance.domain.sheet import Cell, in_training, month_bounds


@dataclass
class SessionWeek:
    session: TrainingSession
    half_days: list[tuple[HalfDay, rules.HalfDayCounts, bool]] = field(default_factory=list)  # (half-day, counts, countersigned)
    waiting_months: list[str] = field(default_factory=list)


@dataclass
class Overview:
    sessions: list[SessionWeek]
    next_cursor: str | None
    open_flags: int


def _planned(first: date, last: date):
    return and_(HalfDay.day >= first, HalfDay.day <= last, HalfDay.cancelled.is_(False))


def sessions_query(organisation: str | None, week: tuple[date, date], months: list[str]) -> Select:
    """The sessions with a half-day in the week, or with a half-day in one of `months` not closed."""
    def planned_in(first: date, last: date):
        return exists(select(HalfDay.id).where(HalfDay.session_id == TrainingSession.id, _planned(first, last)))

    def closed(month: str):
        return exists(select(MonthClosure.id).where(MonthClosure.session_id == TrainingSession.id, MonthClosure.month == month))

    query = select(TrainingSession).where(or_(planned_in(*week), *(and_(planned_in(*month_bounds(m)), ~closed(m)) for m in months)))
    if organisation is not None:
        query = query.where(TrainingSession.organisation_siret == organisation)
    return query


async def sessions_page(db: AsyncSession, query: Select, cursor: str | None, limit: int) -> tuple[list[TrainingSession], str | None]:
    """Keyset on the session's id, with the shared opaque cursor (a foreign cursor: 422 on query.cursor)."""
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(TrainingSession.id > after.id)
    rows = list((await db.scalars(query.order_by(TrainingSession.id).limit(limit + 1))).all())
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_cursor(0, rows[limit - 1].id)


async def open_flags(db: AsyncSession, organisation: str | None) -> int:
    """Fraud flags are never closed: every one raised is open (an organisation: its own)."""
    query = select(func.count(FraudFlag.id))
    if organisation is not None:
        query = query.where(FraudFlag.organisation_siret == organisation)
    return int(await db.scalar(query) or 0)


async def _cells(db: AsyncSession, session_ids: list[uuid.UUID], half_days: list[HalfDay]) -> dict[uuid.UUID, list[Cell]]:
    """Each half-day's trainees (in training that day), as the sheet sees them: the latest signature
    and the latest declaration of each trainee's half-day count."""
    ids = [h.id for h in half_days]
    trainees = defaultdict(list)
    for trainee in (await db.scalars(select(Trainee).where(Trainee.session_id.in_(session_ids)))).all():
        trainees[trainee.session_id].append(trainee)
    signed = {(h, d): present for h, d, present in (await db.execute(
        select(Signature.half_day_id, Signature.dossier_id, Signature.present).where(Signature.half_day_id.in_(ids))
        .order_by(Signature.seq))).all()}
    declared = {(h, d): (absent, justified) for h, d, absent, justified in (await db.execute(
        select(Absence.half_day_id, Absence.dossier_id, Absence.absent, Absence.justified).where(Absence.half_day_id.in_(ids))
        .order_by(Absence.recorded_at))).all()}
    cells = {}
    for half_day in half_days:
        cells[half_day.id] = []
        for trainee in trainees[half_day.session_id]:
            if in_training(half_day.day, trainee.entry_date, trainee.exit_date):
                key = (half_day.id, trainee.dossier_id)
                absent, justified = declared.get(key, (False, False))
                cells[half_day.id].append(Cell(hours=half_day.hours, signed=bool(signed.get(key)), absent=absent, justified=justified))
    return cells


async def _half_days(db: AsyncSession, session_ids: list[uuid.UUID], week: tuple[date, date], months: list[str]) -> list[HalfDay]:
    periods = [_planned(*week), *(_planned(*month_bounds(m)) for m in months)]
    query = select(HalfDay).where(HalfDay.session_id.in_(session_ids), or_(*periods)).order_by(HalfDay.day, HalfDay.starts_at)
    return list((await db.scalars(query)).all())


async def overview(db: AsyncSession, organisation: str | None, week: tuple[date, date], months: list[str],
                   cursor: str | None, limit: int) -> Overview:
    """`organisation`: None for the Region (every session), a SIRET for a training organisation (its own).
    `months`: the months over looked at for validation (none of them the current one)."""
    sessions, next_cursor = await sessions_page(db, sessions_query(organisation, week, months), cursor, limit)
    ids = [s.id for s in sessions]
    closed = set((await db.execute(select(MonthClosure.session_id, MonthClosure.month)
                                   .where(MonthClosure.session_id.in_(ids), MonthClosure.month.in_(months)))).all())
    in_week = lambda h: week[0] <= h.day <= week[1]  # noqa: E731
    half_days = [h for h in await _half_days(db, ids, week, months)
                 if in_week(h) or (f"{h.day:%Y-%m}" in months and (h.session_id, f"{h.day:%Y-%m}") not in closed)]
    cells = await _cells(db, ids, half_days)
    countersigned = set((await db.scalars(select(Countersignature.half_day_id)
                                          .where(Countersignature.half_day_id.in_([h.id for h in half_days])))).all())
    found = {s.id: SessionWeek(s) for s in sessions}
    by_month: dict[tuple[uuid.UUID, str], dict[uuid.UUID, list[Cell]]] = defaultdict(dict)
    for half_day in half_days:
        if in_week(half_day):
            found[half_day.session_id].half_days.append((half_day, rules.counts(cells[half_day.id]), half_day.id in countersigned))
        if f"{half_day.day:%Y-%m}" in months:
            by_month[(half_day.session_id, f"{half_day.day:%Y-%m}")][half_day.id] = cells[half_day.id]
    for (session_id, month), month_cells in sorted(by_month.items(), key=lambda item: item[0][1]):
        if (session_id, month) not in closed and rules.month_waiting(month_cells, countersigned):
            found[session_id].waiting_months.append(month)
    return Overview(list(found.values()), next_cursor, await open_flags(db, organisation))
