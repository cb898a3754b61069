"""Orientation service: prescriptions between prescribers and training organisations."""

from pathlib import Path

from fastapi import FastAPI
from pacte_common.events import Topics
from pacte_common.service import build_app

from orientation.api.people import router as people_router
from orientation.api.prescriptions import router as prescriptions_router
from orientation.api.sessions import router as sessions_router
from orientation.app.prescriptions import expiry_job
from orientation.db.models import Base, messaging
from orientation.events.handlers import SUBSCRIPTIONS
from orientation.settings import OrientationSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: OrientationSettings | None = None) -> FastAPI:
    settings = settings or OrientationSettings()
    return build_app(
        settings,
        title="Pacte — orientation",
        description="Dematerialised prescriptions (OUIFORM-like) between prescribers and training organisations.",
        metadata=Base.metadata,
        tables=messaging,
        migrations=MIGRATIONS,
        routers=[sessions_router, prescriptions_router, people_router],
        subscriptions=SUBSCRIPTIONS,
        jobs=[expiry_job],
        published_topics=[Topics.PRESCRIPTIONS],
    )
