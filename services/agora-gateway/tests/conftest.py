"""Fixtures of the gateway's tests: a live AGORA sandbox over real HTTP, fast gateway settings."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from agora_gateway.sandbox.main import create_app as create_sandbox
from agora_gateway.sandbox.settings import DEV_SANDBOX_TOKEN, AgoraSandboxSettings
from agora_gateway.sandbox.store import SandboxStore
from agora_gateway.settings import AgoraGatewaySettings
from agora_gateway.testing import serving


@dataclass
class Sandbox:
    url: str
    store: SandboxStore
    client: httpx.AsyncClient

    async def faults(self, **faults) -> None:
        response = await self.client.put("/v1/faults", json=faults)
        assert response.status_code == 200, response.text

    async def holdings(self, **params) -> dict:
        response = await self.client.get("/v1/holdings", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def file(self, dossier_id) -> dict | None:
        agora_id = self.store.by_ref.get(str(dossier_id))
        return self.store.files[agora_id].view() if agora_id else None


@pytest.fixture
async def sandbox():
    app = create_sandbox(AgoraSandboxSettings(random_seed=20261126))
    async with serving(app) as url:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {DEV_SANDBOX_TOKEN}"}) as client:
            yield Sandbox(url, app.state.store, client)


@pytest.fixture
def make_settings(database_url, bus_settings, sandbox, tmp_path):
    def make(**overrides) -> AgoraGatewaySettings:
        values = dict(
            database_url=database_url,
            bus=bus_settings,
            agora_url=sandbox.url,
            data_dir=tmp_path / "data",
            log_json=False,
            agora_timeout_s=1.0,
            send_attempts=3,
            send_backoff_initial_s=0.02,
            send_backoff_max_s=0.1,
            requeue_delay_initial_s=0.1,
            requeue_delay_max_s=0.4,
            dispatch_poll_interval_s=0.05,
            dispatch_lease_s=5.0,
            dispatch_shutdown_grace_s=0.0,
            metrics_refresh_s=0.1,
            backfill_poll_interval_s=0.05,
        )
        values.update(overrides)
        return AgoraGatewaySettings(**values)

    return make
