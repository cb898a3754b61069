"""The prescription's log, through HTTP: a move the table refuses is a 409 with the way forward
and leaves no trace; every move it allows is logged with the trace of the request (or the event)
that made it, whatever the journey's own trace."""

import os
import uuid
from datetime import date

from orientation.db.models import PrescriptionTransition
from orientation.domain.prescription import Status
from pacte_common.clock import utcnow
from pacte_common.contracts.sessions import TraineeEntered
from pacte_common.events import Envelope
from sqlalchemy import select


def new_trace() -> tuple[str, str]:
    """(traceparent, its trace id)."""
    trace_id = os.urandom(16).hex()
    return f"00-{trace_id}-{os.urandom(8).hex()}-01", trace_id


async def log_of(kit, prescription_id: str) -> list[PrescriptionTransition]:
    async with kit.runtime.db_factory() as db:
        rows = await db.scalars(
            select(PrescriptionTransition)
            .where(PrescriptionTransition.prescription_id == uuid.UUID(prescription_id))
            .order_by(PrescriptionTransition.sequence)
        )
        return list(rows)


async def test_a_refused_move_is_a_409_with_the_allowed_actions_and_changes_nothing(kit):
    home = await kit.publish_session()
    waitlisted = await kit.drive(Status.WAITLISTED, home)
    pid = waitlisted["id"]
    before_rows, before_log = await kit.count_rows(), await log_of(kit, pid)

    answer = await kit.act(pid, "positioning", {"date": "2030-03-02", "kind": "test"}, kit.org_a)

    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["type"].endswith("/invalid-transition")
    assert problem["current_state"] == "waitlisted"
    assert problem["allowed_actions"] == ["admit", "refuse"]
    assert (await kit.get(pid))["version"] == waitlisted["version"]
    assert await kit.count_rows() == before_rows
    assert len(await log_of(kit, pid)) == len(before_log)


async def test_each_log_row_carries_the_trace_of_the_request_or_event_that_made_it(kit):
    home = await kit.publish_session()
    submit_tp, submit_trace = new_trace()
    created = await kit.client.post(
        "/prescriptions", json=kit.body(home.session_id), headers={**kit.prescriber_a, "traceparent": submit_tp}
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    admit_tp, admit_trace = new_trace()
    admitted = await kit.act(pid, "admit", None, {**kit.org_a, "traceparent": admit_tp})
    assert admitted.status_code == 200, admitted.text
    assert admitted.json()["trace_id"] == submit_trace  # the journey keeps its first trace

    entered_tp, entered_trace = new_trace()
    dossier = kit.dossier(admitted.json(), home)
    entered = TraineeEntered(dossier=dossier, occurred_at=utcnow(), actor="training_org:x", entry_date=date.today())
    envelope = Envelope.wrap(entered, source="/pacte/sessions", subject=str(dossier.dossier_id), traceparent=entered_tp)
    await kit.producer.send_and_wait(
        kit.topic(entered.topic), value=envelope.body(), key=str(dossier.dossier_id).encode(), headers=envelope.headers()
    )
    await kit.wait_status(pid, Status.ENTERED)

    rows = await log_of(kit, pid)
    assert [(r.sequence, r.action, r.from_status, r.to_status, r.trace_id) for r in rows] == [
        (1, "submit", None, "submitted", submit_trace),
        (2, "admit", "submitted", "admitted", admit_trace),
        (3, "enter", "admitted", "entered", entered_trace),
    ]
    assert rows[1].actor == f"training_org:{kit.org_a_siret}"
