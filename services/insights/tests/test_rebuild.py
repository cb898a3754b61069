"""`pacte insights rebuild` (docs/insights.md §4): with insights stopped, its read models emptied
and every topic replayed from the beginning give the same indicators, result indicators,
trajectory and public search of the offer as before."""

import uuid
from datetime import date
from decimal import Decimal

from insights.db.models import Action, messaging
from insights.main import create_app
from pacte_common.db import create_engine
from pacte_common.events import Topics
from pacte_testing import auth_header, eventually, read_topic, running
from pacte_testing.agora import publish
from pacte_tools.insights_cli import rebuild
from sqlalchemy import func, select

QUERY = "/indicators?from=2026-01-01&to=2026-12-31&compare=departement"
RESULTS = "/indicators/results?horizon=3"
SEARCH = "/public/sessions?q=propreté"


async def test_a_rebuild_from_the_topics_gives_the_same_indicators(sessions, settings, clock):
    visa = await sessions.catalogue(places=4)
    prepa = await sessions.catalogue(programme_code="PREPA-AVENIR", pillar="prepa", places=6, departement="49",
                                     start=date(2026, 1, 5), end=date(2026, 3, 27))
    for session, sex in ((visa, "F"), (prepa, "M"), (prepa, "F")):
        dossier = await sessions.enrol(session["id"], profile=sessions.profile_body(sex=sex))
        await sessions.act(dossier["id"], "enter", {"entry_date": "2026-01-05"})
    await sessions.act(dossier["id"], "exit", {"exit_date": "2026-02-13", "kind": "dropout", "dropout_reason": "employment"})
    clock.today = date(2026, 6, 1)  # the 3-month horizon reached
    await sessions.ok("POST", f"/dossiers/{dossier['id']}/outcomes", sessions.org, 201,
                      json={"horizon_months": 3, "situation": "permanent_job", "observed_on": "2026-05-13"})

    region = auth_header(settings, "region", "region")
    trajectory = f"/people/{dossier['person_id']}/trajectory"
    async with running(create_app(settings, clock=clock)) as client:
        async def caught_up():
            body = (await client.get(QUERY, headers=region)).json()
            results = (await client.get(RESULTS, headers=region)).json()
            search = (await client.get(SEARCH)).json()
            done = body["all"]["entries"] == 3 and body["all"]["dropout_rate"]["numerator"] == 1 and results["all"]["respondents"] == 1
            return (body, results, search) if done and len(search["items"]) == 1 else None  # the PRÉPA session is over

        before = await eventually(caught_up, 30, interval=0.1, message="the files and the outcome reached insights")
        path = (await client.get(trajectory, headers=region)).json()

    lines: list[str] = []
    held = await rebuild(settings, report=lines.append, timeout_s=60)
    assert held["dossiers"] == 3 and held["training_sessions"] == 2 and held["outcomes"] == 1 and held["inbox_messages"] > 0, held
    assert held["public_offers"] == 2 and held["public_offer_codes"] == 2, held
    assert "trajectory_reads" not in held  # the audit of reads is not a read model: kept
    assert lines[0].startswith("emptied:") and lines[-1].startswith("replayed:"), lines

    async with running(create_app(settings.model_copy(update={"consume": False}), clock=clock)) as client:  # what the replay built, nothing more
        after = ((await client.get(QUERY, headers=region)).json(), (await client.get(RESULTS, headers=region)).json(),
                 (await client.get(SEARCH)).json())
        assert (await client.get(trajectory, headers=region)).json() == path
        assert len((await client.get(f"{trajectory}/reads", headers=region)).json()) == 2  # the read before the rebuild, kept
    assert after == before


async def test_a_late_trainee_event_does_not_roll_its_action_back(sessions, settings):
    """A trainee event carries its action as it was when published; the action changing later
    does not move its sessions' version, so the action's own version decides (docs/insights.md §1)."""
    session = await sessions.catalogue()
    await sessions.enrol(session["id"])
    [enrolled] = await read_topic(settings.bus, sessions.topic(Topics.TRAINEES), expect=1)
    engine = create_engine(settings.database_url)

    async def held(query):
        async with engine.connect() as connection:
            return (await connection.execute(query)).scalar_one_or_none()

    hours = select(Action.hours_in_centre).where(Action.id == uuid.UUID(session["action_id"]))
    async with running(create_app(settings)):
        await eventually(lambda: held(hours), 30, message="the action reached insights")
        await sessions.ok("PATCH", f"/actions/{session['action_id']}", sessions.region, json={"hours_in_centre": "500"})
        await eventually(lambda: _is(held(hours), Decimal("500")), 30, message="the changed action reached insights")
        applied = select(func.count()).select_from(messaging.inbox)
        before = await held(applied)
        await publish(settings.bus, [enrolled.data])  # the same event again, as a late copy with an id of its own
        await eventually(lambda: _is_more(held(applied), before), 30, message="the late event was applied")
        assert await held(hours) == Decimal("500")
    await engine.dispose()


async def _is(reading, expected) -> bool:
    return await reading == expected


async def _is_more(reading, than: int) -> bool:
    return await reading > than
