"""Races through the real endpoints and the real bus: retries of a creation, admissions for
the last places, and catalogue events that come late, twice or out of order.

Run on PostgreSQL (`./pacte test --postgres`) these are true concurrent transactions; on
SQLite the write lock serialises them and the same answers must come out.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import date, timedelta
from decimal import Decimal

from orientation.db.models import CatalogueSession, Person, Prescription, messaging
from orientation.domain.prescription import Status
from pacte_common.contracts.sessions import (
    Pillar,
    ProgrammeInfo,
    RecruitmentState,
    SessionPublished,
    SessionSnapshot,
    SessionUpdated,
)
from pacte_testing import eventually
from sqlalchemy import func, select

# Waiting for the consumer, not timing it: generous, so a loaded machine does not fail these.
PATIENCE_S = 90.0


async def rows(kit, query):
    async with kit.runtime.db_factory() as db:
        return (await db.execute(query)).scalar_one()


async def read_model(kit, session_id) -> CatalogueSession:
    async with kit.runtime.db_factory() as db:
        return await db.get(CatalogueSession, session_id)


async def processed(kit, envelopes) -> None:
    """Waits until the consumer has taken every one of these events (its inbox holds their ids)."""
    ids = {envelope.id for envelope in envelopes}

    async def all_seen():
        query = select(func.count()).select_from(messaging.inbox).where(messaging.inbox.c.event_id.in_(ids))
        return await rows(kit, query) == len(ids)

    await eventually(all_seen, timeout=PATIENCE_S, message=f"{len(ids)} catalogue events consumed")


async def published_session(kit, **overrides):
    """Sessions publishes a session; returns once orientation's read model holds it."""
    values = dict(
        session_id=uuid.uuid4(),
        action_id=uuid.uuid4(),
        programme=ProgrammeInfo(code="VISA-METIERS", name="VISA Métiers", pillar=Pillar.VISA, remuneration_approved=True),
        organisation_siret=kit.org_a_siret,
        action_title="Agent de maintenance des bâtiments",
        hours_in_centre=Decimal("600"),
        hourly_price=Decimal("12.50"),
        departement="44",
        start_date=date.today() + timedelta(days=30),
        end_date=date.today() + timedelta(days=200),
        places=1000,
        recruitment_state=RecruitmentState.OPEN,
    )
    snapshot = SessionSnapshot(**{**values, **overrides})
    envelope = await kit.publish(SessionPublished(session=snapshot), str(snapshot.session_id))
    await processed(kit, [envelope])
    return snapshot


async def status_of(kit, prescription_id: str, status: Status) -> None:
    async def reached():
        return (await kit.get(prescription_id))["status"] == status.value

    await eventually(reached, timeout=PATIENCE_S, message=f"prescription {prescription_id} {status.value}")


async def test_twenty_racing_retries_of_a_prescription_for_a_new_person_make_one(kit):
    session = await published_session(kit)
    body = kit.body(session.session_id)
    headers = {**kit.prescriber_a, "Idempotency-Key": f"new-person-{uuid.uuid4()}"}
    answers = await asyncio.gather(*[kit.client.post("/prescriptions", json=body, headers=headers) for _ in range(20)])

    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers if a.status_code != 201]
    assert len({a.content for a in answers}) == 1, "twenty identical answers"
    assert len({(a.headers["etag"], a.headers["location"]) for a in answers}) == 1
    assert sum("idempotent-replayed" in a.headers for a in answers) == 19
    assert await rows(kit, select(func.count()).select_from(Person)) == 1
    assert await rows(kit, select(func.count()).select_from(Prescription)) == 1
    submitted = select(func.count()).select_from(messaging.outbox).where(messaging.outbox.c.event_type.like("%prescription.submitted%"))
    assert await rows(kit, submitted) == 1, "one event for one effect"


