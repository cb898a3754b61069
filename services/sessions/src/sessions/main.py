"""Training offer (programmes, actions, sessions, LHEO import), trainee files from enrolment to exit, attendance, ANOTEA reviews, outcomes; the indicators, result indicators, trajectories and the skills passport are insights' (docs/insights.md)."""

import gc
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from pacte_common.events import Topics
from pacte_common.service import build_app

from sessions.api import (
    catalogue,
    dossiers,
    lheo,
    public,
    public_pages,
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
        description="Training offer (programmes, actions, sessions, LHEO import), trainee files from enrolment to exit, attendance, ANOTEA reviews, outcomes; the indicators, result indicators, trajectories and the skills passport are insights' (docs/insights.md).",
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
    app.include_router(public.router)  # the public search, no token (docs/public-search.md)
    app.include_router(public_pages.router)
    app.mount(public_pages.ASSETS, public_pages.assets, name="public-assets")
    app.state.clock = clock or system_clock
    app.router.lifespan_context = _freezing_startup_objects(app.router.lifespan_context)
    return app


def _freezing_startup_objects(lifespan):
    """The lifespan, then the objects made at start-up (modules, models, routes, compiled
    schemas: some 170,000) moved out of the garbage collector's reach: a full collection no
    longer walks them, which paused a request for 100 ms or more every few seconds and made the
    public search's p99 (docs/public-search.md, "Speed"). Unfrozen at the end, so that a process
    that starts several apps (the tests) can still collect the cycles of the ones stopped."""

    @asynccontextmanager
    async def lifespan_then_freeze(app: FastAPI):
        async with lifespan(app) as state:
            gc.freeze()  # no collection first: it would cost every test's app start as much as one pause
            try:
                yield state
            finally:
                gc.unfreeze()

    return lifespan_then_freeze
