"""One person's trajectory, served by insights: prescriptions (orientation's events, over the real
broker), training files and outcomes (sessions' events) in time order; each partner sees only its
part; every read audited (docs/outcomes.md, "Trajectories")."""

import uuid
from datetime import UTC, date, datetime

from insights.api.access import Viewer
from insights.domain.trajectory import Step, in_time_order
from pacte_common.bus import ensure_topics, new_producer
from pacte_common.contracts import orientation as o
from pacte_common.contracts.people import PersonIdentity, PersonProfile, seal_identity
from pacte_common.crypto import FieldCipher
from pacte_common.events import Envelope, Topics
from pacte_testing import eventually, new_nir, new_siret

ML = "ML-49002"
FOREIGN_PRESCRIBER = "CE-72003"


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def event(cls, *, prescription_id, session_id, person_id, prescriber, siret, status, day, **fields):
    return cls(
        prescription_id=prescription_id, session_id=uuid.UUID(session_id), person_id=person_id,
        prescriber_kind="france_travail" if prescriber.startswith("PE") else "mission_locale", prescriber_code=prescriber,
        organisation_siret=siret, status=status, occurred_at=at(day), actor=f"prescriber:{prescriber}", **fields,
    )


async def publish(api, *events) -> None:
    topic = api.topic(Topics.PRESCRIPTIONS)
    await ensure_topics(api.settings.bus, [topic])
    producer = new_producer(api.settings.bus)
    await producer.start()
    try:
        for item in events:
            envelope = item if isinstance(item, Envelope) else Envelope.wrap(item, source="/pacte/orientation", subject=str(item.prescription_id))
            await producer.send_and_wait(topic, value=envelope.body(), key=str(envelope.data.prescription_id).encode(), headers=envelope.headers())
    finally:
        await producer.stop()


async def build_path(api, clock) -> dict:
    """PRÉPA at organisation B (direct enrolment) then, after a refusal and a re-orientation by
    France Travail, VISA at organisation A; a Mission locale's prescription withdrawn before."""
    clock.today = date(2027, 1, 15)
    prepa = await api.catalogue(programme_code="PREPA-AVENIR", pillar="prepa", siret=api.SIRET_B, departement="49",
                                start=date(2026, 1, 5), end=date(2026, 3, 27))
    visa_full = await api.catalogue(start=date(2026, 4, 6), end=date(2026, 9, 25))
    visa = await api.catalogue(start=date(2026, 4, 6), end=date(2026, 9, 25))
    org_b = api.as_("training_org", api.SIRET_B)
    person_id, nir = uuid.uuid4(), new_nir("2", "98", "05", "49")
    prepa_file = await api.ok("POST", "/dossiers", org_b, 201, json={
        "session_id": prepa["id"], "person_id": str(person_id), "profile": api.profile_body(),
        "identity": {"birth_name": "Martin", "first_names": "Camille Anne", "nir": nir}})
    await api.act(prepa_file["id"], "enter", {"entry_date": "2026-01-05"}, headers=org_b)
    await api.act(prepa_file["id"], "interrupt", {"start_date": "2026-01-19", "reason": "health"}, headers=org_b)
    await api.act(prepa_file["id"], "resume", {"resumption_date": "2026-01-26"}, headers=org_b)
    await api.act(prepa_file["id"], "exit", {"exit_date": "2026-02-13", "kind": "completed"}, headers=org_b)

    q1, p1, p2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    common = {"person_id": person_id}
    cipher = FieldCipher(api.settings.encryption_keys, api.settings.encryption_key_id)
    admitted = event(o.PrescriptionAdmitted, prescription_id=p2, session_id=visa["id"], prescriber=api.PRESCRIBER, siret=api.SIRET_A,
                     status="admitted", day="2026-03-20", profile=PersonProfile(sex="F", birth_date=date(1998, 5, 2)),
                     identity_encrypted=seal_identity(cipher, PersonIdentity(birth_name="Durand", first_names="Léa", nir=nir)), has_nir=True, **common)
    refused = event(o.PrescriptionRefused, prescription_id=p1, session_id=visa_full["id"], prescriber=api.PRESCRIBER, siret=api.SIRET_A,
                    status="refused", day="2026-03-05", reason_code="session_full", **common)
    refused_envelope = Envelope.wrap(refused, source="/pacte/orientation", subject=str(p1))
    await publish(
        api,
        event(o.PrescriptionSubmitted, prescription_id=q1, session_id=prepa["id"], prescriber=ML, siret=api.SIRET_B, status="submitted", day="2025-12-01", **common),
        event(o.PrescriptionWithdrawn, prescription_id=q1, session_id=prepa["id"], prescriber=ML, siret=api.SIRET_B, status="withdrawn", day="2025-12-03", **common),
        event(o.PrescriptionSubmitted, prescription_id=p1, session_id=visa_full["id"], prescriber=api.PRESCRIBER, siret=api.SIRET_A, status="submitted", day="2026-03-02", **common),
        refused_envelope, refused_envelope, refused,  # delivered twice, then re-published under another id
        event(o.PrescriptionSubmitted, prescription_id=p2, session_id=visa["id"], prescriber=api.PRESCRIBER, siret=api.SIRET_A, status="submitted",
              day="2026-03-10", previous_prescription_id=p1, **common),
        admitted,
    )

    async def opened():
        files = (await api.ok("GET", f"/dossiers?prescription_id={p2}", api.region))["items"]
        return files[0] if files else None

    visa_file = await eventually(opened, message="the VISA file opened by the admission")
    await api.act(visa_file["id"], "enter", {"entry_date": "2026-04-06"})
    await api.act(visa_file["id"], "exit", {"exit_date": "2026-09-25", "kind": "completed", "certification_result": "partial",
                                            "skill_blocks_obtained": ["RNCP34174BC01"]})
    lines = [
        {"dossier_id": prepa_file["id"], "horizon_months": 6, "situation": "training", "observed_on": "2026-08-14"},
        {"dossier_id": visa_file["id"], "horizon_months": 3, "situation": "permanent_job", "observed_on": "2026-12-28", "job_related_to_training": True},
    ]
    await api.ok("POST", "/outcomes/imports", api.region, 201, json={"lines": lines})
    return {"person_id": person_id, "prepa": prepa_file["id"], "visa": visa_file["id"], "q1": str(q1), "p1": str(p1), "p2": str(p2)}


