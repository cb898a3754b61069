"""The training file over HTTP: every (state, action) pair, date and places rules, late flags."""

import os
import uuid
from datetime import date

import pytest
from pacte_common.contracts.sessions import SessionUpdated, TraineeEntered
from pacte_common.db import create_engine, session_factory
from pacte_common.events import Topics
from pacte_testing import read_topic
from sessions.db.models import DossierTransition
from sqlalchemy import event, select

STATES = ["enrolled", "in_training", "interrupted", "exited", "cancelled"]
ACTIONS = ["enter", "interrupt", "resume", "exit", "cancel"]
ALLOWED = {
    ("enrolled", "enter"): "in_training",
    ("enrolled", "cancel"): "cancelled",
    ("in_training", "interrupt"): "interrupted",
    ("in_training", "exit"): "exited",
    ("in_training", "cancel"): "cancelled",
    ("interrupted", "resume"): "in_training",
    ("interrupted", "exit"): "exited",
    ("interrupted", "cancel"): "cancelled",
}
BODIES = {
    "enter": {"entry_date": "2026-01-05"},
    "interrupt": {"start_date": "2026-02-09", "reason": "personal", "expected_return_date": "2026-02-23"},
    "resume": {"resumption_date": "2026-02-16"},
    "exit": {"exit_date": "2026-03-02", "kind": "completed", "certification_result": "obtained"},
    "cancel": {"reason": "entry declared by mistake"},
}
# Steps that bring a fresh file to each state, and how many events that publishes.
PATHS = {
    "enrolled": [],
    "in_training": [("enter", {"entry_date": "2026-01-05"})],
    "interrupted": [("enter", {"entry_date": "2026-01-05"}), ("interrupt", {"start_date": "2026-02-02", "reason": "employment"})],
    "exited": [("enter", {"entry_date": "2026-01-05"}), ("exit", {"exit_date": "2026-02-27", "kind": "dropout", "dropout_reason": "health"})],
    "cancelled": [("cancel", {"reason": "duplicate"})],
}


async def file_in_state(api, session_id: str, state: str) -> dict:
    dossier = await api.enrol(session_id)
    for action, body in PATHS[state]:
        dossier = await api.act(dossier["id"], action, body)
    assert dossier["status"] == state
    return dossier


async def test_every_state_action_pair(api):
    session = await api.catalogue(places=30)
    published = 0
    for state in STATES:
        for action in ACTIONS:
            dossier = await file_in_state(api, session["id"], state)
            published += 1 + len(PATHS[state])
            response = await api.client.post(
                f"/dossiers/{dossier['id']}/{ {'enter': 'entry', 'interrupt': 'interruptions', 'resume': 'resumption', 'exit': 'exit', 'cancel': 'cancel'}[action] }",
                headers={**api.org, "If-Match": f'"{dossier["version"]}"'},
                json=BODIES[action],
            )
            if (state, action) in ALLOWED:
                assert response.status_code in (200, 201), (state, action, response.text)
                body = response.json()
                assert body["status"] == ALLOWED[(state, action)]
                assert response.headers["ETag"] == f'"{dossier["version"] + 1}"'
                published += 1
            else:
                assert response.status_code == 409, (state, action, response.text)
                problem = response.json()
                assert response.headers["content-type"].startswith("application/problem+json")
                assert problem["current_state"] == state
                assert action not in problem["allowed_actions"]
                assert sorted(problem["allowed_actions"]) == sorted(a for (s, a) in ALLOWED if s == state)
                after = await api.ok("GET", f"/dossiers/{dossier['id']}", api.org)
                assert (after["status"], after["version"]) == (state, dossier["version"])
    events = await read_topic(api.settings.bus, api.topic(Topics.TRAINEES), expect=published)
    assert len(events) == published  # refused actions published nothing
    full = await api.ok("GET", f"/dossiers/{dossier['id']}", api.org)
    assert [t["action"] for t in full["transitions"]] == ["enrol", "cancel"]
    assert full["transitions"][-1]["actor"] == f"training_org:{api.SIRET_A}"


async def test_stale_if_match_is_refused(api):
    session = await api.catalogue()
    dossier = await api.enrol(session["id"])
    response = await api.client.post(f"/dossiers/{dossier['id']}/entry", headers={**api.org, "If-Match": '"7"'}, json=BODIES["enter"])
    assert response.status_code == 412
    assert (await api.ok("GET", f"/dossiers/{dossier['id']}", api.org))["status"] == "enrolled"


