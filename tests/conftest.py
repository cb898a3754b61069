"""The whole suite, started as `pacte up` starts it (subprocesses, real broker, real databases),
on free ports, for the cross-service journeys. One suite per test session."""

from __future__ import annotations

import httpx
import pytest
from pacte_common.auth import OrgKind
from pacte_testing import running_suite
from pacte_tools.dev_issuer import request_token
from pacte_tools.suite import Suite


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    with running_suite(tmp_path_factory.mktemp("suite"), "journey") as running:
        yield running


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
