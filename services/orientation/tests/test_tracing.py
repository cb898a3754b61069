"""One trace per journey: every event of a prescription carries the trace of the POST that
started it (a reorientation keeps its first's), whichever request, event or job acts later."""

import os
from datetime import date

from orientation.app.prescriptions import expire_overdue
from orientation.domain.prescription import Status
from pacte_common.clock import utcnow
from pacte_common.contracts.sessions import TraineeEntered
from pacte_common.events import Envelope, Topics
from pacte_common.tracing import trace_id_of
from pacte_testing import read_topic


def new_trace() -> tuple[str, str]:
    """(traceparent, its trace id)."""
    trace_id = os.urandom(16).hex()
    return f"00-{trace_id}-{os.urandom(8).hex()}-01", trace_id


def traced(headers: dict, traceparent: str) -> dict:
    return {**headers, "traceparent": traceparent}


async def test_every_event_of_a_journey_carries_the_trace_of_its_first_call(kit):
    home = await kit.publish_session()
    other = await kit.publish_session()

    # a: submitted, then acted on by other requests and by a consumed event, each in its own trace
    first_tp, first = new_trace()
    created = await kit.client.post("/prescriptions", json=kit.body(home.session_id), headers=traced(kit.prescriber_a, first_tp))
    assert created.status_code == 201, created.text
    assert created.headers["traceparent"] == first_tp and created.json()["trace_id"] == first
    a = created.json()["id"]
    positioning_tp, positioning_trace = new_trace()
    positioned = await kit.act(
        a, "positioning", {"date": "2030-02-01", "kind": "information_meeting"}, traced(kit.org_a, positioning_tp)
    )
    assert positioned.status_code == 200 and positioned.headers["traceparent"] == positioning_tp
    assert positioned.json()["trace_id"] == first
    assert (await kit.act(a, "admit", None, traced(kit.org_a, new_trace()[0]))).status_code == 200
    entered_tp, entered_trace = new_trace()
    dossier = kit.dossier(await kit.get(a), home)
    entered = TraineeEntered(dossier=dossier, occurred_at=utcnow(), actor="training_org:x", entry_date=date.today())
    envelope = Envelope.wrap(entered, source="/pacte/sessions", subject=str(dossier.dossier_id), traceparent=entered_tp)
    await kit.producer.send_and_wait(
        kit.topic(entered.topic), value=envelope.body(), key=str(dossier.dossier_id).encode(), headers=envelope.headers()
    )
    await kit.wait_status(a, Status.ENTERED)

    # b refused then reoriented to c: c continues b's trace, not the reorientation request's
    b_tp, b_trace = new_trace()
    b = (await kit.submit(home.session_id, headers=traced(kit.prescriber_a, b_tp)))["id"]
    assert (await kit.act(b, "refuse", {"reason_code": "prerequisites_not_met"}, traced(kit.org_a, new_trace()[0]))).status_code == 200
    reoriented = await kit.act(b, "reorient", {"session_id": str(other.session_id)}, traced(kit.prescriber_a, new_trace()[0]))
    assert reoriented.status_code == 201, reoriented.text
    c = reoriented.json()
    assert c["trace_id"] == b_trace
    assert (await kit.act(c["id"], "withdraw", None, traced(kit.prescriber_a, new_trace()[0]))).status_code == 200

    # d expired by the background job, which has no trace of its own
    d_tp, d_trace = new_trace()
    d = (await kit.submit(home.session_id, headers=traced(kit.prescriber_a, d_tp)))["id"]
    await kit.backdate(d)
    assert await expire_overdue(kit.runtime) == 1

    events = await read_topic(kit.bus, kit.topic(Topics.PRESCRIPTIONS), expect=11)
    journeys: dict[str, list[tuple[str, str | None]]] = {}
    for event in events:
        journeys.setdefault(event.subject, []).append((event.type.split(".")[-2], trace_id_of(event.traceparent)))
    assert journeys == {
        a: [("submitted", first), ("positioning-scheduled", first), ("admitted", first), ("entered", first)],
        b: [("submitted", b_trace), ("refused", b_trace), ("reoriented", b_trace)],
        c["id"]: [("submitted", b_trace), ("withdrawn", b_trace)],
        d: [("submitted", d_trace), ("expired", d_trace)],
    }
    # each event is a span of its own (a child of the journey's trace), never the stored parent itself
    assert all(event.traceparent not in (first_tp, b_tp, d_tp) for event in events)
    assert positioning_trace != first and entered_trace != first

    # The API shows the journey's trace whoever asks, in whichever trace.
    again = await kit.client.get(f"/prescriptions/{a}", headers=traced(kit.region, new_trace()[0]))
    assert again.json()["trace_id"] == first
    assert (await kit.get(c["id"]))["trace_id"] == b_trace and (await kit.get(d))["trace_id"] == d_trace
