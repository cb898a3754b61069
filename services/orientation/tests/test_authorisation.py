"""Who may do what: two prescribers, two training organisations, the Region (plus the paying
agency and anonymous callers) on every endpoint, against one another's prescriptions (docs/conventions.md §2.5).

The prescription under test is always prescriber A's, to a session of organisation A.
"""

import asyncio
import uuid
from datetime import date, timedelta

import pytest
import pytest_asyncio
import sqlalchemy as sa
from orientation.app.search import open_criteria
from orientation.domain.prescription import Status
from orientation.main import MIGRATIONS
from orientation.settings import OrientationSettings
from pacte_common.auth import OrgKind
from pacte_common.clock import utcnow
from pacte_common.crypto import FieldCipher
from pacte_common.db import UTCDateTime, create_engine, migrate, run_migrations
from pacte_common.settings import BusSettings
from pacte_tools.dev_issuer import mint_token

pytestmark = pytest.mark.asyncio(loop_scope="module")

CALLERS = ("prescriber_a", "prescriber_b", "org_a", "org_b", "region", "paying_agency", "anonymous")


def headers_of(kit, caller: str) -> dict:
    if caller == "anonymous":
        return {}
    if caller == "paying_agency":
        return kit.as_(OrgKind.PAYING_AGENCY, "ASP")
    return getattr(kit, caller)


# endpoint → (state the prescription must be in, expected status per caller)
READ = {"prescriber_a": 200, "prescriber_b": 404, "org_a": 200, "org_b": 404, "region": 200, "paying_agency": 403, "anonymous": 401}
# An action is first checked against the caller's kind (403 whoever's prescription it is, so it
# tells nothing of its existence), then against the prescription's visibility (404).
ORG_ACT = {"prescriber_a": 403, "prescriber_b": 403, "org_a": 200, "org_b": 404, "region": 403, "paying_agency": 403, "anonymous": 401}
PRESCRIBER_ACT = {"prescriber_a": 200, "prescriber_b": 404, "org_a": 403, "org_b": 403, "region": 403, "paying_agency": 403, "anonymous": 401}
ENDPOINTS = {
    "get": (Status.SUBMITTED, READ),
    "history": (Status.SUBMITTED, READ),
    "positioning": (Status.SUBMITTED, ORG_ACT),
    "admit": (Status.SUBMITTED, ORG_ACT),
    "refuse": (Status.SUBMITTED, ORG_ACT),
    "waitlist": (Status.SUBMITTED, ORG_ACT),
    "withdraw": (Status.SUBMITTED, PRESCRIBER_ACT),
    "reorient": (Status.REFUSED, {**PRESCRIBER_ACT, "prescriber_a": 201}),
}
BODIES = {
    "positioning": {"date": "2030-03-02", "kind": "information_meeting"},
    "refuse": {"reason_code": "other", "comment": "Hors périmètre"},
}
CASES = [(endpoint, caller) for endpoint in ENDPOINTS for caller in CALLERS]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sessions(shared_kit):
    return await shared_kit.publish_session(), await shared_kit.publish_session()


@pytest.mark.parametrize(("endpoint", "caller"), CASES, ids=[f"{e}-{c}" for e, c in CASES])
async def test_endpoint_by_caller(shared_kit, sessions, endpoint, caller):
    kit = shared_kit
    state, expected = ENDPOINTS[endpoint]
    prescription = await kit.drive(state, sessions[0])
    pid = prescription["id"]
    headers = headers_of(kit, caller)
    if endpoint == "get":
        answer = await kit.client.get(f"/prescriptions/{pid}", headers=headers)
    elif endpoint == "history":
        answer = await kit.client.get(f"/prescriptions/{pid}/history", headers=headers)
    else:
        body = {"session_id": str(sessions[1].session_id)} if endpoint == "reorient" else BODIES.get(endpoint)
        answer = await kit.act(pid, endpoint, body, headers)
    assert answer.status_code == expected[caller], answer.text
    if answer.status_code >= 400:
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert (await kit.get(pid))["version"] == prescription["version"]  # nothing happened


