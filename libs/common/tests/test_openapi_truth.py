"""The OpenAPI document tells the truth (docs/openapi.md), on a small app built like a service's:
the problems each operation can answer are documented as problem+json, the cursor and
dates are constrained in the schema and enforced, `OPTIONS` and wrong methods get a 405
that names every allowed method."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Query
from hypothesis import given
from hypothesis.strategies import from_regex
from pacte_common.auth import CurrentPrincipal
from pacte_common.errors import NotFound, install_error_handlers
from pacte_common.http import (
    CURSOR_PATTERN,
    CursorParam,
    IfMatch,
    IsoDate,
    date_key,
    decode_cursor,
    encode_cursor,
    install_http_conventions,
    instant_key,
    key_date,
    key_instant,
    key_month,
    month_key,
)
from pacte_common.settings import ServiceSettings
from pydantic import BaseModel

PROBLEM = "application/problem+json"


class Thing(BaseModel):
    name: str


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_http_conventions(app, ServiceSettings())
    app.state.runtime = SimpleNamespace(settings=ServiceSettings())
    router = APIRouter()

    @router.get("/things")
    async def list_things(
        principal: CurrentPrincipal,
        cursor: CursorParam = None,
        since: Annotated[IsoDate | None, Query()] = None,
    ) -> dict:
        return {"since": since}

    @router.post("/things", status_code=201)
    async def create_thing(thing: Thing, principal: CurrentPrincipal) -> Thing:
        return thing

    @router.put("/things/{thing_id}", responses={428: {"description": "If-Match required"}})
    async def replace_thing(thing_id: int, thing: Thing, if_match: IfMatch) -> Thing:
        raise NotFound(f"thing {thing_id}")

    @router.get("/public")
    async def public() -> dict:
        return {}

    app.include_router(router)
    return app


@pytest.fixture
def document() -> dict:
    return make_app().openapi()


def statuses(document: dict, path: str, method: str) -> set[int]:
    return {int(code) for code in document["paths"][path][method]["responses"]}


def test_each_operation_documents_the_problems_it_can_answer(document):
    assert statuses(document, "/things", "get") == {200, 401, 403, 422}
    assert statuses(document, "/things", "post") == {201, 400, 401, 403, 409, 413, 422, 503}
    assert statuses(document, "/things/{thing_id}", "put") == {200, 400, 404, 409, 412, 413, 422, 428, 503}
    # A write may find the database's write lock busy: 503 with Retry-After (docs/concurrency.md).
    assert "Retry-After" in document["paths"]["/things"]["post"]["responses"]["503"]["headers"]
    assert statuses(document, "/public", "get") == {200}


def test_problems_are_problem_json_with_their_schema(document):
    responses = document["paths"]["/things/{thing_id}"]["put"]["responses"]
    for code, response in responses.items():
        if int(code) >= 400:
            assert list(response["content"]) == [PROBLEM], code
            expected = "ValidationProblem" if code == "422" else "Problem"
            assert response["content"][PROBLEM]["schema"] == {"$ref": f"#/components/schemas/{expected}"}
            assert response["description"]
    assert {"Problem", "ValidationProblem"} <= set(document["components"]["schemas"])
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_cursor_and_dates_are_constrained_in_the_schema(document):
    parameters = {p["name"]: p for p in document["paths"]["/things"]["get"]["parameters"]}
    cursor = parameters["cursor"]["schema"]["anyOf"][0]
    assert cursor["pattern"] == CURSOR_PATTERN
    since = parameters["since"]["schema"]["anyOf"][0]
    assert since == {"type": "string", "format": "date"}


async def call(method: str, path: str, **kwargs) -> httpx.Response:
    app = make_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client:
        return await client.request(method, path, **kwargs)


@pytest.mark.parametrize("value", ["0", "1700000000", "2026-3-1", "31/03/2026"])
async def test_a_date_that_is_not_iso_is_a_422_naming_the_parameter(value):
    from pacte_common.auth import OrgKind
    from pacte_tools.dev_issuer import mint_token

    token = mint_token(ServiceSettings(), OrgKind.REGION, "region")
    response = await call("GET", "/things", params={"since": value}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["field"] == "query.since"
    ok = await call("GET", "/things", params={"since": "2026-03-31"}, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json() == {"since": "2026-03-31"}


async def test_a_cursor_not_of_its_form_is_a_422():
    from pacte_common.auth import OrgKind
    from pacte_tools.dev_issuer import mint_token

    headers = {"Authorization": f"Bearer {mint_token(ServiceSettings(), OrgKind.REGION, 'region')}"}
    for wrong in ("not a cursor!", "0", "eyJpZCI6IDN9"):
        assert (await call("GET", "/things", params={"cursor": wrong}, headers=headers)).status_code == 422
    cursor = encode_cursor(instant_key(datetime.now(UTC)), uuid.uuid4())
    assert (await call("GET", "/things", params={"cursor": cursor}, headers=headers)).status_code == 200


@given(from_regex(CURSOR_PATTERN, fullmatch=True))
def test_every_cursor_the_schema_allows_is_a_position(cursor):
    """What the schema accepts, the services accept: any key is a sort key of each kind."""
    after = decode_cursor(cursor)
    assert decode_cursor(encode_cursor(after.key, after.id)) == after
    key_instant(after.key), key_date(after.key), key_month(after.key)


def test_sort_keys_round_trip():
    moment = datetime(2026, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert key_instant(instant_key(moment)) == moment
    assert key_date(date_key(date(2026, 3, 31))) == date(2026, 3, 31)
    assert key_month(month_key("2026-03")) == "2026-03" and key_month(month_key("2026-12")) == "2026-12"
    assert month_key("2026-03") < month_key("2026-04") < month_key("2027-01")


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("OPTIONS", "/things", "GET, HEAD, POST"),
    ("DELETE", "/things", "GET, HEAD, POST"),
    ("OPTIONS", "/things/1", "PUT"),
])
async def test_a_method_no_route_serves_is_a_405_naming_every_allowed_method(method, path, allowed):
    response = await call(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.headers["content-type"] == PROBLEM
