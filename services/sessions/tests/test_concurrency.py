"""Races through the real endpoints on the real database: retried enrolments, entries for the
last places, exits and cancellations at the same time, and the order of SessionUpdated.

Run on PostgreSQL (`./pacte test --postgres`) these are true concurrent transactions; on
SQLite the write lock serialises them and the same answers must come out.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import asynccontextmanager

from pacte_common.db import create_engine, session_factory
from sessions.db.models import Dossier, TrainingSession, messaging
from sqlalchemy import func, select


@asynccontextmanager
async def database(api):
    engine = create_engine(api.settings.database_url)
    try:
        async with session_factory(engine)() as db:
            yield db
    finally:
        await engine.dispose()


async def session_updates(api, session_id: str) -> list[dict]:
    """The SessionUpdated snapshots of one session in outbox order (the order the relay publishes)."""
    outbox = messaging.outbox
    async with database(api) as db:
        bodies = (
            await db.execute(
                select(outbox.c.body)
                .where(outbox.c.message_key == session_id, outbox.c.event_type.like("%session.updated%"))
                .order_by(outbox.c.id)
            )
        ).scalars()
        return [json.loads(body)["session"] for body in bodies]


def identity(nir: str | None) -> dict:
    return {"birth_name": "Durand", "first_names": "Léa", **({"nir": nir} if nir else {})}


async def test_twenty_racing_retries_of_a_direct_enrolment_make_one_file(api):
    session = await api.catalogue(places=5)
    body = {
        "session_id": session["id"],
        "profile": {"sex": "F", "birth_date": "1990-01-17", "education_level": "iv", "jobseeker_category": "A"},
        "identity": identity(api.NIR),  # a new person: no file has this NIR yet
    }
    headers = {**api.org, "Idempotency-Key": f"enrol-{uuid.uuid4()}"}
    answers = await asyncio.gather(*[api.client.post("/dossiers", json=body, headers=headers) for _ in range(20)])

    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers if a.status_code != 201]
    assert len({a.content for a in answers}) == 1, "twenty identical answers"
    assert sum("idempotent-replayed" in a.headers for a in answers) == 19
    async with database(api) as db:
        files = (await db.execute(select(func.count()).select_from(Dossier))).scalar_one()
        enrolled = (
            await db.execute(
                select(func.count()).select_from(messaging.outbox).where(messaging.outbox.c.event_type.like("%trainee.enrolled%"))
            )
        ).scalar_one()
    assert (files, enrolled) == (1, 1)


async def test_thirty_concurrent_entries_for_ten_places_and_updates_in_commit_order(api):
    session = await api.catalogue(places=10)
    files = [await api.enrol(session["id"], nir=None) for _ in range(30)]

    answers = await asyncio.gather(
        *[api.client.post(f"/dossiers/{f['id']}/entry", json={"entry_date": "2026-01-06"}, headers=api.org) for f in files]
    )
    entered = [f for f, a in zip(files, answers, strict=True) if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert len(entered) == 10, sorted(a.status_code for a in answers)
    assert {a.status_code for a in refused} == {422}
    assert all("session is full" in a.text and a.json()["errors"][0]["field"] == "body.entry_date" for a in refused)

    # Exits (which keep their place: no permanent entries) and cancellations (which free it)
    # race with each other and with entries of files still waiting, whose outcome depends on
    # which commits first.
    still_enrolled = [f for f in files if f not in entered]
    leaving, cancelled, waiting = entered[:3], entered[3:6], still_enrolled[:3]
    moves = [
        *[api.client.post(f"/dossiers/{f['id']}/exit", json={"exit_date": "2026-01-20", "kind": "completed", "certification_result": "obtained"}, headers=api.org) for f in leaving],
        *[api.client.post(f"/dossiers/{f['id']}/cancel", json={"reason": "entry declared by mistake"}, headers=api.org) for f in cancelled],
        *[api.client.post(f"/dossiers/{f['id']}/entry", json={"entry_date": "2026-01-21"}, headers=api.org) for f in waiting],
    ]
    outcomes = await asyncio.gather(*moves)
    assert [o.status_code for o in outcomes[:6]] == [200] * 6, [o.text for o in outcomes[:6]]
    assert {o.status_code for o in outcomes[6:]} <= {200, 422}
    got_in = sum(o.status_code == 200 for o in outcomes[6:])

    # The places still free go to exactly as many of the next ten entries.
    after = still_enrolled[3:13]
    last_round = await asyncio.gather(
        *[api.client.post(f"/dossiers/{f['id']}/entry", json={"entry_date": "2026-01-22"}, headers=api.org) for f in after]
    )
    assert sum(a.status_code == 200 for a in last_round) == 3 - got_in
    assert {a.status_code for a in last_round} <= {200, 422}

    async with database(api) as db:
        row = await db.get(TrainingSession, uuid.UUID(session["id"]))
        holding = (
            await db.execute(
                select(func.count()).select_from(Dossier).where(
                    Dossier.session_id == row.id, Dossier.status.in_(["in_training", "interrupted", "exited"])
                )
            )
        ).scalar_one()
    assert holding == row.places_taken == 10

    updates = await session_updates(api, session["id"])
    versions = [u["version"] for u in updates]
    assert versions == sorted(set(versions)), f"one version per update, growing in commit order: {versions}"
    assert updates[-1]["places_taken"] == 10 and updates[-1]["version"] == row.version
    assert all(0 <= u["places_taken"] <= 10 for u in updates), "never more places taken than opened"
