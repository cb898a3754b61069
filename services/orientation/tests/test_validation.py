"""Bad input answers 422 problem+json naming the field, and nothing is stored or published."""

from datetime import timedelta

import pytest
import pytest_asyncio
from orientation.domain.prescription import Status
from pacte_common.clock import business_today
from pacte_common.contracts.sessions import RecruitmentState, SessionCancelled
from pacte_common.settings import ServiceSettings
from pacte_testing import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

# the service's today is the business day (Paris), which turns an hour before UTC's
TODAY = business_today(ServiceSettings.model_fields["business_timezone"].default)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def catalogue(shared_kit):
    kit = shared_kit
    open_session = await kit.publish_session()
    closed = await kit.publish_session(recruitment_state=RecruitmentState.CLOSED)
    cancelled = await kit.publish_session()
    await kit.publish(SessionCancelled(session=cancelled), str(cancelled.session_id))

    async def is_cancelled():
        answer = await kit.client.get(f"/sessions/{cancelled.session_id}", headers=kit.region)
        return answer.json()["cancelled"]

    await eventually(is_cancelled, message="cancellation in the read model")
    return {"open": open_session, "closed": closed, "cancelled": cancelled}


def sixteen_years_ago_plus(days: int) -> str:
    return (TODAY.replace(year=TODAY.year - 16) + timedelta(days=days)).isoformat()


def bad_key_nir(kit) -> str:
    good = kit.body("x")["identity"]["nir"]
    return good[:13] + f"{(int(good[13:]) + 1) % 100:02d}"


CREATION_CASES = {
    "nir-key": (lambda kit: {"identity": {"nir": bad_key_nir(kit)}}, "body.identity.nir"),
    "nir-shape": (lambda kit: {"identity": {"nir": "123"}}, "body.identity.nir"),
    "nir-month": (lambda kit: {"identity": {"nir": "1851344109001" + "00"}}, "body.identity.nir"),
    "birth-date-future": (lambda kit: {"profile": {"birth_date": (TODAY + timedelta(days=1)).isoformat()}}, "body.profile.birth_date"),
    "under-16": (lambda kit: {"profile": {"birth_date": sixteen_years_ago_plus(1)}}, "body.profile.birth_date"),
    "birth-date-garbage": (lambda kit: {"profile": {"birth_date": "31/12/1990"}}, "body.profile.birth_date"),
    "sex": (lambda kit: {"profile": {"sex": "X"}}, "body.profile.sex"),
    "no-birth-name": (lambda kit: {"identity": {"birth_name": ""}}, "body.identity.birth_name"),
    "no-project": (lambda kit: {"professional_project": None}, "body.professional_project"),
    "prescriber-kind": (lambda kit: {"prescriber_kind": "pole_emploi"}, "body.prescriber_kind"),
    "session-not-uuid": (lambda kit: {"session_id": "not-a-uuid"}, "body.session_id"),
    # unknown fields are refused, as the other services refuse them (a misspelt optional field)
    "unknown-field": (lambda kit: {"comentaire": "typo"}, "body.comentaire"),
    "unknown-identity-field": (lambda kit: {"identity": {"nir_key": "14"}}, "body.identity.nir_key"),
    "unknown-profile-field": (lambda kit: {"profile": {"unemployed_since": "2024-01-01"}}, "body.profile.unemployed_since"),
}
UNKNOWN_SESSION = "00000000-0000-4000-8000-000000000000"


