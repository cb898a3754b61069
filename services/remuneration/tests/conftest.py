"""Fixtures for remuneration's integration tests: one live app per test, and a stand-in for
sessions that publishes real CloudEvents to the test's namespaced topics (pacte_testing.remuneration)."""

from __future__ import annotations

import pytest
from pacte_testing import running
from pacte_testing.remuneration import Remuneration, SessionsStandIn
from remuneration.main import create_app
from remuneration.settings import RemunerationSettings


@pytest.fixture
def settings_factory(database_url, bus_settings):
    def make(**overrides):
        return RemunerationSettings(database_url=database_url, bus=bus_settings, **overrides)

    return make


@pytest.fixture
async def remuneration(settings_factory, request):
    """A live remuneration; a test may change settings with indirect parametrization."""
    overrides = getattr(request, "param", {})
    settings = settings_factory(run_page_size=7, **overrides)  # small pages: runs cross page boundaries
    sessions = SessionsStandIn(settings)
    await sessions.start()
    try:
        async with running(create_app(settings)) as client:
            yield Remuneration(client, settings, sessions)
    finally:
        await sessions.stop()
