"""Fixtures of the gateway's tests: a live AGORA sandbox over real HTTP, fast gateway settings."""

from __future__ import annotations

import pytest
from agora_gateway.settings import AgoraGatewaySettings
from pacte_testing.agora import running_sandbox


@pytest.fixture
async def sandbox():
    async with running_sandbox(random_seed=20261126) as running:
        yield running


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
