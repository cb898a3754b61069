"""The whole suite, started as `pacte up` starts it (subprocesses, real broker, real databases),
on free ports, for the cross-service journeys. One suite per test session."""

from __future__ import annotations

import asyncio
import os
import uuid

import httpx
import pytest
from pacte_common.auth import OrgKind
from pacte_common.dev_issuer import request_token
from pacte_common.suite import SERVICES, Suite, SuiteSettings, drop_postgres_databases
from pacte_common.testing import DEFAULT_POSTGRES, selected_database_kind

# Quicker loops than production defaults, so journeys finish in seconds.
FAST = {
    "BUS__RELAY_POLL_INTERVAL_S": "0.05",
    "BUS__CONSUMER_RETRY_BACKOFF_S": "0.05",
    "BUS__RELAY_MAX_BACKOFF_S": "1",
}


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    settings = SuiteSettings.on_free_ports(tmp_path_factory.mktemp("suite"), topic_partitions=2, ready_timeout_s=180)
    if selected_database_kind() == "postgresql":
        server = os.environ.get("PACTE_TEST_POSTGRES_URL", DEFAULT_POSTGRES).rsplit("/", 1)[0]
        settings.postgres_url = server
        settings.database_name_prefix = f"pacte_journey_{uuid.uuid4().hex[:8]}_"
    extra_env = {spec.env_prefix + name: value for spec in SERVICES for name, value in FAST.items()}
    running = Suite(settings, extra_env=extra_env)
    try:
        running.start()
        running.wait_ready()
        yield running
    finally:
        running.stop()
        if settings.postgres_url:
            asyncio.run(drop_postgres_databases(settings.postgres_url, [running.database_url(s) for s in SERVICES if s.has_database]))


class Partner:
    """An HTTP client of one service, authenticated as one organisation."""

    def __init__(self, suite: Suite, service: str, kind: OrgKind, org: str):
        # from the suite's dev issuer, for this service only (client credentials, as with Keycloak)
        token = request_token(suite.issuer_settings.issuer_url, OrgKind(kind).value, org, [service])
        self.client = httpx.AsyncClient(base_url=suite.url(service), headers={"Authorization": f"Bearer {token}"}, timeout=30)

    async def __aenter__(self):
        return self.client

    async def __aexit__(self, *exc):
        await self.client.aclose()


@pytest.fixture
def partner(suite):
    def make(service: str, kind: OrgKind, org: str = "region") -> Partner:
        return Partner(suite, service, kind, org)

    return make