def assert_invalid(answer, field: str) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["type"].endswith("/validation-error")
    fields = [error["field"] for error in problem["errors"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), fields


def assert_refused(answer, field: str, slug: str) -> None:
    """409: a well-formed request that the catalogue as it is now refuses, naming the field."""
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"].endswith(f"/{slug}") and answer.json()["field"] == field


async def test_unknown_session(shared_kit):
    kit = shared_kit
    before = await kit.count_rows()
    answer = await kit.client.post("/prescriptions", json=kit.body(UNKNOWN_SESSION), headers=kit.prescriber_a)
    assert_refused(answer, "body.session_id", "unknown-reference")
    assert await kit.count_rows() == before


@pytest.mark.parametrize("case", CREATION_CASES)
async def test_bad_creation(shared_kit, catalogue, case):
    kit = shared_kit
    change, field = CREATION_CASES[case]
    body = kit.body(catalogue["open"].session_id, **change(kit))
    before = await kit.count_rows()
    assert_invalid(await kit.client.post("/prescriptions", json=body, headers=kit.prescriber_a), field)
    assert await kit.count_rows() == before


async def test_exactly_sixteen_is_accepted(shared_kit, catalogue):
    created = await shared_kit.submit(catalogue["open"].session_id, profile={"birth_date": sixteen_years_ago_plus(0)})
    assert created["status"] == "submitted"


@pytest.mark.parametrize("which", ["closed", "cancelled"])
async def test_session_not_open(shared_kit, catalogue, which):
    kit = shared_kit
    before = await kit.count_rows()
    answer = await kit.client.post(
        "/prescriptions", json=kit.body(catalogue[which].session_id), headers=kit.prescriber_a
    )
    assert_refused(answer, "body.session_id", "session-not-open")
    assert which in answer.json()["detail"]
    assert await kit.count_rows() == before


async def test_prescriber_kind_needed_when_code_says_nothing(shared_kit, catalogue):
    kit = shared_kit
    unknown_structure = kit.as_("prescriber", "ZZ-0001")
    body = kit.body(catalogue["open"].session_id)
    assert_invalid(await kit.client.post("/prescriptions", json=body, headers=unknown_structure), "body.prescriber_kind")
    body["prescriber_kind"] = "siae"
    created = await kit.client.post("/prescriptions", json=body, headers=unknown_structure)
    assert created.status_code == 201 and created.json()["prescriber_kind"] == "siae"


async def test_malformed_json(shared_kit, catalogue):
    kit = shared_kit
    before = await kit.count_rows()
    headers = {**kit.prescriber_a, "content-type": "application/json"}
    answer = await kit.client.post("/prescriptions", content=b'{"session_id": ', headers=headers)
    assert_invalid(answer, "body")
    pid = (await kit.submit(catalogue["open"].session_id))["id"]
    before = await kit.count_rows()
    answer = await kit.client.post(f"/prescriptions/{pid}/refuse", content=b"{reason", headers={**kit.org_a, "content-type": "application/json"})
    assert_invalid(answer, "body")
    assert await kit.count_rows() == before


ACTION_CASES = {
    "refuse-no-reason": ("refuse", {"comment": "x"}, "body.reason_code"),
    "refuse-unknown-reason": ("refuse", {"reason_code": "too_old", "comment": "x"}, "body.reason_code"),
    "refuse-other-without-comment": ("refuse", {"reason_code": "other"}, "body.comment"),
    "refuse-other-blank-comment": ("refuse", {"reason_code": "other", "comment": "  "}, "body.comment"),
    "refuse-no-body": ("refuse", None, "body"),
    "positioning-kind": ("positioning", {"date": "2030-01-01", "kind": "exam"}, "body.kind"),
    "positioning-no-date": ("positioning", {"kind": "test"}, "body.date"),
}


@pytest.mark.parametrize("case", ACTION_CASES)
async def test_bad_action_body(shared_kit, catalogue, case):
    kit = shared_kit
    action, body, field = ACTION_CASES[case]
    prescription = await kit.submit(catalogue["open"].session_id)
    before = await kit.count_rows()
    assert_invalid(await kit.act(prescription["id"], action, body, kit.org_a), field)
    assert await kit.count_rows() == before
    assert (await kit.get(prescription["id"]))["status"] == "submitted"


@pytest.mark.parametrize("which", ["unknown", "closed"])
async def test_reorient_to_a_session_not_open(shared_kit, catalogue, which):
    kit = shared_kit
    refused = await kit.drive(Status.REFUSED, catalogue["open"])
    target = UNKNOWN_SESSION if which == "unknown" else str(catalogue["closed"].session_id)
    before = await kit.count_rows()
    answer = await kit.act(refused["id"], "reorient", {"session_id": target}, kit.prescriber_a)
    assert_refused(answer, "body.session_id", "unknown-reference" if which == "unknown" else "session-not-open")
    assert await kit.count_rows() == before
    assert (await kit.get(refused["id"]))["next_prescription_id"] is None


async def test_bad_query_parameters(shared_kit):
    kit = shared_kit
    assert_invalid(await kit.client.get("/prescriptions?status=lost", headers=kit.region), "query.status")
    assert_invalid(await kit.client.get("/prescriptions?cursor=%%%", headers=kit.region), "query.cursor")
    assert_invalid(await kit.client.get("/prescriptions?from=yesterday", headers=kit.region), "query.from")


async def test_no_route_answers_hostile_input_with_a_5xx(shared_kit):
    from pacte_testing import assert_no_5xx_from_hostile_input

    assert await assert_no_5xx_from_hostile_input(shared_kit.client, shared_kit.settings) > 50
