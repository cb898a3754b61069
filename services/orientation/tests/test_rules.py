"""Business rules over HTTP: idempotent creation, one person, one active prescription per
session, full sessions, optimistic concurrency, lists with cursors and counts."""

import asyncio
from datetime import timedelta

import pytest
import pytest_asyncio
from orientation.domain.prescription import Status
from pacte_common.clock import business_today

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(shared_kit):
    return await shared_kit.publish_session()


async def test_idempotent_creation(shared_kit, session):
    kit = shared_kit
    body = kit.body(session.session_id)
    headers = {**kit.prescriber_a, "Idempotency-Key": "create-42"}
    first = await kit.client.post("/prescriptions", json=body, headers=headers)
    before = await kit.count_rows()
    again = await kit.client.post("/prescriptions", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await kit.count_rows() == before  # nothing created twice, nothing published twice
    other = await kit.client.post("/prescriptions", json={**body, "comment": "autre"}, headers=headers)
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "header.Idempotency-Key"
    # the key is the caller's: another prescriber's same key creates its own
    theirs = await kit.client.post("/prescriptions", json=kit.body(session.session_id), headers={**kit.prescriber_b, "Idempotency-Key": "create-42"})
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]


async def test_one_active_prescription_per_person_and_session(shared_kit, session):
    kit = shared_kit
    first = kit.body(session.session_id)
    created = await kit.client.post("/prescriptions", json=first, headers=kit.prescriber_a)
    assert created.status_code == 201
    before = await kit.count_rows()
    # same NIR, other spelling, other prescriber: the same person
    same_nir = {**first, "identity": {**first["identity"], "birth_name": "MARTÍN", "first_names": "camille"}}
    duplicate = await kit.client.post("/prescriptions", json=same_nir, headers=kit.prescriber_b)
    assert duplicate.status_code == 409 and duplicate.json()["type"].endswith("/duplicate-prescription")
    assert await kit.count_rows() == before
    # once refused, the person may be prescribed to that session again
    await kit.act(created.json()["id"], "refuse", {"reason_code": "session_full"}, kit.org_a)
    again = await kit.client.post("/prescriptions", json=same_nir, headers=kit.prescriber_b)
    assert again.status_code == 201 and again.json()["person_id"] == created.json()["person_id"]


async def test_the_same_person_is_recognised_without_nir(shared_kit, session):
    kit = shared_kit
    other_session = await kit.publish_session()
    body = kit.body(session.session_id)
    body["identity"].pop("nir")
    answer = await kit.client.post("/prescriptions", json=body, headers=kit.prescriber_a)
    assert answer.status_code == 201, answer.text
    first = answer.json()
    assert first["has_nir"] is False
    respelled = {**body, "session_id": str(other_session.session_id)}
    respelled["identity"] = {**body["identity"], "birth_name": body["identity"]["birth_name"].upper() + " ", "nir": kit.body(session.session_id)["identity"]["nir"]}
    second = (await kit.client.post("/prescriptions", json=respelled, headers=kit.prescriber_a)).json()
    assert second["person_id"] == first["person_id"]
    assert (await kit.get(second["id"]))["has_nir"] is True  # the NIR learnt later is kept
    stranger = kit.body(session.session_id)
    assert (await kit.client.post("/prescriptions", json=stranger, headers=kit.prescriber_a)).json()["person_id"] != first["person_id"]


async def test_identity_is_read_with_get_masked(shared_kit, session):
    kit = shared_kit
    body = kit.body(session.session_id)
    created = (await kit.client.post("/prescriptions", json=body, headers=kit.prescriber_a)).json()
    assert created["identity"] is None
    read = await kit.get(created["id"], kit.org_a)
    nir = body["identity"]["nir"]
    assert read["identity"]["birth_name"] == body["identity"]["birth_name"]
    assert read["identity"]["nir_masked"] == nir[0] + "*" * 12 + nir[-2:]
    assert nir not in str(read)


async def test_admission_into_a_full_session_is_refused_waitlisting_allowed(shared_kit):
    kit = shared_kit
    full = await kit.publish_session(places=2, places_taken=1)
    first, second = await kit.submit(full.session_id), await kit.submit(full.session_id)
    assert (await kit.act(first["id"], "admit", None, kit.org_a)).status_code == 200
    refused = await kit.act(second["id"], "admit", None, kit.org_a)
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["type"].endswith("/session-full") and problem["places"] == 2 and problem["places_taken"] == 2
    assert "waitlist" in problem["allowed_actions"]
    waitlisted = await kit.act(second["id"], "waitlist", None, kit.org_a)
    assert waitlisted.status_code == 200 and waitlisted.json()["waitlist_rank"] == 1


async def test_concurrent_actions_cannot_both_win(shared_kit, session):
    kit = shared_kit
    prescription = await kit.submit(session.session_id)
    headers = {**kit.org_a, "If-Match": f'"{prescription["version"]}"'}
    answers = await asyncio.gather(
        kit.act(prescription["id"], "admit", None, headers),
        kit.act(prescription["id"], "refuse", {"reason_code": "not_mobile"}, headers),
    )
    codes = sorted(a.status_code for a in answers)
    assert codes[0] == 200 and codes[1] in (409, 412), [a.text for a in answers]
    history = (await kit.client.get(f"/prescriptions/{prescription['id']}/history", headers=kit.region)).json()
    assert len(history["items"]) == 2  # submit, then only one answer


