"""Legal training-file flows to AGORA (Caisse des dépôts), in order and exactly once, and the back-fill since 2017."""

from pathlib import Path

from fastapi import FastAPI

from agora_gateway.db.models import Base, messaging
from agora_gateway.settings import AgoraGatewaySettings
from pacte_common.service import build_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: AgoraGatewaySettings | None = None) -> FastAPI:
    settings = settings or AgoraGatewaySettings()
    return build_app(
        settings,
        title="Pacte — agora-gateway",
        description="Legal training-file flows to AGORA (Caisse des dépôts), in order and exactly once, and the back-fill since 2017.",
        metadata=Base.metadata,
        tables=messaging,
        migrations=MIGRATIONS,
    )
