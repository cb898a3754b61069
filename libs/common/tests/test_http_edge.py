"""Tokens, problem+json shapes, idempotency keys and the event envelope, over real HTTP/ASGI."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from types import SimpleNamespace
from typing import Annotated, ClassVar

import httpx
import jwt
import pytest
from fastapi import FastAPI
from pacte_common.auth import CurrentPrincipal, OrgKind, Principal, require_kind
from pacte_common.crypto import LookupHasher
from pacte_common.db import create_engine, new_metadata, session_factory
from pacte_common.errors import InvalidTransition, NotFound, install_error_handlers
from pacte_common.events import Envelope, EventError, IntegrationEvent, decode, register
from pacte_common.idempotency import IdempotencyKey, idempotent_create
from pacte_common.logs import install_redaction
from pacte_common.messaging import MessagingTables
from pacte_common.settings import ServiceSettings
from pacte_common.validators import Nir
from pacte_testing import selected_database_kind
from pacte_tools.dev_issuer import mint_token
from pydantic import BaseModel, Field
from sqlalchemy import Column, Integer, String, Table, func, select

metadata = new_metadata()
widgets = Table("widgets", metadata, Column("id", Integer, primary_key=True), Column("name", String(50)))
tables = MessagingTables(metadata)
settings = ServiceSettings()


class WidgetIn(BaseModel):
    name: str = Field(min_length=1)
    nir: Nir | None = None


def make_app(factory) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.runtime = SimpleNamespace(settings=settings)

    @app.get("/whoami")
    async def whoami(principal: CurrentPrincipal):
        return {"kind": principal.org_kind, "org": principal.org_id}

    @app.get("/region-only")
    async def region_only(principal: Annotated[Principal, require_kind(OrgKind.REGION)]):
        return {"ok": True}

    @app.get("/widgets/{widget_id}")
    async def get_widget(widget_id: int):
        raise NotFound(f"widget {widget_id} not found")

    @app.post("/widgets/{widget_id}/archive")
    async def archive(widget_id: int):
        raise InvalidTransition("archive", "archived", ["restore"])

    @app.get("/widgets")
    async def count_widgets():
        async with factory() as session:
            return {"count": (await session.execute(select(func.count()).select_from(widgets))).scalar_one()}

    @app.post("/boom")
    async def boom():
        raise RuntimeError("secret internals 185054410912314")

    @app.post("/widgets", status_code=201)
    async def create_widget(body: WidgetIn, principal: CurrentPrincipal, key: IdempotencyKey):
        async with factory() as session:

            async def create():
                result = await session.execute(widgets.insert().values(name=body.name))
                return 201, {"id": result.inserted_primary_key[0], "name": body.name}

            return await idempotent_create(
                session, tables, principal=principal, operation="create-widget", key=key, payload=body, create=create,
                hasher=LookupHasher("test-key"),
            )

    return app


@pytest.fixture
async def client(database_url):
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    factory = session_factory(engine)
    transport = httpx.ASGITransport(app=make_app(factory), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        client.factory = factory
        yield client
    await engine.dispose()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_valid_token_names_the_organisation(client):
    response = await client.get("/whoami", headers=bearer(mint_token(settings, OrgKind.PRESCRIBER, "PE-44001")))
    assert response.json() == {"kind": "prescriber", "org": "PE-44001"}


@pytest.mark.parametrize(
    "token, detail",
    [
        (None, "bearer token is required"),
        (mint_token(settings, OrgKind.REGION, "r", ttl=timedelta(seconds=-60)), "expired"),
        (jwt.encode({"org_kind": "region", "org_id": "r", "sub": "x", "exp": 9999999999, "iat": 1, "aud": settings.jwt_audience, "iss": settings.jwt_issuer}, "another-secret-of-sufficient-length-xx", algorithm="HS256"), "algorithm 'HS256' is not accepted"),
        (jwt.encode({"org_kind": "region", "org_id": "r"}, None, algorithm="none"), "algorithm 'none' is not accepted"),
        (mint_token(settings, OrgKind.REGION, "r", claims={"org_kind": "wizard"}), "organisation kind"),
    ],
)
async def test_missing_expired_forged_or_unknown_kind_tokens_get_401_problem(client, token, detail):
    response = await client.get("/whoami", headers=bearer(token) if token else {})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/unauthorized") and detail in body["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_valid_token_of_the_wrong_kind_gets_403(client):
    response = await client.get("/region-only", headers=bearer(mint_token(settings, OrgKind.TRAINING_ORG, "73282932000074")))
    assert response.status_code == 403 and response.json()["status"] == 403
    assert (await client.get("/region-only", headers=bearer(mint_token(settings, OrgKind.REGION, "region")))).status_code == 200


async def test_problem_shapes_for_404_409_422_and_500(client, caplog):
    install_redaction()
    not_found = await client.get("/widgets/7")
    assert not_found.status_code == 404 and not_found.json()["detail"] == "widget 7 not found"
    conflict = (await client.post("/widgets/7/archive")).json()
    assert conflict["status"] == 409 and conflict["current_state"] == "archived" and conflict["allowed_actions"] == ["restore"]
    token = bearer(mint_token(settings, OrgKind.REGION, "region"))
    invalid = await client.post("/widgets", json={"name": "", "nir": "185054410912399"}, headers=token)
    assert invalid.status_code == 422 and invalid.headers["content-type"] == "application/problem+json"
    fields = {error["field"]: error["message"] for error in invalid.json()["errors"]}
    assert set(fields) == {"body.name", "body.nir"} and "key" in fields["body.nir"]
    malformed = await client.post("/widgets", content=b"{not json", headers={**token, "content-type": "application/json"})
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["field"].startswith("body")
    with caplog.at_level(logging.ERROR):
        crash = await client.post("/boom")
    assert crash.status_code == 500 and "Traceback" not in crash.text and "secret internals" not in crash.text
    assert "secret internals [NIR]" in caplog.text and "185054410912314" not in caplog.text, "logged, scrubbed"
    async with client.factory() as session:
        assert (await session.execute(select(func.count()).select_from(widgets))).scalar_one() == 0


async def test_idempotency_key_replays_refuses_other_body_and_never_creates_twice(client):
    token = bearer(mint_token(settings, OrgKind.REGION, "region"))
    headers = {**token, "Idempotency-Key": "create-1"}
    first = await client.post("/widgets", json={"name": "a"}, headers=headers)
    again = await client.post("/widgets", json={"name": "a"}, headers=headers)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = await client.post("/widgets", json={"name": "b"}, headers=headers)
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "header.Idempotency-Key"
    # Racing retries of a creation with business constraints: tests/test_idempotency.py.
    # Same key from another organisation is another request.
    elsewhere = await client.post("/widgets", json={"name": "a"}, headers={**bearer(mint_token(settings, OrgKind.TRAINING_ORG, "73282932000074")), "Idempotency-Key": "create-1"})
    assert elsewhere.status_code == 201 and "idempotent-replayed" not in elsewhere.headers
    async with client.factory() as session:
        assert (await session.execute(select(func.count()).select_from(widgets))).scalar_one() == 2
        stored = (await session.execute(select(tables.idempotency.c.request_hash))).scalars().all()
    from pacte_common.idempotency import request_hash

    assert request_hash({"name": "a", "nir": None}) not in stored, "fingerprints are keyed, not a plain hash"


@register
class GadgetMade(IntegrationEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.gadget.made.v1"
    topic: ClassVar[str] = "pacte.test.gadgets.v1"
    size: int


@pytest.mark.skipif(selected_database_kind() != "postgresql", reason="PostgreSQL only: SQLite has no connection to lose")
async def test_a_pooled_connection_that_died_answers_503_once_then_the_pool_is_renewed(client, database_url):
    """Pooled connections are not checked before use (docs/runbook.md, "Database connections"):
    the request that meets a dead one answers 503 `busy` with Retry-After, having done nothing,
    and the next one runs on a new connection."""
    import asyncpg

    assert (await client.get("/widgets")).json() == {"count": 0}  # the pool now holds a connection
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:  # what a failover or a restart of PostgreSQL does to the pool's connections
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND pid <> pg_backend_pid()")
    finally:
        await admin.close()
    lost = await client.get("/widgets")
    assert lost.status_code == 503 and lost.headers["content-type"] == "application/problem+json", lost.text
    assert lost.json()["type"].endswith("/busy") and int(lost.headers["retry-after"]) >= 1
    assert (await client.get("/widgets")).json() == {"count": 0}


def test_envelope_round_trip_and_clear_errors():
    envelope = Envelope.wrap(GadgetMade(size=3), source="/pacte/test", subject="g1", traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")
    headers = envelope.headers()
    names = {name for name, _ in headers}
    assert {"ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time", "ce_subject", "content-type", "traceparent"} <= names
    decoded = decode(headers, envelope.body())
    assert decoded.data == GadgetMade(size=3) and decoded.id == envelope.id and decoded.traceparent == envelope.traceparent
    with pytest.raises(EventError, match="unknown event type"):
        decode([(n, v if n != "ce_type" else b"fr.paysdelaloire.pacte.nothing.v1") for n, v in headers], envelope.body())
    with pytest.raises(EventError, match="size"):
        decode(headers, json.dumps({"size": "big"}).encode())
    with pytest.raises(EventError, match="not JSON"):
        decode(headers, b"{")
    with pytest.raises(EventError, match="ce_id"):
        decode([(n, v) for n, v in headers if n != "ce_id"], envelope.body())
    with pytest.raises(ValueError, match="must be"):
        register(type("BadName", (IntegrationEvent,), {"event_type": "gadget.made", "topic": "t", "__annotations__": {}}))
