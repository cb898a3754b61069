"""Orientation test kit: a live app on a real database and the real broker, plus helpers to
play the sessions service (catalogue and trainee events published on the bus) and the partners
(prescribers and training organisations over HTTP)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from orientation.app.prescriptions import expire_overdue
from orientation.db.models import Prescription, messaging
from orientation.domain.prescription import Status
from orientation.main import create_app
from orientation.settings import OrientationSettings
from pacte_common.auth import OrgKind
from pacte_common.bus import new_consumer, new_producer, topic_name
from pacte_common.clock import utcnow
from pacte_common.contracts.people import PersonProfile
from pacte_common.contracts.sessions import (
    DossierSnapshot,
    DossierStatus,
    Pillar,
    ProgrammeInfo,
    RecruitmentState,
    SessionPublished,
    SessionSnapshot,
    TraineeCancelled,
    TraineeEntered,
)
from pacte_common.events import Envelope, IntegrationEvent, Topics, decode
from pacte_common.settings import BusSettings
from pacte_common.validators import nir_key
from pacte_testing import (
    _create_pg_database,
    _drop_pg_database,
    auth_header,
    eventually,
    running,
    selected_database_kind,
)
from sqlalchemy import func, select, update


def luhn_siret(first_13: str) -> str:
    for check in "0123456789":
        candidate = first_13 + check
        total = 0
        for index, char in enumerate(reversed(candidate)):
            digit = int(char) * (2 if index % 2 else 1)
            total += digit - 9 if digit > 9 else digit
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


PRESCRIBER_A = "PE-44001"
PRESCRIBER_B = "ML-49002"
ORG_A = luhn_siret("4420000000001")
ORG_B = luhn_siret("4920000000002")
SESSIONS_SOURCE = "/pacte/sessions"

_counter = itertools.count(1)


def valid_nir(sex_digit: str = "1", year: str = "85", month: str = "05", dept: str = "44", serial: int | None = None) -> str:
    serial = next(_counter) if serial is None else serial
    first_13 = f"{sex_digit}{year}{month}{dept}{109:03d}{serial % 1000:03d}"
    return f"{first_13}{nir_key(first_13):02d}"


def session_snapshot(organisation_siret: str = ORG_A, **overrides: Any) -> SessionSnapshot:
    values: dict[str, Any] = dict(
        session_id=uuid.uuid4(),
        action_id=uuid.uuid4(),
        programme=ProgrammeInfo(code="VISA-METIERS", name="VISA Métiers", pillar=Pillar.VISA, remuneration_approved=True),
        organisation_siret=organisation_siret,
        action_title="Agent de maintenance des bâtiments",
        rncp_code="RNCP1234",
        formacode="22454",
        certifying=True,
        hours_in_centre=Decimal("600"),
        hours_in_company=Decimal("140"),
        weekly_hours=Decimal("35"),
        hourly_price=Decimal("12.50"),
        departement="44",
        start_date=date.today() + timedelta(days=30),
        end_date=date.today() + timedelta(days=200),
        places=1000,
        places_taken=0,
        recruitment_state=RecruitmentState.OPEN,
        information_meetings=[date.today() + timedelta(days=10)],
    )
    values.update(overrides)
    return SessionSnapshot(**values)


def orientation_settings(database_url: str, bus: BusSettings, **overrides: Any) -> OrientationSettings:
    return OrientationSettings(database_url=database_url, bus=bus, log_json=False, **overrides)


class Kit:
    """One running orientation app and the means to talk to it like the other parties do."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient, settings: OrientationSettings):
        self.app = app
        self.client = client
        self.settings = settings
        self.bus = settings.bus
        self.producer = new_producer(self.bus)

    @property
    def runtime(self):
        return self.app.state.runtime

    # ------------------------------------------------------------ who is calling

    def as_(self, kind: OrgKind | str, org: str = "region") -> dict[str, str]:
        return auth_header(self.settings, kind, org)

    @property
    def prescriber_a(self):
        return self.as_(OrgKind.PRESCRIBER, PRESCRIBER_A)

    @property
    def prescriber_b(self):
        return self.as_(OrgKind.PRESCRIBER, PRESCRIBER_B)

    @property
    def org_a(self):
        return self.as_(OrgKind.TRAINING_ORG, ORG_A)

    @property
    def org_b(self):
        return self.as_(OrgKind.TRAINING_ORG, ORG_B)

    org_a_siret = ORG_A
    org_b_siret = ORG_B

    @property
    def region(self):
        return self.as_(OrgKind.REGION, "region")

    # ------------------------------------------------------------ the sessions service, on the bus

    def topic(self, short: str) -> str:
        return topic_name(self.bus, short)

    async def publish(self, event: IntegrationEvent, key: str, *, event_id: str | None = None) -> Envelope:
        envelope = Envelope.wrap(event, source=SESSIONS_SOURCE, subject=key)
        if event_id:
            envelope = Envelope(type=envelope.type, source=envelope.source, subject=key, data=event, id=event_id)
        await self.producer.send_and_wait(
            self.topic(event.topic), value=envelope.body(), key=key.encode(), headers=envelope.headers()
        )
        return envelope

    async def publish_session(self, snapshot: SessionSnapshot | None = None, **overrides: Any) -> SessionSnapshot:
        """Sessions publishes a session; returns once orientation's read model shows it."""
        snapshot = snapshot or session_snapshot(**overrides)
        await self.publish(SessionPublished(session=snapshot), str(snapshot.session_id))

        async def known():
            answer = await self.client.get(f"/sessions/{snapshot.session_id}", headers=self.region)
            return answer.status_code == 200

        await eventually(known, message="session in the read model")
        return snapshot

    def dossier(self, prescription: dict, session: SessionSnapshot, **overrides: Any) -> DossierSnapshot:
        values: dict[str, Any] = dict(
            dossier_id=uuid.uuid4(),
            prescription_id=uuid.UUID(prescription["id"]),
            prescriber_code=prescription["prescriber_code"],
            person_id=uuid.UUID(prescription["person_id"]),
            profile=PersonProfile.model_validate(prescription["profile"]),
            session=session,
            status=DossierStatus.IN_TRAINING,
            entry_date=date.today(),
        )
        values.update(overrides)
        return DossierSnapshot(**values)

    async def trainee_entered(self, prescription: dict, session: SessionSnapshot, *, dossier: DossierSnapshot | None = None, event_id: str | None = None):
        dossier = dossier or self.dossier(prescription, session)
        event = TraineeEntered(dossier=dossier, occurred_at=utcnow(), actor=f"training_org:{session.organisation_siret}", entry_date=date.today())
        return await self.publish(event, str(dossier.dossier_id), event_id=event_id)

    async def trainee_cancelled(self, prescription: dict, session: SessionSnapshot):
        dossier = self.dossier(prescription, session, status=DossierStatus.CANCELLED, entry_date=None)
        event = TraineeCancelled(dossier=dossier, occurred_at=utcnow(), actor=f"training_org:{session.organisation_siret}", reason="declared by mistake")
        return await self.publish(event, str(dossier.dossier_id))

    async def events_for(self, key: str, *, expect: int, timeout: float = 15.0) -> list[Envelope]:
        """Prescription events of one key read from the real topic, until `expect` came (plus stragglers)."""
        consumer = new_consumer(self.bus, self.topic(Topics.PRESCRIPTIONS), group_id=None)
        await consumer.start()
        found: list[Envelope] = []

        async def enough():
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                found.extend(decode(m.headers, m.value) for m in messages if m.key == key.encode())
            return len(found) >= expect

        try:
            await eventually(enough, timeout=timeout, message=f"{expect} events for {key}")
            await enough()  # duplicates arriving right after would show here
        finally:
            await consumer.stop()
        return found

    # ------------------------------------------------------------ the partners, over HTTP

    def body(self, session_id: uuid.UUID | str, /, **overrides: Any) -> dict[str, Any]:
        serial = next(_counter)
        body: dict[str, Any] = {
            "session_id": str(session_id),
            "identity": {
                "birth_name": "Martin-" + "".join("ABCDEFGHIJ"[int(d)] for d in str(serial)),
                "first_names": "Camille",
                "nir": valid_nir(serial=serial),
                "france_travail_id": f"{serial:07d}A",
            },
            "profile": {
                "sex": "M",
                "birth_date": "1985-05-12",
                "education_level": "v",
                "jobseeker_category": "A",
                "jobseeker_registration_date": "2024-01-15",
                "rsa_recipient": True,
            },
            "professional_project": "Agent de maintenance en collectivité",
            "comment": "Motivé, a validé une immersion",
        }
        for name, value in overrides.items():
            if isinstance(value, dict) and isinstance(body.get(name), dict):
                body[name] = {**body[name], **value}
            else:
                body[name] = value
        return body

    async def submit(self, session_id, /, headers: dict | None = None, **overrides: Any) -> dict:
        answer = await self.client.post("/prescriptions", json=self.body(session_id, **overrides), headers=headers or self.prescriber_a)
        assert answer.status_code == 201, answer.text
        return answer.json()

    async def act(self, prescription_id: str, action: str, body: dict | None = None, headers: dict | None = None) -> httpx.Response:
        return await self.client.post(f"/prescriptions/{prescription_id}/{action}", json=body, headers=headers)

    async def get(self, prescription_id: str, headers: dict | None = None) -> dict:
        answer = await self.client.get(f"/prescriptions/{prescription_id}", headers=headers or self.region)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def drive(self, state: Status, session: SessionSnapshot, reorient_to: SessionSnapshot | None = None) -> dict:
        """A new prescription brought to `state` through the ways each party really uses."""
        prescription = await self.submit(session.session_id)
        pid = prescription["id"]
        org_steps = {
            Status.POSITIONING: ("positioning", POSITIONING_BODY),
            Status.ADMITTED: ("admit", None),
            Status.REFUSED: ("refuse", REFUSE_BODY),
            Status.WAITLISTED: ("waitlist", None),
            Status.ENTERED: ("admit", None),
            Status.ADMISSION_CANCELLED: ("admit", None),
        }
        if state in org_steps:
            action, body = org_steps[state]
            assert (await self.act(pid, action, body, self.org_a)).status_code == 200
        if state is Status.WITHDRAWN:
            assert (await self.act(pid, "withdraw", None, self.prescriber_a)).status_code == 200
        if state is Status.EXPIRED:
            await self.backdate(pid)
            await expire_overdue(self.runtime)
        if state is Status.ENTERED:
            await self.trainee_entered(await self.get(pid), session)
        if state is Status.ADMISSION_CANCELLED:
            await self.trainee_cancelled(await self.get(pid), session)
        await self.wait_status(pid, state)
        return await self.get(pid)

    async def wait_status(self, prescription_id: str, state: Status | str) -> dict:
        async def reached():
            current = await self.get(prescription_id)
            return current if current["status"] == Status(state).value else None

        return await eventually(reached, message=f"prescription {prescription_id} {Status(state).value}")

    # ------------------------------------------------------------ looking into the database

    async def backdate(self, prescription_id: str, by: timedelta | None = None) -> None:
        """Makes the last change older than the expiry delay, as if the days had passed."""
        by = by or self.settings.prescription_expiry_delay + timedelta(days=1)
        async with self.runtime.db_factory() as db:
            row = await db.get(Prescription, uuid.UUID(prescription_id))
            await db.execute(
                update(Prescription)
                .where(Prescription.id == row.id)
                .values(status_changed_at=row.status_changed_at - by)
                .execution_options(synchronize_session=False)
            )
            await db.commit()

    async def count_rows(self) -> tuple[int, int]:
        """(prescriptions stored, events in the outbox): what a rejected request must not change."""
        async with self.runtime.db_factory() as db:
            prescriptions = await db.scalar(select(func.count()).select_from(Prescription))
            outbox = await db.scalar(select(func.count()).select_from(messaging.outbox))
        return prescriptions, outbox