async def test_stale_if_match_is_412(shared_kit, session):
    kit = shared_kit
    prescription = await kit.submit(session.session_id)
    answer = await kit.client.get(f"/prescriptions/{prescription['id']}", headers=kit.org_a)
    assert answer.headers["ETag"] == f'"{prescription["version"]}"'
    moved = await kit.act(prescription["id"], "positioning", {"date": "2030-01-01", "kind": "test"}, {**kit.org_a, "If-Match": answer.headers["ETag"]})
    assert moved.status_code == 200 and moved.headers["ETag"] == f'"{prescription["version"] + 1}"'
    stale = await kit.act(prescription["id"], "admit", None, {**kit.org_a, "If-Match": answer.headers["ETag"]})
    assert stale.status_code == 412 and stale.json()["current_etag"] == moved.headers["ETag"]


async def test_reorient_only_once_and_chain_seen_by_each_party(shared_kit, session):
    kit = shared_kit
    elsewhere = await kit.publish_session(organisation_siret=kit.org_b_siret)
    refused = await kit.drive(Status.REFUSED, session)
    new = await kit.act(refused["id"], "reorient", {"session_id": str(elsewhere.session_id)}, kit.prescriber_a)
    assert new.status_code == 201
    again = await kit.act(refused["id"], "reorient", {"session_id": str(elsewhere.session_id)}, kit.prescriber_a)
    assert again.status_code == 409 and again.json()["next_prescription_id"] == new.json()["id"]
    assert "reorient" not in (await kit.get(refused["id"], kit.prescriber_a))["allowed_actions"]
    new_id = new.json()["id"]
    # organisation B sees the new prescription, not organisation A's refusal before it
    seen_by_b = await kit.get(new_id, kit.org_b)
    assert [link["prescription_id"] for link in seen_by_b["chain"]] == [new_id]
    history_b = (await kit.client.get(f"/prescriptions/{new_id}/history", headers=kit.org_b)).json()
    assert {item["prescription_id"] for item in history_b["items"]} == {new_id}
    seen_by_prescriber = await kit.get(new_id, kit.prescriber_a)
    assert [link["prescription_id"] for link in seen_by_prescriber["chain"]] == [refused["id"], new_id]


async def test_list_filters_and_cursor(shared_kit):
    kit = shared_kit
    target = await kit.publish_session()
    created = [await kit.submit(target.session_id) for _ in range(5)]
    await kit.act(created[0]["id"], "admit", None, kit.org_a)
    await kit.act(created[1]["id"], "waitlist", None, kit.org_a)
    seen, cursor = [], None
    while True:
        params = {"session_id": str(target.session_id), "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await kit.client.get("/prescriptions", params=params, headers=kit.prescriber_a)).json()
        assert len(page["items"]) <= 2
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [p["id"] for p in created]
    by_status = await kit.client.get(
        "/prescriptions", params=[("session_id", str(target.session_id)), ("status", "admitted"), ("status", "waitlisted")], headers=kit.org_a
    )
    assert {i["id"] for i in by_status.json()["items"]} == {created[0]["id"], created[1]["id"]}
    today = business_today("Europe/Paris")  # the service filters by the Region's calendar day
    for params, expected in (
        ({"from": today.isoformat(), "to": today.isoformat()}, 5),
        ({"from": (today + timedelta(days=1)).isoformat()}, 0),
        ({"to": (today - timedelta(days=1)).isoformat()}, 0),
    ):
        answer = await kit.client.get("/prescriptions", params={"session_id": str(target.session_id), **params}, headers=kit.region)
        assert len(answer.json()["items"]) == expected, params
    for params, expected in (
        ({"prescriber_code": "PE-44001", "organisation_siret": kit.org_a_siret}, 5),
        ({"prescriber_code": "ML-49002"}, 0),
        ({"organisation_siret": kit.org_b_siret}, 0),
    ):
        answer = await kit.client.get("/prescriptions", params={"session_id": str(target.session_id), **params}, headers=kit.region)
        assert len(answer.json()["items"]) == expected, params
    counts = (await kit.client.get("/prescriptions/counts", params={"session_id": str(target.session_id)}, headers=kit.prescriber_a)).json()
    assert counts["total"] == 5
    assert (counts["counts"]["submitted"], counts["counts"]["admitted"], counts["counts"]["waitlisted"]) == (3, 1, 1)


async def test_the_minimal_documented_body_is_enough(shared_kit, session):
    """The example of services/orientation/README.md, as partners will first try it."""
    kit = shared_kit
    minimal = {
        "session_id": str(session.session_id),
        "identity": {"birth_name": "Durand", "first_names": "Léa"},
        "profile": {"sex": "F", "birth_date": "1998-04-03"},
        "professional_project": "Aide-soignante",
    }
    answer = await kit.client.post("/prescriptions", json=minimal, headers=kit.prescriber_a)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert (created["status"], created["prescriber_kind"], created["has_nir"]) == ("submitted", "france_travail", False)
    assert answer.headers["Location"] == f"/prescriptions/{created['id']}"
    assert answer.headers["ETag"] == '"1"'
