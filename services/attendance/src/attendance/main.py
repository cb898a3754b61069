"""Digital attendance sheets (émargement): schedules, signatures, absences, month close, the sheet as PDF."""

from pathlib import Path

from fastapi import FastAPI
from pacte_common.events import Topics
from pacte_common.service import build_app

from attendance.api import overview, pages, sheets
from attendance.db.models import Base, messaging
from attendance.events.handlers import SUBSCRIPTIONS
from attendance.settings import AttendanceSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: AttendanceSettings | None = None) -> FastAPI:
    settings = settings or AttendanceSettings()
    app = build_app(
        settings,
        title="Pacte — attendance",
        description="Digital attendance sheets: each session's planned half-days, trainees' signatures without an account "
        "(personal link, rotating QR code, trainer's device), the trainer's countersignature, absences and lateness, "
        "the month's close that feeds pay, the sheet as a PDF, fraud flags.",
        metadata=Base.metadata,
        tables=messaging,
        migrations=MIGRATIONS,
        routers=[sheets.router, overview.router, pages.router],
        subscriptions=SUBSCRIPTIONS,
        published_topics=[Topics.ATTENDANCE_SHEETS],
    )
    app.state.attendance_settings = settings
    return app
