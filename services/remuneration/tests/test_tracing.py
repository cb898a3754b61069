"""One trace per journey: the file keeps the trace of the first trainee event about it, and
every event remuneration publishes about the file continues it, whatever call triggers it."""

from datetime import date

from pacte_common.bus import topic_name
from pacte_common.events import Topics
from pacte_common.tracing import trace_id_of
from pacte_testing import read_topic
from pacte_testing.remuneration import IBAN, FileSpec

JOURNEY = "00-" + "a" * 32 + "-" + "1" * 16 + "-01"  # the trace sessions' events of the file carry
OTHER = "00-" + "b" * 32 + "-" + "2" * 16 + "-01"  # later sessions events, another trace
CALL = "00-" + "c" * 32 + "-" + "3" * 16 + "-01"  # the operators' own HTTP calls


async def test_every_event_about_a_file_carries_the_trace_of_its_first_trainee_event(remuneration):
    r = remuneration
    r.sessions.traceparent = JOURNEY
    dossier = await r.sessions.enrol(FileSpec(birth_date=date(1991, 2, 2)))
    r.sessions.traceparent = OTHER
    await r.sessions.enter(dossier, date(2021, 6, 1))
    file = await r.wait_file(dossier, lambda f: f["state"] == "awaiting_request")
    assert file["trace_id"] == "a" * 32

    # Later HTTP calls have their own request trace; the events they cause keep the journey's.
    traced = {**r.org, "traceparent": CALL}
    filed = await r.client.post("/requests", json={"dossier_id": str(dossier), "iban": IBAN}, headers=traced)
    assert filed.status_code == 201, filed.text
    assert filed.headers["traceparent"] == CALL and filed.json()["trace_id"] == "a" * 32
    aid = await r.client.post("/emergency-aids", headers=traced, json={
        "dossier_id": str(dossier), "household_size": 2, "monthly_resources": "900"})
    assert aid.json()["decision"] == "granted", aid.text
    await r.sessions.attendance(dossier, "2021-06", planned=140, unjustified=0)
    await r.wait_attendance(dossier, "2021-06")
    region = {**r.region, "traceparent": CALL}
    assert (await r.client.post("/runs", json={"month": "2021-06"}, headers=region)).status_code == 201
    assert (await r.client.post("/runs/2021-06/validate", headers=region)).status_code == 200
    await r.sessions.exit(dossier, date(2021, 7, 15))
    await r.wait_file(dossier, lambda f: f["state"] == "closed")

    listed = (await r.client.get("/statements", params={"dossier_id": str(dossier)}, headers=r.region)).json()
    assert [s["trace_id"] for s in listed["items"]] == ["a" * 32]
    one = (await r.client.get(f"/statements/{listed['items'][0]['id']}", headers=r.region)).json()
    assert one["trace_id"] == "a" * 32
    assert (await r.file(dossier))["trace_id"] == "a" * 32

    events = await read_topic(r.settings.bus, topic_name(r.settings.bus, Topics.PAYMENTS), expect=5)
    kinds = sorted(e.type.split(".")[-2] for e in events)
    assert kinds == ["emergency-aid-granted", "entitlement-closed", "entitlement-opened", "month-computed",
                     "payment-issued"]
    assert {trace_id_of(e.traceparent) for e in events} == {"a" * 32}

    # A file whose first trainee event carried no trace has none until a trainee event brings one.
    r.sessions.traceparent = None
    untraced = await r.sessions.enrol()
    assert (await r.wait_file(untraced, lambda f: True))["trace_id"] is None
    r.sessions.traceparent = OTHER
    await r.sessions.enter(untraced, date(2021, 6, 1))
    file = await r.wait_file(untraced, lambda f: f["state"] == "awaiting_request")
    assert file["trace_id"] == "b" * 32
