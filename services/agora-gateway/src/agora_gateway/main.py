"""Legal training-file flows to AGORA (Caisse des dépôts) and France Travail, in order and exactly once, and the back-fill since 2017."""

import logging
from pathlib import Path

from fastapi import FastAPI
from pacte_common.events import Topics
from pacte_common.service import build_app

from agora_gateway.api.france_travail import router as france_travail_router
from agora_gateway.api.routes import router
from agora_gateway.app.backfill import backfill_job, backfill_status
from agora_gateway.app.flows import dispatch_job
from agora_gateway.app.france_travail import ft_dispatch_job
from agora_gateway.app.metrics import install_metrics, metrics_job
from agora_gateway.db.models import Base, messaging
from agora_gateway.db.reading import install_read_db_factory, read_engine_job
from agora_gateway.events.handlers import SUBSCRIPTIONS
from agora_gateway.runtime import GatewayRuntime
from agora_gateway.settings import AgoraGatewaySettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


async def _on_startup(runtime: GatewayRuntime) -> None:
    # httpx logs every partner call at INFO (a line per certificate and per AGORA operation, each
    # formatted and scrubbed: a noticeable share of the dispatchers' CPU); the gateway logs its
    # own outcomes (refusals, unavailability), and each call is a span of the file's trace.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    install_metrics(runtime)
    install_read_db_factory(runtime)
    runtime.status_providers.append(backfill_status)


def create_app(settings: AgoraGatewaySettings | None = None) -> FastAPI:
    settings = settings or AgoraGatewaySettings()
    return build_app(
        settings,
        title="Pacte — agora-gateway",
        description="Legal training-file flows to AGORA (Caisse des dépôts) and France Travail, in order and exactly once, and the back-fill since 2017.",
        metadata=Base.metadata,
        tables=messaging,
        migrations=MIGRATIONS,
        routers=[router, france_travail_router],
        subscriptions=SUBSCRIPTIONS,
        jobs=[dispatch_job, ft_dispatch_job, backfill_job, metrics_job, read_engine_job],
        published_topics=[Topics.AGORA_FLOWS, Topics.FRANCE_TRAVAIL],
        on_startup=_on_startup,  # type: ignore[arg-type]
        runtime_class=GatewayRuntime,
    )
