"""The read side: indicators (and the reads that follow them here, the public search of the offer among them) built from every service's events (docs/insights.md)."""

from pathlib import Path

from fastapi import FastAPI
from pacte_common.service import build_app

from insights.api import indicators, public, public_pages, results, skills, trajectory
from insights.api.access import Clock, system_clock
from insights.app.trajectory import purge_periodically
from insights.db.models import Base, messaging
from insights.events.handlers import subscriptions
from insights.settings import InsightsSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: InsightsSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """`clock` gives the current instant (the results' as-of day, retention); tests pass a fixed one."""
    settings = settings or InsightsSettings()
    app = build_app(
        settings,
        title="Pacte — insights",
        description="The read side of the Pacte: monitoring indicators by sex, territory and département, with ANOTEA "
        "satisfaction, the result indicators, trajectories, the skills passport and the public search of the offer (`/public/…`, no token; pages at `/formations`), built from the catalogue, trainee, "
        "attendance and prescription events (eventually consistent: docs/insights.md).",
        metadata=Base.metadata,
        tables=messaging,
        migrations=MIGRATIONS,
        routers=[indicators.router, results.router, skills.router, trajectory.router, public.router, public_pages.router],
        subscriptions=subscriptions() if settings.consume else [],
        jobs=[purge_periodically],
        published_topics=[],
    )
    app.mount(public_pages.ASSETS, public_pages.assets, name="public-assets")  # the public pages' stylesheet
    app.state.clock = clock or system_clock
    return app
