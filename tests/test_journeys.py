"""The whole journey across the four services, over HTTP only, against the suite started as
`pacte up` starts it. Each journey waits on conditions with deadlines, never on
fixed sleeps. Amounts are computed by hand in the comments."""

from __future__ import annotations

import csv
import io
import json
import uuid
from decimal import Decimal

import httpx
import pacte_testing as testing
import pytest
from agora_sandbox.settings import DEV_SANDBOX_TOKEN
from france_travail_sandbox.settings import DEV_SANDBOX_TOKEN as DEV_FT_SANDBOX_TOKEN
from pacte_common.auth import OrgKind
from pacte_testing import eventually, new_siret
from pacte_tools.dev_issuer import request_token

DEADLINE = 60.0




USED_NIRS: set[str] = set()


def new_nir(sex: str = "2", year: str = "95", month: str = "03") -> str:
    nir = testing.new_nir(sex, year, month)
    USED_NIRS.add(nir)
    return nir


class Journey:
    """One beneficiary's path, with a client per partner and per service."""

    def __init__(self, suite, siret: str | None = None, prescriber: str = "PE-44001"):
        self.suite = suite
        self.siret = siret or new_siret()
        self.prescriber_code = prescriber
        self._clients: list[httpx.AsyncClient] = []

    def client(self, service: str, kind: OrgKind, org: str = "region") -> httpx.AsyncClient:
        token = request_token(self.suite.issuer_settings.issuer_url, OrgKind(kind).value, org, [service])
        client = httpx.AsyncClient(base_url=self.suite.url(service), headers={"Authorization": f"Bearer {token}"}, timeout=30)
        self._clients.append(client)
        return client

    async def __aenter__(self):
        self.region_sessions = self.client("sessions", OrgKind.REGION)
        self.org_sessions = self.client("sessions", OrgKind.TRAINING_ORG, self.siret)
        self.prescriber = self.client("orientation", OrgKind.PRESCRIBER, self.prescriber_code)
        self.org_orientation = self.client("orientation", OrgKind.TRAINING_ORG, self.siret)
        self.region_pay = self.client("remuneration", OrgKind.REGION)
        self.org_pay = self.client("remuneration", OrgKind.TRAINING_ORG, self.siret)
        self.paying_agency = self.client("remuneration", OrgKind.PAYING_AGENCY, "ASP")
        self.gateway = self.client("agora-gateway", OrgKind.REGION)
        self.sandbox = httpx.AsyncClient(
            base_url=self.suite.url("agora-sandbox"), headers={"Authorization": f"Bearer {DEV_SANDBOX_TOKEN}"}, timeout=30
        )
        self._clients.append(self.sandbox)
        return self

    async def __aexit__(self, *exc):
        for client in self._clients:
            await client.aclose()

    # ------------------------------------------------------------------ catalogue
    async def open_session(self, *, start: str, end: str, places: int = 12, agora_category: str = "standard",
                           pillar: str = "visa", tension: bool = False, weekly_hours: str = "35") -> dict:
        code = f"VISA-{uuid.uuid4().hex[:8]}"
        programme = await self.region_sessions.post("/programmes", json={
            "code": code, "name": f"VISA Métiers {code}", "pillar": pillar, "remuneration_approved": True,
            "tension_sector": tension, "agora_category": agora_category,
        })
        assert programme.status_code == 201, programme.text
        action = await self.region_sessions.post("/actions", json={
            "programme_code": code, "organisation_siret": self.siret, "title": "Agent de propreté et d'hygiène",
            "hours_in_centre": "420", "hours_in_company": "70", "hourly_price": "12.50", "departement": "44",
            "weekly_hours": weekly_hours, "certifying": True, "rncp_code": "RNCP34691",
            "skill_blocks": ["BC01", "BC02", "BC03"],
        })
        assert action.status_code == 201, action.text
        session = await self.region_sessions.post("/sessions", json={
            "action_id": action.json()["id"], "start_date": start, "end_date": end, "places": places,
        })
        assert session.status_code == 201, session.text
        session = session.json()
        session["programme_code"] = code
        # orientation learns of it from the catalogue topic, never by calling sessions
        await eventually(lambda: self._visible_in_orientation(session["session_id"]), DEADLINE, message="session in orientation")
        return session

    async def _visible_in_orientation(self, session_id: str) -> bool:
        response = await self.prescriber.get(f"/sessions/{session_id}")
        return response.status_code == 200 and response.json()["open_for_prescription"]

    # ------------------------------------------------------------------ orientation
    async def prescribe(self, session_id: str, *, sex: str = "F", birth_date: str = "1995-03-10", nir: str | None = None,
                        birth_name: str = "Durand", traceparent: str | None = None,
                        france_travail_id: str | None = None) -> dict:
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        if traceparent:
            headers["traceparent"] = traceparent
        response = await self.prescriber.post("/prescriptions", headers=headers, json={
            "session_id": session_id,
            "identity": {"birth_name": birth_name, "first_names": "Léa", "nir": nir or new_nir("2" if sex == "F" else "1"),
                         "france_travail_id": france_travail_id},
            "profile": {"sex": sex, "birth_date": birth_date, "education_level": "v", "jobseeker_category": "A",
                        "jobseeker_registration_date": "2024-01-15"},
            "professional_project": "Agent de propreté",
        })
        assert response.status_code == 201, response.text
        return response.json()

    async def act(self, client: httpx.AsyncClient, prescription_id: str, action: str, body: dict | None = None) -> dict:
        response = await client.post(f"/prescriptions/{prescription_id}/{action}", json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def prescription_status(self, prescription_id: str) -> str:
        return (await self.prescriber.get(f"/prescriptions/{prescription_id}")).json()["status"]

    # ------------------------------------------------------------------ sessions
    async def dossier_of(self, prescription_id: str) -> dict:
        async def find():
            items = (await self.org_sessions.get("/dossiers", params={"prescription_id": prescription_id})).json()["items"]
            return items[0] if items else None

        return await eventually(find, DEADLINE, message="training file opened from the admission")

    async def declare(self, dossier_id: str, action: str, body: dict) -> dict:
        response = await self.org_sessions.post(f"/dossiers/{dossier_id}/{action}", json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def attendance(self, dossier_id: str, month: str, planned: str, attended: str, unjustified: str = "0") -> None:
        response = await self.org_sessions.put(f"/dossiers/{dossier_id}/attendance/{month}", json={
            "planned_hours": planned, "attended_hours": attended, "justified_absence_hours": "0",
            "unjustified_absence_hours": unjustified, "in_company_hours": "0",
        })
        assert response.status_code in (200, 201), response.text

    # ------------------------------------------------------------------ remuneration
    async def request_pay(self, dossier_id: str, **facts) -> dict:
        await eventually(lambda: self._pay_file_state(dossier_id), DEADLINE, message="remuneration knows the file")
        response = await self.org_pay.post("/requests", json={"dossier_id": dossier_id, "iban": "FR7630006000011234567890189", **facts})
        assert response.status_code == 201, response.text
        return response.json()

    async def _pay_file_state(self, dossier_id: str) -> str | None:
        response = await self.region_pay.get(f"/files/{dossier_id}")
        return response.json()["state"] if response.status_code == 200 else None

    async def attendance_reached_pay(self, dossier_id: str, months: list[str]) -> None:
        async def arrived():
            response = await self.region_pay.get(f"/files/{dossier_id}")
            return response.status_code == 200 and set(months) <= set(response.json()["attendance_versions"])

        await eventually(arrived, DEADLINE, message=f"attendance {months} in remuneration")

    async def statement(self, month: str, dossier_id: str) -> dict | None:
        items = (await self.region_pay.get("/statements", params={"month": month, "dossier_id": dossier_id})).json()["items"]
        return items[0] if items else None

    # ------------------------------------------------------------------ AGORA
    async def agora_view(self, dossier_id: str) -> dict | None:
        response = await self.gateway.get(f"/dossiers/{dossier_id}")
        return response.json() if response.status_code == 200 else None

    async def agora_file(self, dossier_id: str) -> dict | None:
        files = (await self.sandbox.get("/v1/holdings", params={"funder_ref": dossier_id})).json().get("files", [])
        return files[0] if files else None

    async def agora_reaches(self, dossier_id: str, state: str, timeout: float = DEADLINE) -> dict:
        async def reached():
            held = await self.agora_file(dossier_id)
            view = await self.agora_view(dossier_id)
            settled = view is not None and view["flows"] and all(f["status"] == "acknowledged" for f in view["flows"])
            return held if held and held["state"] == state and settled else None

        return await eventually(reached, timeout, interval=0.2, message=f"AGORA holds the file {state}")


async def admitted_file(journey: Journey, session: dict, **person) -> tuple[dict, dict]:
    prescription = await journey.prescribe(session["session_id"], **person)
    await journey.act(journey.org_orientation, prescription["id"], "positioning", {"date": session["start_date"], "kind": "information_meeting"})
    await journey.act(journey.org_orientation, prescription["id"], "admit")
    return prescription, await journey.dossier_of(prescription["id"])


def money(value) -> Decimal:
    return Decimal(str(value))


async def test_journey_prescription_to_pay_to_agora(suite):
    trace_id = uuid.uuid4().hex
    async with Journey(suite) as j:
        session = await j.open_session(start="2026-09-01", end="2026-12-18")
        prescription, dossier = await admitted_file(j, session, traceparent=f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01")
        assert dossier["person_id"] == prescription["person_id"] and dossier["has_nir"], "no re-keying: the person came with the admission"

        await j.declare(dossier["id"], "entry", {"entry_date": "2026-09-01"})
        await eventually(lambda: _status_is(j, prescription["id"], "entered"), DEADLINE, message="prescription entered")
        await j.request_pay(dossier["id"])
        for month in ("2026-09", "2026-10", "2026-11"):
            await j.attendance(dossier["id"], month, planned="140", attended="140")
        await j.attendance_reached_pay(dossier["id"], ["2026-09", "2026-10", "2026-11"])

        # Two monthly runs validated. Hand computation, 2021-05 scale: born 1995-03-10, 31 on
        # the 1st of the month → 685.00; Region top-up for a registered job seeker +15.00;
        # whole month in training, full time (35/35), no unjustified absence → 700.00.
        for month in ("2026-09", "2026-10"):
            run = await j.region_pay.post("/runs", json={"month": month})
            assert run.status_code == 201, run.text
            statement = await j.statement(month, dossier["id"])
            assert statement["status"] == "computed" and statement["scale_version"] == "2021-05"
            assert money(statement["amount"]) == Decimal("700.00"), statement
            assert all(c["explanation"] for c in statement["components"])
            validated = await j.region_pay.post(f"/runs/{month}/validate")
            assert validated.status_code == 200, validated.text
        batch = await j.paying_agency.get("/batches/2026-10")
        assert batch.status_code == 200
        rows = list(csv.DictReader(io.StringIO(batch.text), delimiter=";"))
        ours = [row for row in rows if row["dossier_id"] == dossier["id"]]
        assert len(ours) == 1 and money(ours[0]["amount"]) == Decimal("700.00") and ours[0]["nir"]
        total = next(row for row in rows if row["statement_id"] == "TOTAL")
        assert money(total["amount"]) == sum(money(r["amount"]) for r in rows if r["statement_id"] != "TOTAL")

        exited = await j.declare(dossier["id"], "exit", {"exit_date": "2026-11-30", "kind": "completed", "certification_result": "obtained"})
        # solde: realised hours 3 × 140 = 420 h × 12.50 € = 5,250.00 €
        assert money(exited["cost"]) == Decimal("5250.00")

        held = await j.agora_reaches(dossier["id"], "settled")
        assert held["entry_date"] == "2026-09-01" and held["exit"]["exit_date"] == "2026-11-30"
        assert money(held["settlement"]["cost"]) == Decimal("5250.00")
        assert len(held["nir"]) == 13, "AGORA gets the NIR without its key"
        assert await j.prescription_status(prescription["id"]) == "entered"

        # One trace for the whole journey: every later step ran in other HTTP calls (their own
        # traces), yet the file, the pay statement, the AGORA flows and the calls AGORA received
        # all carry the trace of the POST /prescriptions that started it.
        assert (await j.prescriber.get(f"/prescriptions/{prescription['id']}")).json()["trace_id"] == trace_id
        assert (await j.org_sessions.get(f"/dossiers/{dossier['id']}")).json()["trace_id"] == trace_id
        assert (await j.statement("2026-10", dossier["id"]))["trace_id"] == trace_id
        flows = (await j.agora_view(dossier["id"]))["flows"]
        assert flows and {flow["trace_id"] for flow in flows} == {trace_id}
        assert {operation["trace_id"] for operation in held["operations"]} == {trace_id}


async def test_journey_france_travail_certificates_decide_the_regime(suite):
    """Prescription (with the France Travail identifier) → enrolment (AIS acknowledged) → entry
    (AES acknowledged, the regime decided from France Travail's answer) → exit (end acknowledged)."""
    ft_id = f"{uuid.uuid4().int % 9_000_000 + 1_000_000:07d}C"
    async with Journey(suite) as j:
        france_travail = j.client("agora-gateway", OrgKind.REGION)  # the gateway's France Travail routes
        sandbox = httpx.AsyncClient(base_url=suite.url("france-travail-sandbox"), timeout=30,
                                    headers={"Authorization": f"Bearer {DEV_FT_SANDBOX_TOKEN}"})
        j._clients.append(sandbox)
        registered = await sandbox.post("/v1/job-seekers", json={"france_travail_id": ft_id, "unemployment_benefit": True,
                                                                 "daily_amount": "20.81"})
        assert registered.status_code == 204, registered.text
        session = await j.open_session(start="2026-09-01", end="2026-12-18")
        _, dossier = await admitted_file(j, session, france_travail_id=ft_id)

        async def certificates(*expected: str) -> bool:
            response = await france_travail.get(f"/france-travail/files/{dossier['id']}")
            flows = response.json()["flows"] if response.status_code == 200 else []
            return [(f["operation"], f["status"]) for f in flows] == [(op, "acknowledged") for op in expected]

        await eventually(lambda: certificates("ais"), DEADLINE, message="AIS acknowledged at enrolment")
        await j.request_pay(dossier["id"])  # the request declares no benefit: France Travail's answer decides
        await j.declare(dossier["id"], "entry", {"entry_date": "2026-09-01"})
        await eventually(lambda: certificates("ais", "aes"), DEADLINE, message="AES acknowledged at entry")

        async def regime() -> dict | None:
            file = (await j.region_pay.get(f"/files/{dossier['id']}")).json()
            return file if file["regime"] == "unemployment_insurance" and file["france_travail_benefit"] else None

        file = await eventually(regime, DEADLINE, message="regime decided from France Travail's answer")
        assert file["state"] == "open" and file["differential_eligible"]
        await j.declare(dossier["id"], "exit", {"exit_date": "2026-11-30", "kind": "completed", "certification_result": "obtained"})
        await eventually(lambda: certificates("ais", "aes", "end"), DEADLINE, message="end of training acknowledged")
        received = (await sandbox.get("/v1/certificates", params={"reference": dossier["id"]})).json()["certificates"]
        assert [c["kind"] for c in received] == ["ais", "aes", "end"]
        view = (await france_travail.get(f"/france-travail/files/{dossier['id']}")).json()
        assert ft_id not in json.dumps(view) and view["identifier_masked"] == ft_id[0] + "******" + ft_id[-1]


async def _status_is(journey: Journey, prescription_id: str, status: str) -> bool:
    return await journey.prescription_status(prescription_id) == status


async def test_journey_refusal_reorientation_admission_elsewhere(suite):
    async with Journey(suite) as first_org, Journey(suite) as second_org:
        first = await first_org.open_session(start="2026-09-07", end="2026-12-18")
        second = await second_org.open_session(start="2026-10-05", end="2027-01-29")
        prescription = await first_org.prescribe(first["session_id"])
        refused = await first_org.act(first_org.org_orientation, prescription["id"], "refuse",
                                      {"reason_code": "prerequisites_not_met", "comment": "Bases en calcul à consolider"})
        assert refused["status"] == "refused"
        seen = (await first_org.prescriber.get(f"/prescriptions/{prescription['id']}")).json()
        assert seen["refusal"]["reason_code"] == "prerequisites_not_met" and "reorient" in seen["allowed_actions"]
        new = await first_org.act(first_org.prescriber, prescription["id"], "reorient", {"session_id": second["session_id"]})
        assert new["previous_prescription_id"] == prescription["id"]
        await second_org.act(second_org.org_orientation, new["id"], "admit")
        dossier = await second_org.dossier_of(new["id"])
        assert dossier["session_id"] == second["session_id"] and dossier["person_id"] == prescription["person_id"]
        chain = (await first_org.prescriber.get(f"/prescriptions/{new['id']}")).json()["chain"]
        assert [link["prescription_id"] for link in chain] == [prescription["id"], new["id"]]
        assert (await first_org.org_sessions.get(f"/dossiers/{dossier['id']}")).status_code == 404, "the first organisation never sees it"


async def test_journey_interruption_for_a_job_then_dropout_for_a_job(suite):
    # Past months only: attendance is refused for a month not yet begun. After the first
    # journey's validated months (2026-09, 2026-10): months are paid in order.
    async with Journey(suite) as j:
        session = await j.open_session(start="2026-09-07", end="2027-02-26")
        _, dossier = await admitted_file(j, session, birth_date="1990-06-01")
        await j.declare(dossier["id"], "entry", {"entry_date": "2026-09-07"})
        await j.request_pay(dossier["id"])
        await j.declare(dossier["id"], "interruptions", {"start_date": "2026-10-05", "reason": "employment", "expected_return_date": "2026-10-19"})
        await j.declare(dossier["id"], "resumption", {"resumption_date": "2026-10-19"})
        await j.attendance(dossier["id"], "2026-11", planned="75", attended="75")
        await j.declare(dossier["id"], "exit", {"exit_date": "2026-11-16", "kind": "dropout", "dropout_reason": "employment"})

        # the indicators are insights', eventually consistent (docs/insights.md): poll with a deadline
        region_insights = j.client("insights", OrgKind.REGION)

        async def dropout_counted():
            body = (await region_insights.get("/indicators", params={"programme": session["programme_code"]})).json()["all"]
            return body if body["dropout_rate"]["numerator"] == 1 else None

        indicators = await eventually(dropout_counted, DEADLINE, message="the dropout counted by insights")
        assert indicators["dropout_for_job_rate"]["numerator"] == 1

        await eventually(lambda: _pay_closed(j, dossier["id"]), DEADLINE, message="entitlement closed at the dropout")
        await j.attendance_reached_pay(dossier["id"], ["2026-11"])
        run = await j.region_pay.post("/runs", json={"month": "2026-11"})
        assert run.status_code == 201, run.text
        # Pay stops at the dropout: 16 days of 30 in November (1st to 16th, both included);
        # 685.00 + 15.00 top-up = 700.00 × 16/30 = 373.333… → 373.33.
        statement = await j.statement("2026-11", dossier["id"])
        assert money(statement["amount"]) == Decimal("373.33"), statement
        # Months are paid in order: November is validated before December is computed.
        assert (await j.region_pay.post("/runs/2026-11/validate")).status_code == 200
        december = await j.region_pay.post("/runs", json={"month": "2026-12"})
        assert december.status_code == 201
        assert await j.statement("2026-12", dossier["id"]) is None, "no pay after the dropout"

        held = await j.agora_reaches(dossier["id"], "settled")
        assert [i["reason"] for i in held["interruptions"]] == ["employment"] and held["interruptions"][0]["resumption_date"] == "2026-10-19"
        assert held["exit"]["exit_kind"] == "dropout"


async def _pay_closed(journey: Journey, dossier_id: str) -> bool:
    return await journey._pay_file_state(dossier_id) == "closed"


async def test_journey_entry_declared_by_mistake_is_cancelled(suite):
    async with Journey(suite) as j:
        session = await j.open_session(start="2027-05-03", end="2027-09-30")
        _, dossier = await admitted_file(j, session)
        await j.declare(dossier["id"], "entry", {"entry_date": "2027-05-03"})
        await j.request_pay(dossier["id"])
        await j.declare(dossier["id"], "cancel", {"reason": "Entrée déclarée par erreur"})
        held = await j.agora_reaches(dossier["id"], "cancelled")
        assert held["cancellation_reason"]
        await eventually(lambda: _pay_state_is(j, dossier["id"], "cancelled"), DEADLINE, message="pay file cancelled")
        run = await j.region_pay.post("/runs", json={"month": "2027-05"})
        assert run.status_code == 201
        assert await j.statement("2027-05", dossier["id"]) is None, "no pay for a cancelled entry"


async def _pay_state_is(journey: Journey, dossier_id: str, state: str) -> bool:
    return await journey._pay_file_state(dossier_id) == state


async def test_journey_health_and_social_care_programme_never_reaches_agora(suite):
    async with Journey(suite) as j:
        session = await j.open_session(start="2027-09-06", end="2028-06-30", agora_category="health_social")
        prescription, dossier = await admitted_file(j, session)
        await j.declare(dossier["id"], "entry", {"entry_date": "2027-09-06"})
        await eventually(lambda: _status_is(j, prescription["id"], "entered"), DEADLINE, message="prescription entered")
        await j.request_pay(dossier["id"])

        async def excluded():
            view = await j.agora_view(dossier["id"])
            return view if view and view["perimeter"]["status"] == "excluded" else None

        view = await eventually(excluded, DEADLINE, message="file recorded as excluded")
        assert view["perimeter"]["reason_code"] and not [f for f in view["flows"] if f["status"] in ("sent", "acknowledged")]
        assert await j.agora_file(dossier["id"]) is None


@pytest.mark.parametrize("restart", ["agora-gateway", "sessions"])
async def test_journeys_end_the_same_with_agora_faults_and_a_service_restart(suite, restart):
    async with Journey(suite) as j:
        await j.sandbox.put("/v1/faults", json={"error_rate": 0.3, "timeout_rate": 0.1, "timeout_delay_s": 6, "latency_max_ms": 50})
        try:
            session = await j.open_session(start="2028-01-03", end="2028-06-30")
            _, dossier = await admitted_file(j, session)
            await j.declare(dossier["id"], "entry", {"entry_date": "2028-01-03"})
            await j.declare(dossier["id"], "interruptions", {"start_date": "2028-02-01", "reason": "health"})
            # one service stops in the middle and comes back: nothing lost, nothing twice
            suite.stop_service(restart)
            suite.start_service(restart)
            suite.wait_ready([restart])
            await j.declare(dossier["id"], "resumption", {"resumption_date": "2028-02-14"})
            await j.declare(dossier["id"], "exit", {"exit_date": "2028-06-30", "kind": "completed", "certification_result": "failed"})
            held = await j.agora_reaches(dossier["id"], "settled", timeout=180)
        finally:
            await j.sandbox.put("/v1/faults", json={})
        operations = [op["operation"] for op in held["operations"]]
        assert operations == ["create", "enter", "interrupt", "resume", "exit", "settle"], operations
        view = await j.agora_view(dossier["id"])
        assert [f["operation"] for f in view["flows"]] == operations and len({f["idempotency_key"] for f in view["flows"]}) == len(operations)


async def test_every_event_the_journeys_published_matches_the_asyncapi_catalogue(suite):
    """Runs after the journeys: every message on the business topics is a catalogued type whose
    payload validates against its AsyncAPI schema, and carries no NIR in clear."""
    from jsonschema import Draft202012Validator
    from pacte_common.asyncapi import build_asyncapi, payload_schema
    from pacte_common.bus import new_consumer
    from pacte_common.events import Topics
    from pacte_common.settings import BusSettings

    document = build_asyncapi()
    catalogued = {message["name"] for message in document["components"]["messages"].values()}
    bus = BusSettings(bootstrap_servers=suite.bootstrap)
    seen_types: set[str] = set()
    for topic in Topics.ALL:
        consumer = new_consumer(bus, topic, group_id=None)
        await consumer.start()
        try:
            while batch := await consumer.getmany(timeout_ms=1000):
                for message in (m for messages in batch.values() for m in messages):
                    headers = dict(message.headers)
                    event_type = headers["ce_type"].decode()
                    assert event_type in catalogued, f"{event_type} is missing from the AsyncAPI catalogue"
                    body = message.value.decode()
                    Draft202012Validator(payload_schema(document, event_type)).validate(json.loads(body))
                    assert message.key.decode() == headers["ce_subject"].decode()
                    raw = message.value.decode() + str(message.headers) + message.key.decode()
                    leaked = [nir for nir in USED_NIRS if nir in raw or nir[:13] in raw]
                    assert not leaked, f"{event_type} carries a NIR in clear"
                    seen_types.add(event_type)
        finally:
            await consumer.stop()
    expected = {
        "fr.paysdelaloire.pacte.prescription.admitted.v1", "fr.paysdelaloire.pacte.prescription.refused.v1",
        "fr.paysdelaloire.pacte.trainee.entered.v1", "fr.paysdelaloire.pacte.trainee.exited.v1",
        "fr.paysdelaloire.pacte.trainee.cancelled.v1", "fr.paysdelaloire.pacte.attendance.recorded.v1",
        "fr.paysdelaloire.pacte.session.published.v1",
    }
    assert expected <= seen_types, expected - seen_types
    assert USED_NIRS, "the journeys ran before this check"
