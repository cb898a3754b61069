"""`Idempotency-Key` under real concurrency, on a table with a business constraint.

The effect below does what the services do: check a business rule (one enrolment per
person), then insert under a unique constraint. Without a reservation taken before the
effect, racing retries hit the rule (409) or the constraint (500); with it, one request
creates and every other one replays its answer.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from pacte_common.auth import CurrentPrincipal, OrgKind
from pacte_common.crypto import LookupHasher
from pacte_common.db import create_engine, new_metadata, session_factory
from pacte_common.errors import Conflict, Invalid, install_error_handlers
from pacte_common.idempotency import IdempotencyKey, advisory_lock_id, idempotent_create
from pacte_common.messaging import MessagingTables
from pacte_common.settings import ServiceSettings
from pacte_tools.dev_issuer import mint_token
from pydantic import BaseModel
from sqlalchemy import Column, Integer, String, Table, func, select

metadata = new_metadata()
enrolments = Table(
    "enrolments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("person", String(50), nullable=False, unique=True),
)
tables = MessagingTables(metadata)
settings = ServiceSettings()


class EnrolmentIn(BaseModel):
    person: str


def make_app(factory, failures: dict[str, int]) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.runtime = SimpleNamespace(settings=settings)

    @app.post("/enrolments", status_code=201)
    async def enrol(body: EnrolmentIn, principal: CurrentPrincipal, key: IdempotencyKey):
        async with factory() as session:

            async def create():
                taken = await session.scalar(select(enrolments.c.id).where(enrolments.c.person == body.person))
                if taken is not None:
                    raise Conflict("this person is already enrolled")
                # Give racing requests every chance to overlap with this one.
                await asyncio.sleep(0.02)
                result = await session.execute(enrolments.insert().values(person=body.person))
                if failures.get(body.person, 0) > 0:
                    failures[body.person] -= 1
                    raise Invalid("the effect failed after writing (rolled back)", field="body.person")
                return 201, {"id": result.inserted_primary_key[0], "person": body.person}

            return await idempotent_create(
                session, tables, principal=principal, operation="enrol", key=key, payload=body, create=create,
                hasher=LookupHasher("test-key"),
            )

    return app


@pytest.fixture
async def client(database_url):
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    factory = session_factory(engine)
    failures: dict[str, int] = {}
    transport = httpx.ASGITransport(app=make_app(factory, failures), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        client.factory = factory
        client.failures = failures
        yield client
    await engine.dispose()


def headers(key: str, org: str = "region") -> dict[str, str]:
    token = mint_token(settings, OrgKind.REGION if org == "region" else OrgKind.TRAINING_ORG, org)
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": key}


async def count(client, person: str | None = None) -> int:
    query = select(func.count()).select_from(enrolments)
    if person is not None:
        query = query.where(enrolments.c.person == person)
    async with client.factory() as session:
        return (await session.execute(query)).scalar_one()


async def test_twenty_racing_retries_make_one_effect_and_twenty_identical_answers(client):
    answers = await asyncio.gather(
        *[client.post("/enrolments", json={"person": "ada"}, headers=headers("race-1")) for _ in range(20)]
    )
    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers if a.status_code != 201]
    assert len({a.text for a in answers}) == 1, "every answer is the first one"
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 19
    assert await count(client, "ada") == 1
    async with client.factory() as session:
        stored = (await session.execute(select(func.count()).select_from(tables.idempotency))).scalar_one()
    assert stored == 1


async def test_a_key_whose_first_request_failed_can_be_retried(client):
    client.failures["cleo"] = 1
    failed = await client.post("/enrolments", json={"person": "cleo"}, headers=headers("retry-1"))
    assert failed.status_code == 422 and failed.json()["errors"][0]["field"] == "body.person"
    assert await count(client, "cleo") == 0, "the failed effect was rolled back"
    retried = await client.post("/enrolments", json={"person": "cleo"}, headers=headers("retry-1"))
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    again = await client.post("/enrolments", json={"person": "cleo"}, headers=headers("retry-1"))
    assert again.status_code == 201 and again.json() == retried.json() and again.headers["idempotent-replayed"] == "true"
    assert await count(client, "cleo") == 1


async def test_requests_waiting_behind_a_failing_first_one_run_then_replay(client):
    client.failures["dan"] = 1
    answers = await asyncio.gather(
        *[client.post("/enrolments", json={"person": "dan"}, headers=headers("wait-1")) for _ in range(6)]
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 5 + [422], [a.text for a in answers]
    assert len({a.text for a in answers if a.status_code == 201}) == 1
    assert await count(client, "dan") == 1


async def test_same_key_other_body_is_refused_and_keys_are_per_caller(client):
    first = await client.post("/enrolments", json={"person": "eve"}, headers=headers("k"))
    assert first.status_code == 201
    other = await client.post("/enrolments", json={"person": "fay"}, headers=headers("k"))
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert await count(client, "fay") == 0
    elsewhere = await client.post("/enrolments", json={"person": "fay"}, headers=headers("k", org="73282932000074"))
    assert elsewhere.status_code == 201 and "idempotent-replayed" not in elsewhere.headers


def test_advisory_lock_ids_are_signed_64_bit_and_distinct_per_scope():
    ids = {advisory_lock_id(scope, key) for scope in ("region:a|enrol", "region:b|enrol") for key in ("k1", "k2")}
    assert len(ids) == 4 and all(-(2**63) <= i < 2**63 for i in ids)
    assert advisory_lock_id("s", "k") == advisory_lock_id("s", "k")