async def test_date_rules(api):
    session = await api.catalogue(start=date(2026, 1, 5), end=date(2026, 6, 26))
    dossier = await api.enrol(session["id"])
    did = dossier["id"]

    async def refused(action, body, field):
        response = await api.client.post(f"/dossiers/{did}/{action}", headers=api.org, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field

    await refused("entry", {"entry_date": "2026-01-04"}, "body.entry_date")  # before the session
    await refused("entry", {"entry_date": "2026-06-27"}, "body.entry_date")  # after it
    await api.act(did, "enter", {"entry_date": "2026-01-12"})
    await refused("interruptions", {"start_date": "2026-01-09", "reason": "health"}, "body.start_date")  # before entry
    await refused("exit", {"exit_date": "2026-01-11", "kind": "completed"}, "body.exit_date")
    await api.act(did, "interrupt", {"start_date": "2026-02-02", "reason": "employment"})
    await refused("resumption", {"resumption_date": "2026-02-02"}, "body.resumption_date")  # not after the start
    await api.act(did, "resume", {"resumption_date": "2026-02-16"})
    await refused("interruptions", {"start_date": "2026-02-10", "reason": "health"}, "body.start_date")  # out of order
    await refused("exit", {"exit_date": "2026-02-13", "kind": "completed"}, "body.exit_date")  # before the resumption
    await refused("exit", {"exit_date": "2026-03-02", "kind": "dropout"}, "body")  # a dropout needs its reason
    done = await api.act(did, "exit", {"exit_date": "2026-03-02", "kind": "dropout", "dropout_reason": "employment"})
    assert done["status"] == "exited" and done["version"] == 5
    events = await read_topic(api.settings.bus, api.topic(Topics.TRAINEES), expect=5)
    assert [e.type.split(".")[-2] for e in events] == ["enrolled", "entered", "interrupted", "resumed", "exited"]


async def test_places_rule_and_recruitment_state(api):
    session = await api.catalogue(places=2)
    first, second, third = [await api.enrol(session["id"]) for _ in range(3)]
    await api.act(first["id"], "enter", {"entry_date": "2026-01-05"})
    await api.act(second["id"], "enter", {"entry_date": "2026-01-05"})
    full = await api.ok("GET", f"/sessions/{session['id']}", api.org)
    assert (full["places_taken"], full["recruitment_state"]) == (2, "full")

    response = await api.client.post(f"/dossiers/{third['id']}/entry", headers=api.org, json={"entry_date": "2026-01-06"})
    assert response.status_code == 422 and "full" in response.json()["detail"]

    await api.act(second["id"], "cancel", {"reason": "entry declared by mistake"})
    reopened = await api.ok("GET", f"/sessions/{session['id']}", api.org)
    assert (reopened["places_taken"], reopened["recruitment_state"]) == (1, "open")
    await api.act(third["id"], "enter", {"entry_date": "2026-01-06"})

    catalogue = await read_topic(api.settings.bus, api.topic(Topics.CATALOGUE), expect=4)
    updates = [(e.data.session.places_taken, e.data.session.recruitment_state.value) for e in catalogue if isinstance(e.data, SessionUpdated)]
    assert updates == [(1, "open"), (2, "full"), (1, "open"), (2, "full")]


async def test_an_entry_reads_its_file_once_and_writes_each_row_once(api_and_engine):
    """The entry's statements (docs/scaling.md, "Dossier entry in sessions"): the file with its
    session in one read, one count of the places, then the file, its log row, the session's
    places and both events in one outbox INSERT. The relay's own statements are left aside."""
    api, engine = api_and_engine
    session = await api.catalogue(places=2)
    dossier = await api.enrol(session["id"])
    seen: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        words = statement.split()
        if words[0] == "INSERT" and words[2] == "outbox_messages" or {"dossiers", "training_sessions", "dossier_transitions"} & {
            w.split(".")[0].strip(",") for w in words
        }:
            seen.append(" ".join(words[:3]).rstrip(","))

    event.listen(engine.sync_engine, "before_cursor_execute", watch)
    try:
        entered = await api.act(dossier["id"], "enter", {"entry_date": "2026-01-05"})
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", watch)
    assert (entered["status"], entered["version"], entered["entry_date"]) == ("in_training", dossier["version"] + 1, "2026-01-05")
    assert seen == [
        "SELECT dossiers.id AS",  # the file, its session, action and programme; file and session locked
        "SELECT dossiers.status, count(*)",  # the places, counted under the session's lock
        "UPDATE dossiers SET",
        "INSERT INTO dossier_transitions",
        "UPDATE training_sessions SET",  # one place more: SessionUpdated goes with TraineeEntered
        "INSERT INTO outbox_messages",
    ]
    catalogue = await read_topic(api.settings.bus, api.topic(Topics.CATALOGUE), expect=2)
    updates = [(e.data.session.places_taken, e.data.session.version) for e in catalogue if isinstance(e.data, SessionUpdated)]
    assert updates == [(1, session["version"] + 1)]
    trainee = await read_topic(api.settings.bus, api.topic(Topics.TRAINEES), expect=2)
    [entry] = [e.data for e in trainee if isinstance(e.data, TraineeEntered)]
    assert (entry.dossier.version, entry.dossier.session.places_taken, entry.dossier.session.offer) == (entered["version"], 1, None)


async def test_permanent_entries_free_a_place_at_exit(api):
    session = await api.catalogue(places=1, permanent_entries=True, start=date(2026, 1, 5), end=date(2026, 12, 18))
    first, second = await api.enrol(session["id"]), await api.enrol(session["id"])
    await api.act(first["id"], "enter", {"entry_date": "2025-12-15"})  # any day until the end
    refused = await api.client.post(f"/dossiers/{second['id']}/entry", headers=api.org, json={"entry_date": "2026-03-02"})
    assert refused.status_code == 422
    await api.act(first["id"], "exit", {"exit_date": "2026-02-27", "kind": "completed"})
    await api.act(second["id"], "enter", {"entry_date": "2026-03-02"})
    assert (await api.ok("GET", f"/sessions/{session['id']}", api.org))["places_taken"] == 1


async def test_late_declaration_across_a_public_holiday(api):
    session = await api.catalogue(start=date(2025, 5, 5), end=date(2025, 9, 26))
    on_time, late = await api.enrol(session["id"]), await api.enrol(session["id"])
    # Entry on Wednesday 7 May 2025; Thursday 8 May is Victoire 1945.
    api.clock.today = date(2025, 5, 13)  # Fri 9, Mon 12, Tue 13: the third working day
    assert (await api.act(on_time["id"], "enter", {"entry_date": "2025-05-07"}))["entry_declared_late"] is False
    api.clock.today = date(2025, 5, 14)  # the fourth working day
    assert (await api.act(late["id"], "enter", {"entry_date": "2025-05-07"}))["entry_declared_late"] is True
    api.clock.today = date(2025, 9, 30)
    exited = await api.act(late["id"], "exit", {"exit_date": "2025-09-26", "kind": "completed"})  # Fri -> Tue: 2 days
    assert exited["exit_declared_late"] is False

    events = await read_topic(api.settings.bus, api.topic(Topics.TRAINEES), expect=5)
    entered = [e.data for e in events if isinstance(e.data, TraineeEntered)]
    # Order holds per file (the key), not across files: compare as a mapping.
    assert {str(e.dossier.dossier_id): e.declared_late for e in entered} == {on_time["id"]: False, late["id"]: True}
    history = (await api.ok("GET", f"/dossiers/{late['id']}", api.org))["transitions"]
    assert [(t["action"], t["declared_late"]) for t in history] == [("enrol", False), ("enter", True), ("exit", False)]


@pytest.mark.parametrize("blocks", [["RNCP34174BC09"], []], ids=["unknown-block", "partial-without-blocks"])
async def test_partial_certification_names_real_skill_blocks(api, blocks):
    session = await api.catalogue()
    dossier = await api.enrol(session["id"])
    await api.act(dossier["id"], "enter", {"entry_date": "2026-01-05"})
    body = {"exit_date": "2026-06-26", "kind": "completed", "certification_result": "partial", "skill_blocks_obtained": blocks}
    response = await api.client.post(f"/dossiers/{dossier['id']}/exit", headers=api.org, json=body)
    assert response.status_code == 422
    assert (await api.ok("GET", f"/dossiers/{dossier['id']}", api.org))["status"] == "in_training"


async def test_a_refused_action_names_the_way_forward_and_a_move_logs_the_request_trace(api):
    """An illegal action is a 409 with the allowed actions; a legal one adds a log row carrying
    the trace id of the request's traceparent (who, when, from, to, why, in which trace)."""
    session = await api.catalogue(places=5)
    dossier = await api.enrol(session["id"])
    refused = await api.client.post(f"/dossiers/{dossier['id']}/resumption", headers=api.org, json={"resumption_date": "2026-01-12"})
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["type"].endswith("invalid-transition")
    assert (problem["current_state"], problem["allowed_actions"]) == ("enrolled", ["cancel", "enter"])

    trace_id = os.urandom(16).hex()
    traceparent = f"00-{trace_id}-{os.urandom(8).hex()}-01"
    entered = await api.client.post(
        f"/dossiers/{dossier['id']}/entry", headers={**api.org, "traceparent": traceparent}, json={"entry_date": "2026-01-05"}
    )
    assert entered.status_code == 200, entered.text
    engine = create_engine(api.settings.database_url)
    try:
        async with session_factory(engine)() as db:
            rows = (await db.execute(
                select(DossierTransition).where(DossierTransition.dossier_id == uuid.UUID(dossier["id"])).order_by(DossierTransition.id)
            )).scalars().all()
    finally:
        await engine.dispose()
    assert [(r.action, r.from_status, r.to_status) for r in rows] == [("enrol", None, "enrolled"), ("enter", "enrolled", "in_training")]
    assert rows[-1].trace_id == trace_id and rows[-1].actor == f"training_org:{api.SIRET_A}"
    assert rows[-1].effective_date == date(2026, 1, 5) and rows[-1].details == {}
    assert rows[0].trace_id not in (None, trace_id)  # the enrolment's own request