def kinds(trajectory: dict) -> list[tuple]:
    """The timeline without the enrolments (dated by the server's real clock, not the test's)."""
    return [(s["on"], s["kind"], s["details"].get("status") or s["details"].get("situation")) for s in trajectory["timeline"] if s["kind"] != "enrolled"]


async def test_trajectory_in_time_order_and_cut_to_each_partner(sessions_consuming, insights, clock):
    path = await build_path(sessions_consuming, clock)
    api = insights
    url = f"/people/{path['person_id']}/trajectory"

    async def complete():
        response = await api.client.get(url, headers=api.region)
        if response.status_code in (404, 503):  # nothing consumed yet; the consumers hold SQLite's write lock
            return None
        body = response.json()
        steps = sum(len(p["steps"]) for p in body["prescriptions"])
        outcomes = sum(len(d["outcomes"]) for d in body["dossiers"])
        return body if len(body["prescriptions"]) == 3 and steps == 6 and outcomes == 2 else None

    whole = await eventually(complete, message="the prescription and trainee events reached insights")
    assert kinds(whole) == [
        ("2025-12-01", "prescription", "submitted"),
        ("2025-12-03", "prescription", "withdrawn"),
        ("2026-01-05", "entered", None),
        ("2026-01-19", "interrupted", None),
        ("2026-01-26", "resumed", None),
        ("2026-02-13", "exited", None),
        ("2026-03-02", "prescription", "submitted"),
        ("2026-03-05", "prescription", "refused"),  # once, though delivered three times
        ("2026-03-10", "prescription", "submitted"),
        ("2026-03-20", "prescription", "admitted"),
        ("2026-04-06", "entered", None),
        ("2026-08-14", "outcome", "training"),
        ("2026-09-25", "exited", None),
        ("2026-12-28", "outcome", "permanent_job"),
    ]
    by_id = {p["prescription_id"]: p for p in whole["prescriptions"]}
    assert by_id[path["p1"]]["steps"][1]["reason_code"] == "session_full" and by_id[path["p2"]]["previous_prescription_id"] == path["p1"]
    assert [s["kind"] for s in whole["timeline"]].count("enrolled") == 2  # the enrolments, dated by sessions' events
    visa = next(d for d in whole["dossiers"] if d["dossier_id"] == path["visa"])
    assert (visa["certification_result"], visa["skill_blocks_obtained"], visa["prescription_id"]) == ("partial", ["RNCP34174BC01"], path["p2"])
    assert visa["outcomes"][0]["situation_label"] == "Emploi durable : CDI" and visa["pillar"] == "visa"
    prepa = next(d for d in whole["dossiers"] if d["dossier_id"] == path["prepa"])
    assert prepa["interruptions"] == [{"start_date": "2026-01-19", "reason": "health", "resumption_date": "2026-01-26"}]
    assert "Durand" not in str(whole) and "birth_name" not in str(whole)  # the pseudonymous id is the only key

    def parts(body: dict) -> tuple[set, set]:
        return {p["prescription_id"] for p in body["prescriptions"]}, {d["dossier_id"] for d in body["dossiers"]}

    expected = [
        (api.as_("prescriber", api.PRESCRIBER), {path["p1"], path["p2"]}, {path["visa"]}),
        (api.as_("prescriber", ML), {path["q1"]}, set()),
        (api.org, {path["p1"], path["p2"]}, {path["visa"]}),
        (api.as_("training_org", api.SIRET_B), {path["q1"]}, {path["prepa"]}),
    ]
    for headers, prescriptions, dossiers in expected:
        assert parts(await api.ok("GET", url, headers)) == (prescriptions, dossiers)
    mine = await api.ok("GET", url, api.as_("training_org", api.SIRET_B))
    assert {s["details"].get("situation") for s in mine["timeline"] if s["kind"] == "outcome"} == {"training"}
    foreign_org = new_siret()
    for headers, status in (
        (api.as_("prescriber", FOREIGN_PRESCRIBER), 404),
        (api.as_("training_org", foreign_org), 404),
        (api.as_("paying_agency", "ASP"), 403),
        ({}, 401),
    ):
        response = await api.client.get(url, headers=headers)
        assert response.status_code == status and response.headers["content-type"].startswith("application/problem+json")
    assert (await api.client.get(f"/people/{uuid.uuid4()}/trajectory", headers=api.region)).status_code == 404

    # Every read is audited, newest first: who, when, which person — the refused reads (404) too.
    reads = await api.ok("GET", f"{url}/reads", api.region)
    assert [r["reader"] for r in reads[:7]] == [
        f"training_org:{foreign_org}", f"prescriber:{FOREIGN_PRESCRIBER}", f"training_org:{api.SIRET_B}", f"training_org:{api.SIRET_B}",
        f"training_org:{api.SIRET_A}", f"prescriber:{ML}", f"prescriber:{api.PRESCRIBER}",
    ]
    assert reads[0]["items_shown"] == 0 and reads[6]["items_shown"] > 0 and reads[-1]["reader"] == "region:region"
    assert all(r["person_id"] == str(path["person_id"]) and set(r) == {"person_id", "reader", "read_at", "items_shown"} for r in reads)
    assert (await api.client.get(f"{url}/reads", headers=api.as_("prescriber", api.PRESCRIBER))).status_code == 403
    assert (await sessions_consuming.client.get(url, headers=sessions_consuming.region)).status_code == 404  # sessions no longer serves it