POSITIONING_BODY = {"date": (date.today() + timedelta(days=7)).isoformat(), "kind": "information_meeting"}
REFUSE_BODY = {"reason_code": "prerequisites_not_met", "comment": "Niveau en calcul à consolider"}


@asynccontextmanager
async def started_kit(settings: OrientationSettings) -> AsyncIterator[Kit]:
    app = create_app(settings)
    async with running(app) as client:
        kit = Kit(app, client, settings)
        await kit.producer.start()
        try:
            yield kit
        finally:
            await kit.producer.stop()


@pytest.fixture
async def kit(database_url, bus_settings) -> AsyncIterator[Kit]:
    """A fresh app for one test."""
    async with started_kit(orientation_settings(database_url, bus_settings)) as kit:
        yield kit


@pytest.fixture
def kit_with(database_url, bus_settings):
    """`async with kit_with(setting=value) as kit:` — a fresh app with some settings changed."""

    def make(**overrides: Any):
        return started_kit(orientation_settings(database_url, bus_settings, **overrides))

    return make


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_kit(kafka_bootstrap, tmp_path_factory) -> AsyncIterator[Kit]:
    """One app shared by a module's table-driven tests (each test makes its own prescriptions)."""
    bus = BusSettings(
        bootstrap_servers=kafka_bootstrap,
        topic_namespace=f"t{uuid.uuid4().hex[:10]}.",
        topic_partitions=2,
        relay_poll_interval_s=0.05,
        consumer_retry_backoff_s=0.05,
        consumer_max_attempts=3,
        relay_max_backoff_s=1.0,
    )
    pg_name = None
    if selected_database_kind() == "postgresql":
        pg_name = f"pacte_test_{uuid.uuid4().hex[:12]}"
        url = await _create_pg_database(pg_name)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('orientation') / 'shared.db'}"
    try:
        async with started_kit(orientation_settings(url, bus)) as kit:
            yield kit
    finally:
        if pg_name:
            await _drop_pg_database(pg_name)
