"""A broker outage during signing loses no signature: signing never touches the bus, and the
month's close leaves its events in the outbox (sent once the broker is back)."""

from __future__ import annotations

import uuid
from datetime import date

from attendance.db.models import Trainee, TrainingSession, messaging
from attendance.main import create_app
from attendance.settings import AttendanceSettings
from pacte_common.auth import OrgKind
from pacte_common.messaging import pending_count
from pacte_common.settings import BusSettings
from pacte_testing import auth_header, running


async def test_signing_and_closing_with_the_broker_unreachable(database_url, tmp_path):
    settings = AttendanceSettings(database_url=database_url, clock_file=str(tmp_path / "clock"),
                                  bus=BusSettings(bootstrap_servers="127.0.0.1:9", topic_namespace="outage."))
    app = create_app(settings)
    siret = "73282932000074"
    org = auth_header(settings, OrgKind.TRAINING_ORG, siret)
    session_id, dossier_id = uuid.uuid4(), uuid.uuid4()
    async with running(app) as client:
        runtime = app.state.runtime
        async with runtime.db_factory() as db:  # as if the trainee's entry had been consumed before the outage
            db.add(TrainingSession(id=session_id, organisation_siret=siret))
            db.add(Trainee(dossier_id=dossier_id, person_id=uuid.uuid4(), session_id=session_id, status="in_training",
                           entry_date=date(2026, 11, 2), dossier_version=1))
            await db.commit()
        planned = await client.post(f"/sessions/{session_id}/schedule/pattern", headers=org, json={
            "first_day": "2026-11-16", "last_day": "2026-11-16", "weekdays": {"mon": ["morning"]}})
        half_day = planned.json()["created"][0]
        (tmp_path / "clock").write_text("2026-11-16T08:01:00+00:00")
        link = (await client.post(f"/half-days/{half_day['id']}/links", headers=org, json={"dossier_id": str(dossier_id)})).json()
        signed = await client.post("/signatures/link", json={"token": link["token"], "half_day_id": half_day["id"],
                                                             "dossier_id": str(dossier_id), "consent": True})
        assert signed.status_code == 201, signed.text
        assert (await client.post(f"/half-days/{half_day['id']}/countersignature", headers=org, json={"trainer": "P. Roux"})).status_code == 201
        (tmp_path / "clock").write_text("2026-12-01T09:00:00+00:00")
        closed = await client.post(f"/sessions/{session_id}/months/2026-11/close", headers=org)
        assert closed.status_code == 201, closed.text
        assert await pending_count(runtime.db_factory, messaging) == 1  # the month's event, kept for the broker's return
        sheet = (await client.get(f"/sessions/{session_id}/sheets/2026-11", headers=org)).json()
        assert sheet["rows"][0]["cells"][0]["state"] == "signed"
