"""Émargement: the attendance sheets of a week, per session, from the attendance service's
overview (`GET /overview`) and fraud flags (`GET /flags`); each month's sheet as a PDF, proxied;
the room's rotating QR code of a half-day, for the screen in the room (a training organisation).
The Region sees every session, a training organisation its own (the service decides)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.pages import BadFilter, SignedIn, _clean, _date, backend_of, path_month, render

router = APIRouter()
PERIODS = {"morning": "matin", "afternoon": "après-midi"}
WEEKDAYS = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")
FLAG_KINDS = {"shared_device": "Un appareil pour plusieurs stagiaires", "late_qr": "QR code utilisé après sa validité"}


def french_day(value: str) -> str:
    day = date.fromisoformat(value)
    return f"{WEEKDAYS[day.weekday()]} {day:%d/%m/%Y}"


def _sessions(overview: dict) -> list[dict]:
    """The week's sessions with their half-days labelled, and the months of the week (for the PDF links)."""
    found = []
    for item in sorted(overview["items"], key=lambda i: (i["action_title"], i["session_id"])):
        half_days = [{**h, "label": f"{french_day(h['day'])} {PERIODS.get(h['period'], h['period'])}",
                      "hours": f"{h['starts_at'][:5]}–{h['ends_at'][:5]}"} for h in item["half_days"]]
        months = sorted({h["day"][:7] for h in item["half_days"]})
        found.append({**item, "half_days": half_days, "months": months, "title": item["action_title"] or "Session"})
    return found


@router.get("/attendance")
async def attendance_page(request: Request, operator: SignedIn):
    settings, backend = request.app.state.settings, backend_of(request)
    try:
        week = _date(request.query_params.get("week"), "week")
    except BadFilter as exc:
        return render(request, "attendance.html", status_code=422, error=str(exc), operator=operator, overview=None)
    cursor = _clean(request.query_params.get("cursor"))
    overview, flags = await asyncio.gather(
        backend.get_json("attendance", "/overview", token=operator.token,
                         params={"week": week and week.isoformat(), "cursor": cursor, "limit": settings.attendance_page_size}),
        backend.get_json("attendance", "/flags", token=operator.token, params={"limit": settings.attendance_flags_shown}),
    )
    flags = flags["items"]
    sessions = _sessions(overview)
    unsigned = [{**h, "session": s} for s in sessions for h in s["half_days"] if h["over"] and h["unsigned"]]
    waiting = [{"session": s, "month": m} for s in sessions for m in s["waiting_months"]]
    for flag in flags:
        flag["kind_label"] = FLAG_KINDS.get(flag["kind"], flag["kind"])
    start = date.fromisoformat(overview["week_start"])
    more = urlencode({"week": start.isoformat(), "cursor": overview["next_cursor"]}) if overview.get("next_cursor") else None
    return render(request, "attendance.html", operator=operator, overview=overview, sessions=sessions, unsigned=unsigned,
                  waiting=waiting, flags=flags, flags_total=overview["open_flags"], more=more,
                  week_label=f"du {start:%d/%m/%Y} au {date.fromisoformat(overview['week_end']):%d/%m/%Y}",
                  previous=(start - timedelta(days=7)).isoformat(), following=(start + timedelta(days=7)).isoformat(),
                  french_day=french_day)


@router.get("/attendance/sessions/{session_id}/sheets/{month}.pdf")
async def attendance_sheet_pdf(session_id: uuid.UUID, month: str, request: Request, operator: SignedIn):
    """The session's sheet of the month, as the attendance service draws it (the same document for all)."""
    checked = path_month(month)  # the checked month and id name the file, never the raw path text
    response = await backend_of(request).call("attendance", "GET", f"/sessions/{session_id}/sheets/{checked}.pdf", token=operator.token)
    return Response(response.content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="emargement-{session_id}-{checked}.pdf"'})


@router.get("/attendance/half-days/{half_day_id}/qr")
async def room_qr_page(half_day_id: uuid.UUID, request: Request, operator: SignedIn):
    """The screen in the room: the half-day's current QR code, drawn here (SVG), the page reloading
    itself (console.js) when the service says the code changes (docs/attendance.md §2)."""
    code = await backend_of(request).get_json("attendance", f"/half-days/{half_day_id}/qr", token=operator.token)
    drawing = segno.make(code["url"], error="m").svg_inline(scale=8, border=4, dark="#000", light="#fff",
                                                            title="Code QR d'émargement")
    until = datetime.fromisoformat(code["valid_until"]).astimezone(ZoneInfo(request.app.state.settings.business_timezone))
    return render(request, "attendance_qr.html", qr_svg=drawing, refresh_in_s=code["refresh_in_s"],
                  valid_until=f"{until:%H:%M:%S}", url=code["url"])
