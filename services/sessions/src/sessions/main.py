"""Training offer (programmes, actions, sessions, LHEO import), trainee files from enrolment to exit, attendance, ANOTEA reviews, outcomes; the indicators, result indicators, trajectories, the skills passport and the public search of the offer are insights' (docs/insights.md)."""

from pathlib import Path

from fastapi import FastAPI
from pacte_common.events import Topics
from pacte_common.service import build_app

from sessions.api import (
    catalogue,
    dossiers,
    lheo,
    satisfaction,
    territories,
)
from sessions.api import outcomes as outcomes_api
from sessions.api.access import Clock, system_clock
from sessions.app.lheo_feeds import pull_feeds_periodically
from sessions.app.outcomes import purge_periodically
from sessions.db.models import Base, messaging
from sessions.events.handlers import attendance_sheets_subscription, subscriptions
from sessions.settings import SessionsSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: SessionsSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """`clock` gives the current instant (declaration dates); tests pass a fixed one."""
    settings = settings or SessionsSettings()
    app = build_app(
        settings,
        title="Pacte — sessions",
        description="Training offer (programmes, actions, sessions, LHEO import), trainee files from enrolment to exit, attendance, ANOTEA reviews, outcomes; the indicators, result indicators, trajectories, the skills passport and the public search of the offer are insights' (docs/insights.md).",
        metadata=Base.metadata,
        tables=messaging,
        migrations=MIGRATIONS,
        routers=[catalogue.router, lheo.router, dossiers.router, satisfaction.router, territories.router],
        subscriptions=[*subscriptions(settings.prescriptions_consumer_name),
                       attendance_sheets_subscription()] if settings.consume_prescriptions else [],
        jobs=[purge_periodically, pull_feeds_periodically],
        published_topics=[Topics.CATALOGUE, Topics.TRAINEES, Topics.ATTENDANCE],
    )
    app.include_router(outcomes_api.router)  # outcomes: imports, declarations, purge (docs/outcomes.md)
    app.state.clock = clock or system_clock
    return app