async def test_fifty_concurrent_admissions_for_ten_places_admit_exactly_ten(kit):
    session = await published_session(kit, places=10, places_taken=0, version=1)
    candidates = [await kit.submit(session.session_id) for _ in range(50)]

    answers = await asyncio.gather(*[kit.act(p["id"], "admit", None, kit.org_a) for p in candidates])

    admitted = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert len(admitted) == 10, sorted(a.status_code for a in answers)
    assert len(refused) == 40 and {a.status_code for a in refused} == {409}
    for answer in refused:
        problem = answer.json()
        assert problem["type"].endswith("/session-full") and problem["places"] == 10 and problem["places_taken"] == 10
        assert "waitlist" in problem["allowed_actions"]
    count_admitted = select(func.count()).select_from(Prescription).where(
        Prescription.session_id == session.session_id, Prescription.status == Status.ADMITTED.value
    )
    assert await rows(kit, count_admitted) == 10

    # The organisation then puts the forty on the waiting list (docs/rules.md §3.1: session full, kept in order).
    refused_ids = [p["id"] for p, a in zip(candidates, answers, strict=True) if a.status_code != 200]
    ranks = []
    for prescription_id in refused_ids:
        waitlisted = await kit.act(prescription_id, "waitlist", None, kit.org_a)
        assert waitlisted.status_code == 200, waitlisted.text
        ranks.append(waitlisted.json()["waitlist_rank"])
    assert ranks == list(range(1, 41))


async def test_catalogue_events_late_twice_or_out_of_order_never_roll_places_back(kit):
    first = await published_session(kit, places=10, places_taken=0, version=1)
    # Sessions' history of the session: each entry took a place and a new version, under its lock.
    history = [first.model_copy(update={"places_taken": taken, "version": taken + 1}) for taken in range(1, 11)]

    in_order = [await kit.publish(SessionUpdated(session=snapshot), str(first.session_id)) for snapshot in history]
    await processed(kit, in_order)
    row = await read_model(kit, first.session_id)
    assert (row.places_taken, row.snapshot_version) == (10, 11)

    replayed = [await kit.publish(SessionUpdated(session=snapshot), str(first.session_id)) for snapshot in history]
    shuffled = random.Random(12).sample(history, len(history))
    out_of_order = [await kit.publish(SessionUpdated(session=snapshot), str(first.session_id)) for snapshot in shuffled]
    await processed(kit, replayed + out_of_order)
    row = await read_model(kit, first.session_id)
    assert (row.places_taken, row.snapshot_version) == (10, 11), "older snapshots are never applied"

    late = await kit.submit(first.session_id)
    refused = await kit.act(late["id"], "admit", None, kit.org_a)
    assert refused.status_code == 409 and refused.json()["places_taken"] == 10


async def test_an_entry_moves_its_place_from_admitted_to_taken_in_one_step(kit):
    session = await published_session(kit, places=2, places_taken=0, version=1)
    first, second = await kit.submit(session.session_id), await kit.submit(session.session_id)
    assert (await kit.act(first["id"], "admit", None, kit.org_a)).status_code == 200
    # The entry's event carries the session as sessions left it (one place taken, version 2);
    # the catalogue's own SessionUpdated has not arrived: the place must still count once.
    after_entry = session.model_copy(update={"places_taken": 1, "version": 2})
    await kit.trainee_entered(await kit.get(first["id"]), after_entry, dossier=kit.dossier(await kit.get(first["id"]), after_entry))
    await status_of(kit, first["id"], Status.ENTERED)
    row = await read_model(kit, session.session_id)
    assert (row.places_taken, row.snapshot_version) == (1, 2)

    assert (await kit.act(second["id"], "admit", None, kit.org_a)).status_code == 200
    third = await kit.submit(session.session_id)
    refused = await kit.act(third["id"], "admit", None, kit.org_a)
    assert refused.status_code == 409 and refused.json()["places_taken"] == 2

    # The catalogue's SessionUpdated of that entry, arriving late, changes nothing.
    late = await kit.publish(SessionUpdated(session=after_entry), str(session.session_id))
    stale = await kit.publish(SessionUpdated(session=session.model_copy(update={"places_taken": 0, "version": 1})), str(session.session_id))
    await processed(kit, [late, stale])
    row = await read_model(kit, session.session_id)
    assert (row.places_taken, row.snapshot_version) == (1, 2)
