"""Turns stored half-days, signatures, sheets and flags into response bodies (docs/developing.md,
"Rendering and access rules")."""

from __future__ import annotations

import math
from datetime import date, datetime

from attendance.api.schemas import (
    AbsenceOut,
    AttendanceOverviewOut,
    ChangeOut,
    ClosureOut,
    CountersignatureOut,
    FlagOut,
    HalfDayCountsOut,
    HalfDayOut,
    LinkOut,
    PassOut,
    QrOut,
    ReasonOut,
    ScheduleOut,
    SessionWeekOut,
    SheetOut,
    SignatureOut,
)
from attendance.app import months
from attendance.db import queries
from attendance.domain.sheet import ABSENCE_REASONS


def half_day_out(h) -> HalfDayOut:
    return HalfDayOut.model_validate(h, from_attributes=True)


def signature_out(s) -> SignatureOut:
    return SignatureOut.model_validate(s, from_attributes=True)


def sheet_out(view) -> SheetOut:
    unsigned, uncountersigned = months.missing(view)
    rows = []
    for row in view.rows:
        cells = []
        for half_day_id, cell in row.cells.items():
            signature = row.signatures.get(half_day_id)
            cells.append({"half_day_id": half_day_id, "state": cell.state, "method": signature.method if signature else None,
                          "signed_at": signature.signed_at if signature else None, "late_minutes": cell.late_minutes,
                          "early_departure_minutes": cell.early_minutes, "reason_code": cell.reason_code})
        rows.append({"dossier_id": row.trainee.dossier_id, "cells": cells, "statement": months.statement_of(row)})
    return SheetOut(session_id=view.session.id, month=view.month, half_days=[half_day_out(h) for h in view.half_days],
                    countersigned=list(view.countersigned), rows=rows, unsigned=unsigned, uncountersigned=uncountersigned,
                    closed_at=view.closure.closed_at if view.closure else None)


def change_out(row) -> ChangeOut:
    return ChangeOut.model_validate(row, from_attributes=True)


def countersignature_out(row) -> CountersignatureOut:
    return CountersignatureOut.model_validate(row, from_attributes=True)


def absence_out(row) -> AbsenceOut:
    return AbsenceOut.model_validate(row, from_attributes=True)


def closure_out(row) -> ClosureOut:
    return ClosureOut.model_validate(row, from_attributes=True)


def flag_out(row) -> FlagOut:
    return FlagOut.model_validate(row, from_attributes=True)


def absence_reasons_out() -> list[ReasonOut]:
    return [ReasonOut(code=code, label=label) for code, label in ABSENCE_REASONS.items()]


def session_week_out(item: queries.SessionWeek, local_now: datetime) -> SessionWeekOut:
    half_days = [HalfDayCountsOut(half_day_id=h.id, day=h.day, period=h.period, starts_at=h.starts_at, ends_at=h.ends_at,
                                  over=datetime.combine(h.day, h.ends_at) <= local_now, trainees=c.trainees, signed=c.signed,
                                  absent=c.absent, unsigned=c.unsigned, countersigned=countersigned)
                 for h, c, countersigned in item.half_days]
    return SessionWeekOut(session_id=item.session.id, organisation_siret=item.session.organisation_siret,
                          action_title=item.session.action_title, half_days=half_days, waiting_months=item.waiting_months)


def attendance_overview_out(found: queries.Overview, week: tuple[date, date], months: list[str],
                            local_now: datetime) -> AttendanceOverviewOut:
    first, last = week
    return AttendanceOverviewOut(
        week_start=first, week_end=last, today=local_now.date(), months_scanned=months, open_flags=found.open_flags,
        next_cursor=found.next_cursor, items=[session_week_out(item, local_now) for item in found.sessions])


def schedule_out(created: list, kept: int, skipped: list[date] | None = None) -> ScheduleOut:
    extra = {"skipped_days": skipped} if skipped is not None else {}
    return ScheduleOut(created=[half_day_out(h) for h in created], already_planned=kept, **extra)


def link_out(token: str, expires: datetime, public_url: str) -> LinkOut:
    return LinkOut(token=token, url=f"{public_url}/emargement/{token}", expires_at=expires)


def qr_out(token: str, until: datetime, now: datetime, public_url: str) -> QrOut:
    return QrOut(token=token, url=f"{public_url}/emargement/qr/{token}", valid_until=until,
                 refresh_in_s=max(1, math.ceil((until - now).total_seconds())))


def pass_out(token: str) -> PassOut:
    return PassOut(token=token)
