"""Fixtures of the sessions tests: one live app per test on a real database and broker."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from pacte_common.auth import OrgKind
from pacte_testing import FixedClock, ServiceClient, running
from sessions.main import create_app
from sessions.settings import SessionsSettings

DATA = Path(__file__).parent / "data"

SIRET_A = "12345678900015"  # the organisation of most tests
SIRET_B = "44299123000016"  # another organisation
PRESCRIBER = "PE-44001"
NIR = "185054410912314"


@dataclass
class Api(ServiceClient):
    """sessions' running app, its movable clock, and the tokens of each kind of caller."""

    clock: FixedClock

    # Test modules cannot import conftest (importlib import mode): what they share hangs here.
    SIRET_A = SIRET_A
    SIRET_B = SIRET_B
    PRESCRIBER = PRESCRIBER
    NIR = NIR
    DATA = DATA

    @property
    def org(self):
        return self.as_(OrgKind.TRAINING_ORG, SIRET_A)

    async def catalogue(
        self,
        *,
        programme_code: str = "VISA-METIERS",
        pillar: str = "visa",
        siret: str = SIRET_A,
        start: date = date(2026, 1, 5),
        end: date = date(2026, 6, 26),
        places: int = 12,
        permanent_entries: bool = False,
        departement: str = "44",
        skill_blocks: list[str] | None = None,
        hourly_price: str = "12.50",
    ) -> dict:
        programmes = await self.ok("GET", "/programmes", self.region)
        if not any(p["code"] == programme_code for p in programmes):
            await self.ok("POST", "/programmes", self.region, 201, json=programme_body(programme_code, pillar))
        action = await self.ok(
            "POST", "/actions", self.region, 201,
            json=action_body(programme_code, siret, departement=departement, skill_blocks=skill_blocks, hourly_price=hourly_price),
        )
        session = await self.ok(
            "POST", "/sessions", self.region, 201,
            json={
                "action_id": action["id"],
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "places": places,
                "permanent_entries": permanent_entries,
            },
        )
        return session

    async def enrol(self, session_id: str, *, headers: dict | None = None, profile: dict | None = None, nir: str | None = None) -> dict:
        return await self.ok(
            "POST", "/dossiers", headers or self.org, 201,
            json={"session_id": session_id, "profile": profile or profile_body(), "identity": identity_body(nir)},
        )

    async def act(self, dossier_id: str, action: str, body: dict, expected: int = 200, headers: dict | None = None) -> dict:
        path = {"enter": "entry", "interrupt": "interruptions", "resume": "resumption", "exit": "exit", "cancel": "cancel"}[action]
        if action == "interrupt" and expected == 200:
            expected = 201
        return await self.ok("POST", f"/dossiers/{dossier_id}/{path}", headers or self.org, expected, json=body)


def programme_body(code: str = "VISA-METIERS", pillar: str = "visa", **overrides) -> dict:
    return {
        "code": code,
        "name": f"Programme {code}",
        "pillar": pillar,
        "funder": "region",
        "remuneration_approved": True,
        "tension_sector": False,
        "agora_category": "standard",
        "delegated_to_france_travail": False,
        **overrides,
    }


def action_body(programme_code: str, siret: str = SIRET_A, **overrides) -> dict:
    body = {
        "programme_code": programme_code,
        "organisation_siret": siret,
        "title": "Agent de propreté et d'hygiène",
        "rncp_code": "RNCP34174",
        "formacode": "42811",
        "certifying": True,
        "hours_in_centre": "400",
        "hours_in_company": "140",
        "weekly_hours": "35",
        "hourly_price": "12.50",
        "departement": "44",
        "territory_code": "TS-44-NANTES",
        "modules": ["cléa"],
        "skill_blocks": ["RNCP34174BC01", "RNCP34174BC02", "RNCP34174BC03"],
    }
    body.update({k: v for k, v in overrides.items() if v is not None})
    return body


def profile_body(**overrides) -> dict:
    return {
        "sex": "F",
        "birth_date": "1990-04-12",
        "education_level": "v",
        "jobseeker_category": "A",
        "jobseeker_registration_date": "2024-09-01",
        "disabled_worker": False,
        "qpv": True,
        **overrides,
    }


def identity_body(nir: str | None = None) -> dict:
    body = {"birth_name": "Martin", "first_names": "Camille Anne"}
    if nir:
        body["nir"] = nir
    return body


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(date(2026, 1, 6))


@pytest.fixture
def settings(database_url, bus_settings) -> SessionsSettings:
    # Most tests drive HTTP only: without the prescriptions consumer, the app stops at once
    # (a consumer still joining its group holds shutdown for about 5 s).
    return SessionsSettings(database_url=database_url, bus=bus_settings, consume_prescriptions=False)


@pytest.fixture
async def api(settings, clock):
    async with running(create_app(settings, clock=clock)) as client:
        yield Api(client, settings, clock)


@pytest.fixture
async def api_and_engine(settings, clock):
    """The app's client and its database engine, for the tests that watch a request's statements."""
    app = create_app(settings, clock=clock)
    async with running(app) as client:
        yield Api(client, settings, clock), app.state.runtime.engine


@pytest.fixture
def api_with(database_url, bus_settings, clock):
    """`async with api_with(setting=value) as api:` — an app with some settings changed."""

    @asynccontextmanager
    async def make(**overrides):
        settings = SessionsSettings(database_url=database_url, bus=bus_settings, consume_prescriptions=False, **overrides)
        async with running(create_app(settings, clock=clock)) as client:
            yield Api(client, settings, clock)

    return make


@pytest.fixture
async def api_consuming(database_url, bus_settings, clock):
    """The app with its prescriptions consumer, for the tests of what it consumes."""
    settings = SessionsSettings(database_url=database_url, bus=bus_settings)
    async with running(create_app(settings, clock=clock)) as client:
        yield Api(client, settings, clock)


Api.programme_body = staticmethod(programme_body)
Api.action_body = staticmethod(action_body)
Api.profile_body = staticmethod(profile_body)
Api.identity_body = staticmethod(identity_body)
