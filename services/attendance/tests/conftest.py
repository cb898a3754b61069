"""Fixtures for attendance's tests: one live app per test, a stand-in for sessions that publishes
real trainee events to the test's namespaced topics, and a clock the test moves."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest
from attendance.main import create_app
from attendance.settings import AttendanceSettings
from pacte_common.auth import OrgKind
from pacte_common.bus import new_producer, topic_name
from pacte_common.contracts.people import PersonIdentity, PersonProfile, seal_identity
from pacte_common.contracts.sessions import (
    DossierSnapshot,
    DossierStatus,
    Pillar,
    ProgrammeInfo,
    RecruitmentState,
    SessionSnapshot,
    TraineeEntered,
)
from pacte_common.crypto import FieldCipher
from pacte_common.events import Envelope
from pacte_testing import auth_header, eventually, new_siret, running, running_suite

QR_WINDOW_S = 4


class Attendance:
    """The live app, clients per organisation, the test's clock and trainee events."""

    def __init__(self, client: httpx.AsyncClient, settings: AttendanceSettings, clock_file, siret: str):
        self.client, self.settings, self.clock_file, self.siret = client, settings, clock_file, siret
        self.org = auth_header(settings, OrgKind.TRAINING_ORG, siret)
        self.region = auth_header(settings, OrgKind.REGION, "region")

    def at(self, instant: str) -> None:
        """Server time from now on: a local (Europe/Paris) or aware ISO instant."""
        moment = datetime.fromisoformat(instant)
        if moment.tzinfo is None:
            from zoneinfo import ZoneInfo
            moment = moment.replace(tzinfo=ZoneInfo("Europe/Paris"))
        self.clock_file.write_text(moment.astimezone(UTC).isoformat())

    async def enter(self, session_id: uuid.UUID, entry: date, *, siret: str | None = None, name: tuple[str, str] | None = None) -> uuid.UUID:
        """Publishes a trainee's entry into the session (as sessions does) and waits until it is known."""
        dossier_id = uuid.uuid4()
        snapshot = SessionSnapshot(
            session_id=session_id, action_id=uuid.uuid4(), organisation_siret=siret or self.siret, action_title="Agent de propreté",
            programme=ProgrammeInfo(code="VISA", name="VISA Métiers", pillar=Pillar.VISA, remuneration_approved=True),
            hours_in_centre=Decimal("420"), hourly_price=Decimal("12.5"), departement="44", start_date=date(2026, 11, 2),
            end_date=date(2027, 3, 31), places=12, recruitment_state=RecruitmentState.OPEN)
        sealed = None
        if name:
            cipher = FieldCipher(self.settings.encryption_keys, self.settings.encryption_key_id)
            sealed = seal_identity(cipher, PersonIdentity(birth_name=name[0], first_names=name[1], nir="295037511512345"))
        dossier = DossierSnapshot(dossier_id=dossier_id, person_id=uuid.uuid4(), profile=PersonProfile(sex="F", birth_date=date(1995, 3, 10)),
                                  identity_encrypted=sealed,
                                  session=snapshot, status=DossierStatus.IN_TRAINING, entry_date=entry, version=2)
        event = TraineeEntered(dossier=dossier, occurred_at=datetime.now(UTC), actor="test", entry_date=entry)
        producer = new_producer(self.settings.bus)
        await producer.start()
        try:
            envelope = Envelope.wrap(event, source="/pacte/sessions", subject=str(dossier_id))
            await producer.send_and_wait(topic_name(self.settings.bus, event.topic), envelope.body(), key=str(dossier_id).encode(),
                                         headers=envelope.headers())
        finally:
            await producer.stop()

        async def known():
            response = await self.client.get(f"/sessions/{session_id}/half-days", headers=self.org)
            return response.status_code == 200 and await self._knows(session_id, dossier_id)

        await eventually(known, 20, message="the trainee reached attendance")
        return dossier_id

    async def plan(self, session_id) -> list[dict]:
        """9, 10 and 12 November 2026, mornings (9:00–12:30) and afternoons (13:30–17:00)."""
        response = await self.client.post(f"/sessions/{session_id}/schedule/pattern", headers=self.org, json={
            "first_day": "2026-11-09", "last_day": "2026-11-13",
            "weekdays": {d: ["morning", "afternoon"] for d in ("mon", "tue", "wed", "thu", "fri")},
            "closures": [{"first_day": "2026-11-13", "last_day": "2026-11-13"}], "place": "Nantes", "trainer": "Claire Martin"})
        assert response.status_code == 201, response.text
        return sorted(response.json()["created"], key=lambda h: (h["day"], h["starts_at"]))

    async def sign_trainer(self, half_day: dict, dossier_id) -> dict:
        self.at(f"{half_day['day']}T{half_day['starts_at']}")
        response = await self.client.post(f"/half-days/{half_day['id']}/signatures", headers=self.org,
                                          json={"dossier_id": str(dossier_id), "consent": True})
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def _knows(self, session_id, dossier_id) -> bool:
        response = await self.client.get(f"/sessions/{session_id}/passes/{dossier_id}", headers=self.org)
        return response.status_code == 200


@pytest.fixture
def settings_factory(database_url, bus_settings, tmp_path):
    def make(**overrides):
        return AttendanceSettings(database_url=database_url, bus=bus_settings, clock_file=str(tmp_path / "clock"), **overrides)

    return make


@pytest.fixture
async def attendance(settings_factory, tmp_path):
    settings = settings_factory()
    async with running(create_app(settings)) as client:
        yield Attendance(client, settings, tmp_path / "clock", new_siret())


@pytest.fixture(scope="session")
def attendance_suite(tmp_path_factory):
    """The whole suite as `pacte up` starts it, attendance reading server time from a clock file
    (development only) so that half-days of a past month are signed in their window."""
    folder = tmp_path_factory.mktemp("attendance-suite")
    clock = folder / "clock"
    os.environ["PACTE_ATTENDANCE_CLOCK_FILE"] = str(clock)
    # a short rotation of the room's QR code, so that the browser test sees it change
    os.environ["PACTE_ATTENDANCE_QR_WINDOW_S"] = str(QR_WINDOW_S)
    try:
        with running_suite(folder, "attendance") as running_:
            running_.clock_file = clock
            yield running_
    finally:
        os.environ.pop("PACTE_ATTENDANCE_CLOCK_FILE", None)
        os.environ.pop("PACTE_ATTENDANCE_QR_WINDOW_S", None)