async def test_retention_purge_of_outcomes_prescriptions_and_reads(sessions_consuming, insights, clock):
    """Insights deletes its copies past their retention as sessions deletes the outcomes
    (docs/outcomes.md, "Personal data and retention"): the Region runs it, or the periodic job."""
    path = await build_path(sessions_consuming, clock)
    url = f"/people/{path['person_id']}/trajectory"

    async def outcomes_seen():
        response = await insights.client.get(url, headers=insights.region)
        body = response.json() if response.status_code == 200 else {}
        return body if sum(len(d["outcomes"]) for d in body.get("dossiers", [])) == 2 and len(body["prescriptions"]) == 3 else None

    await eventually(outcomes_seen, message="the events reached insights")
    assert (await insights.client.post("/retention/purge", headers=insights.org)).status_code == 403
    nothing = await insights.ok("POST", "/retention/purge", insights.region)  # 15 January 2027: all within 36 months
    assert (nothing["outcomes_deleted"], nothing["prescriptions_deleted"], nothing["trajectory_reads_deleted"]) == (0, 0, 0)
    clock.today = date(2029, 8, 20)  # 36 months after 20 August 2026: the PRÉPA outcome (14 August 2026) and every prescription go
    report = await insights.ok("POST", "/retention/purge", insights.region)
    assert report["cutoff"] == "2026-08-20" and report["outcomes_deleted"] == 1 and report["prescriptions_deleted"] == 3
    assert report["trajectory_reads_deleted"] >= 1  # the reads above, older than 12 months
    left = await insights.ok("GET", url, insights.region)
    assert left["prescriptions"] == [] and [o["situation"] for d in left["dossiers"] for o in d["outcomes"]] == ["permanent_job"]
    assert len(await insights.ok("GET", f"{url}/reads", insights.region)) == 1  # the read since the purge


# ---------------------------------------------------------------- the pure rules (domain/trajectory.py)


def test_each_partner_sees_what_it_took_part_in():
    region, prescriber, organisation = Viewer("region", "region"), Viewer("prescriber", "PE-1"), Viewer("training_org", "111")
    assert region.sees_prescription("PE-9", "999") and region.sees_file(None, "999")
    assert prescriber.sees_prescription("PE-1", "999") and not prescriber.sees_prescription("PE-2", "111")
    assert prescriber.sees_file("PE-1", "999") and not prescriber.sees_file(None, "999")
    assert organisation.sees_prescription("PE-2", "111") and not organisation.sees_file("PE-1", "999")
    assert not Viewer("paying_agency", "ASP").sees_file(None, "111")


def test_within_a_day_prescriptions_then_the_file_then_outcomes():
    day = date(2026, 4, 6)
    steps = [Step(day, "outcome"), Step(day, "entered"), Step(date(2026, 4, 5), "exited"), Step(day, "prescription")]
    assert [s.kind for s in in_time_order(steps)] == ["exited", "prescription", "entered", "outcome"]
