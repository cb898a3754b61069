"""Trainee remuneration: entitlement, monthly computation from attendance, Region top-ups, emergency aid, advances and the paying agency's batch."""

from pathlib import Path

from fastapi import FastAPI
from pacte_common.events import Topics
from pacte_common.service import build_app

from remuneration.api import aids, debts, files, runs
from remuneration.db.models import Base, messaging
from remuneration.events.handlers import SUBSCRIPTIONS
from remuneration.settings import RemunerationSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: RemunerationSettings | None = None) -> FastAPI:
    settings = settings or RemunerationSettings()
    return build_app(
        settings,
        title="Pacte — remuneration",
        description="Trainee remuneration: entitlement, monthly computation from attendance, Region top-ups, emergency aid, advances, the paying agency's batch, and the debts it recovers.",
        metadata=Base.metadata,
        tables=messaging,
        migrations=MIGRATIONS,
        routers=[files.router, runs.router, aids.router, debts.router],
        subscriptions=SUBSCRIPTIONS,
        published_topics=[Topics.PAYMENTS],
    )
