"""The offer over HTTP: creation, updates by the Region, and what each change publishes."""

import uuid
from datetime import date

from pacte_common.contracts.sessions import (
    SessionCancelled,
    SessionClosed,
    SessionPublished,
    SessionUpdated,
)
from pacte_common.events import Topics
from pacte_testing import read_topic


async def test_every_catalogue_change_publishes(api):
    headers = {**api.region, "Idempotency-Key": "programme-visa"}
    first = await api.ok("POST", "/programmes", headers, 201, json=api.programme_body())
    replay = await api.client.post("/programmes", headers=headers, json=api.programme_body())
    assert replay.json()["id"] == first["id"] and replay.headers["Idempotent-Replayed"] == "true"
    duplicate = await api.client.post("/programmes", headers=api.region, json=api.programme_body())
    assert duplicate.status_code == 409

    action = await api.ok("POST", "/actions", api.region, 201, json=api.action_body("VISA-METIERS"))
    assert (action["hours_in_centre"], action["hourly_price"], action["skill_blocks"][0]) == ("400.00", "12.50", "RNCP34174BC01")
    body = {"action_id": action["id"], "start_date": "2026-01-05", "end_date": "2026-06-26", "places": 12,
            "information_meetings": ["2025-12-09"]}
    kept = await api.ok("POST", "/sessions", api.region, 201, json=body)
    dropped = await api.ok("POST", "/sessions", api.region, 201, json=body)
    assert kept["programme"]["code"] == "VISA-METIERS" and kept["weekly_hours"] == "35.00"

    await api.ok("PATCH", f"/sessions/{kept['id']}", {**api.region, "If-Match": '"1"'}, json={"places": 14})
    stale = await api.client.patch(f"/sessions/{kept['id']}", headers={**api.region, "If-Match": '"1"'}, json={"places": 15})
    assert stale.status_code == 412
    await api.ok("PATCH", f"/programmes/{first['id']}", api.region, json={"tension_sector": True})
    await api.ok("PATCH", f"/actions/{action['id']}", api.region, json={"hourly_price": "13.10"})
    closed = await api.ok("PATCH", f"/sessions/{kept['id']}", api.region, json={"recruitment_state": "closed"})
    assert closed["recruitment_state"] == "closed"
    cancelled = await api.ok("POST", f"/sessions/{dropped['id']}/cancel", api.region, json={"reason": "organisation withdrew"})
    assert cancelled["cancelled"] is True
    assert (await api.client.post(f"/sessions/{dropped['id']}/cancel", headers=api.region, json={"reason": "again"})).status_code == 409
    unchanged = await api.ok("PATCH", f"/sessions/{kept['id']}", api.region, json={"places": 14})  # no change, no event
    assert unchanged["version"] == closed["version"]

    events = await read_topic(api.settings.bus, api.topic(Topics.CATALOGUE), expect=9)
    for_kept = [e.data for e in events if str(e.subject) == kept["id"]]
    assert [type(e) for e in for_kept] == [SessionPublished, SessionUpdated, SessionUpdated, SessionUpdated, SessionClosed]
    assert for_kept[1].session.places == 14
    assert for_kept[2].session.programme.tension_sector is True
    assert str(for_kept[3].session.hourly_price) == "13.10"
    for_dropped = [type(e.data) for e in events if str(e.subject) == dropped["id"]]
    assert for_dropped == [SessionPublished, SessionUpdated, SessionUpdated, SessionCancelled]
    assert len(events) == 9


async def test_the_public_search_is_insights_now(api):
    """The public search of the offer and its pages moved to insights (docs/public-search.md, "The
    move"): sessions answers 404 on them and its OpenAPI document no longer lists them."""
    for path in ("/public/sessions", f"/public/trainings/{uuid.uuid4()}", "/public/openapi.json", "/formations",
                 f"/formations/{uuid.uuid4()}", "/public-assets/public.css"):
        assert (await api.client.get(path)).status_code == 404, path
    paths = (await api.ok("GET", "/openapi.json", {}))["paths"]
    assert not [path for path in paths if path.startswith("/public/") or path.startswith("/formations")]


async def test_the_region_republishes_the_catalogue_for_a_reader_that_gained_fields(api):
    """`POST /catalogue/republish` publishes every session's snapshot again, as it is now (same
    versions), with the fields a newer reader needs (the public search's offer details)."""
    first = await api.catalogue()
    second = await api.catalogue(start=date(2026, 3, 2), end=date(2026, 9, 25))
    assert (await api.client.post("/catalogue/republish", headers=api.org)).status_code == 403
    assert await api.ok("POST", "/catalogue/republish", api.region) == {"sessions": 2}
    events = await read_topic(api.settings.bus, api.topic(Topics.CATALOGUE), expect=4)
    again = {str(e.subject): e.data.session for e in events if isinstance(e.data, SessionUpdated)}
    assert set(again) == {first["id"], second["id"]}
    assert again[first["id"]].version == first["version"] and again[first["id"]].offer is not None
    assert again[first["id"]].distance_learning is False
