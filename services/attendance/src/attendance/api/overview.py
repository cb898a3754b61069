"""The overview of the sheets for the Region (every session) and a training organisation (its own):
the week's half-days counted, the months waiting for validation, the flags (docs/attendance.md §8)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.http import CursorParam, IsoDate
from pacte_common.service import DbSession

from attendance.api.access import organisation_seen_by
from attendance.api.deps import Now, Settings
from attendance.api.presenters import attendance_overview_out
from attendance.api.schemas import AttendanceOverviewOut
from attendance.db import queries
from attendance.domain.overview import months_before, week_of

router = APIRouter(tags=["attendance"])
Reader = Annotated[Principal, require_kind(OrgKind.TRAINING_ORG, OrgKind.REGION)]
WeekParam = Annotated[IsoDate | None, Query(description="A day of the week shown (Monday to Sunday); this week by default")]
PageSize = Annotated[int, Query(ge=1, le=100, description="Sessions per page")]


@router.get("/overview", response_model=AttendanceOverviewOut,
            summary="The week's sheets per session (signed, absent, unsigned, countersigned), the months waiting for "
                    "validation and the flags count (the Region: every session; an organisation: its own)")
async def attendance_overview(principal: Reader, db: DbSession, settings: Settings, now: Now, week: WeekParam = None,
                              cursor: CursorParam = None, limit: PageSize = 20):
    local_now = now.astimezone(ZoneInfo(settings.timezone)).replace(tzinfo=None)
    first, last = week_of(week or local_now.date())
    months = months_before(local_now.date(), settings.overview_months_scanned)
    organisation = organisation_seen_by(principal)
    found = await queries.overview(db, organisation, (first, last), months, cursor, limit)
    return attendance_overview_out(found, (first, last), months, local_now)
