"""Training offer (programmes, actions, sessions, LHEO import), trainee files from enrolment to exit, attendance and the Pacte's indicators."""

from pathlib import Path

from fastapi import FastAPI

from sessions.db.models import Base, messaging
from sessions.settings import SessionsSettings
from pacte_common.service import build_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: SessionsSettings | None = None) -> FastAPI:
    settings = settings or SessionsSettings()
    return build_app(
        settings,
        title="Pacte — sessions",
        description="Training offer (programmes, actions, sessions, LHEO import), trainee files from enrolment to exit, attendance and the Pacte's indicators.",
        metadata=Base.metadata,
        tables=messaging,
        migrations=MIGRATIONS,
    )
