"""The read side: indicators (and the reads that follow them here) built from every service's events (docs/insights.md)."""

from pathlib import Path

from fastapi import FastAPI
from pacte_common.service import build_app

from insights.api import indicators, skills
from insights.db.models import Base, messaging
from insights.events.handlers import subscriptions
from insights.settings import InsightsSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: InsightsSettings | None = None) -> FastAPI:
    settings = settings or InsightsSettings()
    return build_app(
        settings,
        title="Pacte — insights",
        description="The read side of the Pacte: monitoring indicators by sex, territory and département, with ANOTEA "
        "satisfaction, and the skills passport, built from the catalogue, trainee and attendance events (eventually consistent: docs/insights.md).",
        metadata=Base.metadata,
        tables=messaging,
        migrations=MIGRATIONS,
        routers=[indicators.router, skills.router],
        subscriptions=subscriptions() if settings.consume else [],
        published_topics=[],
    )
