"""Fixtures of insights' tests: insights live on its own database, and sessions live beside it
on another, both on the test's topics: sessions publishes what insights reads (docs/insights.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from insights.main import create_app
from insights.settings import InsightsSettings
from pacte_common.auth import OrgKind
from pacte_common.clock import business_today
from pacte_common.fair_share import BUCKETS
from pacte_testing import FixedClock, ServiceClient, eventually, running

SIRET_A = "12345678900015"
SIRET_B = "44299123000016"
NIR = "185054410912314"
PRESCRIBER = "PE-44001"


@dataclass
class Client(ServiceClient):
    """An HTTP client on one running app (insights, or sessions beside it) and its callers' tokens."""

    SIRET_A = SIRET_A
    SIRET_B = SIRET_B
    NIR = NIR
    PRESCRIBER = PRESCRIBER

    @property
    def org(self):
        return self.as_(OrgKind.TRAINING_ORG, SIRET_A)

    async def until(self, url: str, headers: dict, check, message: str, timeout: float = 30.0) -> Any:
        """The read side is eventually consistent: polls `url` until `check(body)` holds (a deadline, no sleep)."""
        async def read():
            body = await self.ok("GET", url, headers)
            return body if check(body) else None

        return await eventually(read, timeout, interval=0.1, message=message)


class Sessions(Client):
    """sessions, driven as the Region and organisations drive it: what insights hears."""

    async def catalogue(self, *, programme_code="VISA-METIERS", pillar="visa", siret=SIRET_A, start=date(2026, 1, 5),
                        end=date(2026, 6, 26), places=12, departement="44", skill_blocks=("RNCP34174BC01",)) -> dict:
        programmes = await self.ok("GET", "/programmes", self.region)
        if not any(p["code"] == programme_code for p in programmes):
            await self.ok("POST", "/programmes", self.region, 201, json={
                "code": programme_code, "name": f"Programme {programme_code}", "pillar": pillar, "funder": "region",
                "remuneration_approved": True, "tension_sector": False, "agora_category": "standard", "delegated_to_france_travail": False})
        action = await self.ok("POST", "/actions", self.region, 201, json={
            "programme_code": programme_code, "organisation_siret": siret, "title": "Agent de propreté et d'hygiène",
            "rncp_code": "RNCP34174", "formacode": "42811", "certifying": True, "hours_in_centre": "400", "hours_in_company": "140",
            "weekly_hours": "35", "hourly_price": "12.50", "departement": departement, "territory_code": "TS-44-NANTES",
            "modules": ["cléa"], "skill_blocks": list(skill_blocks)})
        return await self.ok("POST", "/sessions", self.region, 201, json={
            "action_id": action["id"], "start_date": start.isoformat(), "end_date": end.isoformat(), "places": places,
            "permanent_entries": False})

    async def enrol(self, session_id: str, *, headers: dict | None = None, profile: dict | None = None, nir: str | None = None) -> dict:
        identity = {"birth_name": "Martin", "first_names": "Camille Anne", **({"nir": nir} if nir else {})}
        return await self.ok("POST", "/dossiers", headers or self.org, 201,
                             json={"session_id": session_id, "profile": profile or profile_body(), "identity": identity})

    async def act(self, dossier_id: str, action: str, body: dict, headers: dict | None = None) -> dict:
        path = {"enter": "entry", "exit": "exit", "cancel": "cancel", "interrupt": "interruptions", "resume": "resumption"}[action]
        return await self.ok("POST", f"/dossiers/{dossier_id}/{path}", headers or self.org, 201 if action == "interrupt" else 200, json=body)

    @staticmethod
    def profile_body(**overrides) -> dict:
        return profile_body(**overrides)


def profile_body(**overrides) -> dict:
    return {"sex": "F", "birth_date": "1990-04-12", "education_level": "v", "jobseeker_category": "A",
            "jobseeker_registration_date": "2024-09-01", "disabled_worker": False, "qpv": True, **overrides}


@pytest.fixture
def clock() -> FixedClock:
    """One 'now' for insights and sessions alike (the results' as-of day, a declaration's day):
    today's, until a test moves it."""
    return FixedClock(business_today("Europe/Paris"))


@pytest.fixture
def settings(database_url, bus_settings) -> InsightsSettings:
    # the tests poll the reports while events arrive (a slow database: many polls); the budgets
    # have their own test, with settings of its own (test_indicators_api.py)
    unlimited = {bucket: "100000/minute" for bucket in BUCKETS}
    return InsightsSettings(database_url=database_url, bus=bus_settings, rate_limits=unlimited)


@pytest.fixture
async def insights(settings, clock):
    async with running(create_app(settings, clock=clock)) as client:
        yield Client(client, settings)


@pytest.fixture
async def sessions(upstream_database_url, bus_settings, clock):
    from sessions.main import create_app as create_sessions
    from sessions.settings import SessionsSettings

    settings = SessionsSettings(database_url=upstream_database_url, bus=bus_settings, consume_prescriptions=False)
    async with running(create_sessions(settings, clock=clock)) as client:
        yield Sessions(client, settings)


@pytest.fixture
async def sessions_consuming(upstream_database_url, bus_settings, clock):
    """sessions with its prescriptions consumer: an admission published by orientation opens a file."""
    from sessions.main import create_app as create_sessions
    from sessions.settings import SessionsSettings

    settings = SessionsSettings(database_url=upstream_database_url, bus=bus_settings)
    async with running(create_sessions(settings, clock=clock)) as client:
        yield Sessions(client, settings)
