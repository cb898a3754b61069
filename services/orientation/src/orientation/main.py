"""Orientation service: prescriptions between prescribers and training organisations."""

from pathlib import Path

from fastapi import FastAPI

from orientation.db.models import Base, messaging
from orientation.settings import OrientationSettings
from pacte_common.service import build_app

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
    )