@pytest.mark.parametrize("caller", CALLERS)
async def test_lists_and_counts_show_only_ones_own(shared_kit, caller):
    kit = shared_kit
    session_a = await kit.publish_session(organisation_siret=kit.org_a_siret)
    session_b = await kit.publish_session(organisation_siret=kit.org_b_siret)
    mine = await kit.submit(session_a.session_id, headers=kit.prescriber_a)
    theirs = await kit.submit(session_b.session_id, headers=kit.prescriber_b)
    sees = {
        "prescriber_a": {mine["id"]},
        "prescriber_b": {theirs["id"]},
        "org_a": {mine["id"]},
        "org_b": {theirs["id"]},
        "region": {mine["id"], theirs["id"]},
    }
    headers = headers_of(kit, caller)
    for session, pid in ((session_a, mine["id"]), (session_b, theirs["id"])):
        params = {"session_id": str(session.session_id)}
        answer = await kit.client.get("/prescriptions", params=params, headers=headers)
        counts = await kit.client.get("/prescriptions/counts", params=params, headers=headers)
        if caller in sees:
            assert answer.status_code == 200 and counts.status_code == 200
            expected = {pid} & sees[caller]
            assert {item["id"] for item in answer.json()["items"]} == expected
            assert counts.json()["total"] == len(expected)
            assert counts.json()["counts"]["submitted"] == len(expected)
        else:
            assert answer.status_code == {"paying_agency": 403, "anonymous": 401}[caller]
            assert counts.status_code == answer.status_code


async def test_creation_is_for_prescribers_only(shared_kit, sessions):
    kit = shared_kit
    body = kit.body(sessions[0].session_id)
    before = await kit.count_rows()
    for caller, status in (("org_a", 403), ("region", 403), ("paying_agency", 403), ("anonymous", 401)):
        answer = await kit.client.post("/prescriptions", json=body, headers=headers_of(kit, caller))
        assert answer.status_code == status, (caller, answer.text)
    assert await kit.count_rows() == before


async def test_the_other_partys_action_is_403_before_its_body_is_read(shared_kit, sessions):
    """A prescriber posting a training organisation's action (and the reverse) gets 403 naming who
    does it, even with a body that does not validate: the role is checked before the body."""
    kit = shared_kit
    unknown = "00000000-0000-4000-8000-000000000000"
    for path, caller in (("positioning", "prescriber_a"), ("refuse", "prescriber_a"), ("admit", "prescriber_a"),
                         ("waitlist", "prescriber_a"), ("withdraw", "org_a"), ("reorient", "org_a")):
        answer = await kit.client.post(f"/prescriptions/{unknown}/{path}", json={"reason_code": 42, "date": "x"},
                                       headers=headers_of(kit, caller))
        assert answer.status_code == 403, (path, caller, answer.text)
        assert "is done by the" in answer.json()["detail"]


