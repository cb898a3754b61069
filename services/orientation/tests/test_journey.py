"""The issue's "done when", over HTTP with sessions played on the real broker."""

from pacte_common.contracts.people import open_identity


async def test_publish_submit_position_refuse_reorient_admit_enter(kit):
    first = await kit.publish_session()
    second = await kit.publish_session(organisation_siret=first.organisation_siret)

    listed = await kit.client.get("/sessions", headers=kit.prescriber_a)
    assert {s["session_id"] for s in listed.json()["items"]} >= {str(first.session_id), str(second.session_id)}

    submitted = await kit.submit(first.session_id)
    assert submitted["status"] == "submitted"
    pid = submitted["id"]

    positioned = await kit.act(pid, "positioning", {"date": "2030-01-10", "kind": "interview"}, kit.org_a)
    assert positioned.status_code == 200 and positioned.json()["status"] == "positioning"
    refused = await kit.act(
        pid, "refuse", {"reason_code": "prerequisites_not_met", "comment": "Calcul à consolider"}, kit.org_a
    )
    assert refused.status_code == 200, refused.text

    seen = await kit.get(pid, kit.prescriber_a)
    assert seen["status"] == "refused"
    assert seen["refusal"]["reason_code"] == "prerequisites_not_met"
    assert "remise à niveau" in seen["refusal"]["hint"]
    assert "reorient" in seen["allowed_actions"]

    reoriented = await kit.act(pid, "reorient", {"session_id": str(second.session_id)}, kit.prescriber_a)
    assert reoriented.status_code == 201, reoriented.text
    new = reoriented.json()
    assert new["previous_prescription_id"] == pid and new["session_id"] == str(second.session_id)
    assert new["person_id"] == submitted["person_id"]

    admitted = await kit.act(new["id"], "admit", None, kit.org_a)
    assert admitted.status_code == 200 and admitted.json()["status"] == "admitted"

    await kit.trainee_entered(await kit.get(new["id"]), second)
    final = await kit.wait_status(new["id"], "entered")
    assert [link["prescription_id"] for link in final["chain"]] == [pid, new["id"]]

    history = (await kit.client.get(f"/prescriptions/{new['id']}/history", headers=kit.prescriber_a)).json()
    steps = [(item["prescription_id"], item["action"], item["from_status"], item["to_status"]) for item in history["items"]]
    assert steps == [
        (pid, "submit", None, "submitted"),
        (pid, "positioning", "submitted", "positioning"),
        (pid, "refuse", "positioning", "refused"),
        (pid, "reorient", "refused", "refused"),
        (new["id"], "submit", None, "submitted"),
        (new["id"], "admit", "submitted", "admitted"),
        (new["id"], "enter", "admitted", "entered"),
    ]
    assert all(item["actor"] and item["at"] for item in history["items"])
    assert history["items"][2]["details"] == {"reason_code": "prerequisites_not_met"}

    # what sessions received to open the file: profile and the sealed identity, NIR inside
    events = await kit.events_for(new["id"], expect=3)
    admitted_event = next(e for e in events if e.type.endswith(".admitted.v1")).data
    identity = open_identity(kit.runtime.cipher, admitted_event.identity_encrypted)
    assert identity.nir and admitted_event.has_nir
    assert identity.nir not in admitted_event.model_dump_json().replace(admitted_event.identity_encrypted, "")
