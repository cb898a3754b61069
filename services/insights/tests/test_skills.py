"""The skills passport, served by insights from the trainee events: certification results and
skill blocks obtained, read by the Region and the person's current prescriber only
(docs/satisfaction.md, "Skills passport"). Files are opened in sessions by admissions published
on orientation's topic, as in the suite."""

import uuid
from datetime import UTC, date, datetime

from pacte_common.bus import ensure_topics, new_producer
from pacte_common.contracts.orientation import PrescriptionAdmitted
from pacte_common.contracts.people import PersonIdentity, PersonProfile, seal_identity
from pacte_common.crypto import FieldCipher
from pacte_common.events import Envelope, Topics
from pacte_testing import eventually


async def admit(api, session_id: str, person_id: uuid.UUID, prescriber: str, day: int) -> dict:
    """A prescriber's admission, as orientation publishes it; returns the file it opens."""
    cipher = FieldCipher(api.settings.encryption_keys, api.settings.encryption_key_id)
    event = PrescriptionAdmitted(
        prescription_id=uuid.uuid4(), session_id=uuid.UUID(session_id), person_id=person_id,
        prescriber_kind="france_travail" if prescriber.startswith("PE") else "mission_locale", prescriber_code=prescriber,
        organisation_siret=api.SIRET_A, status="admitted", occurred_at=datetime(2025, 12, day, 9, 30, tzinfo=UTC),
        actor=f"training_org:{api.SIRET_A}",
        profile=PersonProfile(sex="F", birth_date=date(1999, 3, 2), education_level="iv", disabled_worker=False, qpv=False),
        identity_encrypted=seal_identity(cipher, PersonIdentity(birth_name="Durand", first_names="Léa")), has_nir=False,
    )
    topic = api.topic(Topics.PRESCRIPTIONS)
    await ensure_topics(api.settings.bus, [topic])
    producer = new_producer(api.settings.bus)
    await producer.start()
    try:
        envelope = Envelope.wrap(event, source="/pacte/orientation", subject=str(event.prescription_id))
        await producer.send_and_wait(topic, value=envelope.body(), key=str(event.prescription_id).encode(), headers=envelope.headers())
    finally:
        await producer.stop()

    async def opened():
        return (await api.ok("GET", f"/dossiers?prescription_id={event.prescription_id}", api.region))["items"]

    return (await eventually(opened, message="the training file"))[0]


async def test_passport_read_by_the_region_and_the_current_prescriber_only(sessions_consuming, insights):
    api = sessions_consuming
    person = uuid.uuid4()
    url = f"/people/{person}/skills"
    visa = await api.catalogue(skill_blocks=["RNCP34174BC01", "RNCP34174BC02", "RNCP34174BC03"])
    first = await admit(api, visa["id"], person, "PE-44001", 1)
    await api.act(first["id"], "enter", {"entry_date": "2026-01-05"})
    await api.act(first["id"], "exit", {"exit_date": "2026-01-06", "kind": "completed", "certification_result": "partial",
                                        "skill_blocks_obtained": ["RNCP34174BC02", "RNCP34174BC01"]})

    async def read(headers, check):
        async def answer():
            response = await insights.client.get(url, headers=headers)
            return response.json() if response.status_code == 200 and check(response.json()) else None
        return await eventually(answer, message="the trainee events reached insights")

    passport = await read(insights.region, lambda body: body["certifications"])
    assert passport["current_prescriber"] == "PE-44001"
    assert passport["skill_blocks_obtained"] == ["RNCP34174BC01", "RNCP34174BC02"]
    [certification] = passport["certifications"]
    assert certification["certification_result"] == "partial" and certification["rncp_code"] == "RNCP34174"
    assert certification["skill_blocks_offered"] == ["RNCP34174BC01", "RNCP34174BC02", "RNCP34174BC03"]
    assert (await insights.ok("GET", url, insights.as_("prescriber", "PE-44001")))["skill_blocks_obtained"]

    foreign = await insights.client.get(url, headers=insights.as_("prescriber", "ML-49002"))
    assert foreign.status_code == 404  # a foreign prescriber sees nothing, not even that the person exists
    assert (await insights.client.get(url, headers=insights.org)).status_code == 403
    assert (await insights.client.get(f"/people/{uuid.uuid4()}/skills", headers=insights.region)).status_code == 404
    assert (await insights.client.get(url, headers=api.region)).status_code == 401  # a token for sessions is not one for insights
    assert (await api.client.get(url, headers=api.region)).status_code == 404  # sessions no longer serves it

    # A Mission locale prescribes the next training: it becomes the current prescriber.
    second_session = await api.catalogue(skill_blocks=["RNCP34174BC01", "RNCP34174BC03"])
    await admit(api, second_session["id"], person, "ML-49002", 20)
    await read(insights.as_("prescriber", "ML-49002"), lambda body: body["current_prescriber"] == "ML-49002")
    former = await insights.client.get(url, headers=insights.as_("prescriber", "PE-44001"))
    assert former.status_code == 404
    # a certification obtained in full gives every block of its training
    second = (await api.ok("GET", f"/dossiers?person_id={person}", api.region))["items"]
    later = next(d for d in second if d["session_id"] == second_session["id"])
    await api.act(later["id"], "enter", {"entry_date": "2026-01-07"})
    await api.act(later["id"], "exit", {"exit_date": "2026-01-08", "kind": "completed", "certification_result": "obtained"})
    full = await read(insights.region, lambda body: len(body["certifications"]) == 2)
    assert full["skill_blocks_obtained"] == ["RNCP34174BC01", "RNCP34174BC02", "RNCP34174BC03"]
    assert [c["certification_result"] for c in full["certifications"]] == ["partial", "obtained"]