async def test_bad_tokens_are_401(shared_kit, sessions):
    kit = shared_kit
    expired = mint_token(kit.settings, OrgKind.PRESCRIBER, "PE-44001", ttl=timedelta(seconds=-60))
    forged = kit.prescriber_a["Authorization"][:-4] + "AAAA"
    for headers in ({"Authorization": f"Bearer {expired}"}, {"Authorization": forged}, {"Authorization": "Basic abc"}):
        answer = await kit.client.get("/prescriptions", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_sessions_are_listed_to_any_authenticated_partner(shared_kit, sessions):
    kit = shared_kit
    for caller in ("prescriber_a", "org_b", "region"):
        assert (await kit.client.get("/sessions", headers=headers_of(kit, caller))).status_code == 200
    assert (await kit.client.get("/sessions")).status_code == 401


async def test_the_region_finds_a_person_by_name_and_birth_date_and_each_search_is_audited(shared_kit, sessions):
    kit = shared_kit
    suffix = "".join(chr(ord("A") + int(d)) for d in str(uuid.uuid4().int)[:6])
    birth_name = f"Lefèvre-{suffix}"
    prescription = await kit.submit(sessions[0].session_id, identity={"birth_name": birth_name, "first_names": "Anaïs"},
                                    profile={"birth_date": "1971-02-03"})

    started = utcnow().isoformat()
    # a prefix, accents and case aside
    answer = await kit.client.post("/persons/search", headers=kit.region, json={"last_name": f"lefevre {suffix[:4].lower()}",
                                                                                 "birth_date": "1971-02-03"})
    assert answer.status_code == 200, answer.text
    [person] = answer.json()["items"]
    assert person["identity"]["birth_name"] == birth_name and person["identity"]["nir_masked"][1:13] == "*" * 12
    assert [p["id"] for p in person["prescriptions"]] == [prescription["id"]] and not answer.json()["truncated"]
    assert (await kit.client.get(person["prescriptions"][0]["href"], headers=kit.region)).status_code == 200
    other_day = await kit.client.post("/persons/search", headers=kit.region, json={"last_name": birth_name, "birth_date": "1971-02-04"})
    assert other_day.json()["items"] == []

    for caller, expected in (("prescriber_a", 403), ("org_a", 403), ("anonymous", 401)):
        refused = await kit.client.post("/persons/search", headers=headers_of(kit, caller), json={"last_name": birth_name, "birth_date": "1971-02-03"})
        assert refused.status_code == expected, (caller, refused.text)
        assert (await kit.client.get("/persons/searches", headers=headers_of(kit, caller))).status_code == expected
    bad = await kit.client.post("/persons/search", headers=kit.region, json={"last_name": birth_name, "birth_date": "1971-02-30"})
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["body.birth_date"]

    audit, cursor = [], None
    while True:
        page = (await kit.client.get("/persons/searches", headers=kit.region, params={"cursor": cursor} if cursor else {})).json()
        audit += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    # Listed masked (the first letter, the year), and kept sealed: the database holds neither in clear.
    mine = [(a["last_name_masked"], a["birth_date_masked"], a["found"], a["actor"].split(" ")[0]) for a in audit
            if a["at"] >= started]
    assert mine == [("l" + "*" * (len(f"lefevre {suffix[:4]}") - 1), "1971-**-**", 1, "region:region"),
                    ("L" + "*" * (len(birth_name) - 1), "1971-**-**", 0, "region:region")]
    engine = create_engine(kit.settings.database_url)
    try:
        async with engine.connect() as connection:
            stored = (await connection.execute(sa.select(sa.text("*")).select_from(sa.table("person_searches")))).all()
    finally:
        await engine.dispose()
    assert stored and not [row for row in stored if suffix[:4] in str(row).upper() or "1971-02" in str(row)]


@pytest.mark.empty_database
async def test_the_migration_seals_the_searches_already_audited_in_clear(database_url):
    await asyncio.to_thread(run_migrations, database_url, MIGRATIONS, None, "d4f1a9c2e6b7")  # the audit in clear
    searches = sa.table("person_searches", sa.column("id", sa.Uuid), sa.column("at", UTCDateTime), sa.column("actor", sa.String),
                        sa.column("last_name", sa.String), sa.column("birth_date", sa.Date), sa.column("found", sa.Integer))
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.insert(searches), [dict(id=uuid.uuid4(), at=utcnow(), actor="region:region sub",
                                                               last_name="Dupont-Quérel", birth_date=date(1980, 4, 5), found=1)])
        settings = OrientationSettings(database_url=database_url, bus=BusSettings())
        cipher = FieldCipher(settings.encryption_keys, settings.encryption_key_id)
        await migrate(database_url, MIGRATIONS, cipher)
        async with engine.connect() as connection:
            [row] = (await connection.execute(sa.select(sa.text("*")).select_from(sa.table("person_searches")))).all()
    finally:
        await engine.dispose()
    assert "Dupont" not in str(row) and "1980" not in str(row)
    criteria = open_criteria(cipher, row.criteria_sealed)
    assert (criteria.last_name, criteria.birth_date) == ("Dupont-Quérel", date(1980, 4, 5))

