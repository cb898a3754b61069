"""Input that would make a 500 is a 422 naming the field, over HTTP (ASGI): NUL characters in
the path, the query or a JSON string; JSON nested deeper than `max_json_depth`."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import httpx
from fastapi import FastAPI, Request
from pacte_common.errors import install_error_handlers
from pacte_common.http import install_http_conventions
from pacte_common.settings import ServiceSettings
from pydantic import BaseModel


class Note(BaseModel):
    text: str
    tags: list[dict[str, Any]] = []


def make_app() -> FastAPI:
    settings = ServiceSettings(service_name="orientation", max_json_depth=16)
    app = FastAPI()
    install_error_handlers(app)
    app.state.runtime = SimpleNamespace(settings=settings)

    @app.get("/items/{name}")
    async def item(name: str, q: str | None = None):
        return {"name": name, "q": q}

    @app.post("/notes")
    async def notes(note: Note):
        return note.model_dump()

    @app.post("/raw")
    async def raw(request: Request):  # a route reading its body itself, as imports do
        return {"keys": len(json.loads(await request.body()))}

    install_http_conventions(app, settings)
    return app


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def assert_names(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]


def nested(depth: int) -> str:
    return '{"text": "x", "tags": [' + '{"a": [' * depth + "]}" * depth + "]}"


async def test_nul_characters_are_refused_naming_the_field():
    async with client_of(make_app()) as client:
        assert (await client.get("/items/a", params={"q": "ok"})).json() == {"name": "a", "q": "ok"}
        assert_names(await client.get("/items/a?q=x%00y"), "query.q")
        assert_names(await client.get("/items/a%00b"), "path")
        assert_names(await client.post("/notes", json={"text": "a\u0000b"}), "body.text")
        assert_names(await client.post("/notes", json={"text": "x", "tags": [{"k": "v"}, {"k": "\u0000"}]}), "body.tags.1.k")
        assert_names(await client.post("/raw", content=b'{"a\\u0000": 1}', headers={"Content-Type": "application/json"}), "body")
        escaped = await client.post("/notes", json={"text": "a backslash then u0000: \\u0000"})
        assert escaped.status_code == 200, "an escaped backslash is not a NUL"


async def test_json_nested_too_deep_is_refused_and_normal_json_is_untouched():
    async with client_of(make_app()) as client:
        fine = await client.post("/notes", content=nested(6), headers={"Content-Type": "application/json"})
        assert fine.status_code == 200, fine.text
        deep = await client.post("/notes", content=nested(20), headers={"Content-Type": "application/json"})
        assert deep.status_code == 422 and deep.json()["errors"][0]["field"].startswith("body.tags.0.a.0.a")
        for route in ("/notes", "/raw"):
            huge = await client.post(route, content="[" * 5000 + "]" * 5000, headers={"Content-Type": "application/json"})
            assert_names(huge, "body")
            assert "nested deeper than 16" in huge.json()["errors"][0]["message"]
        malformed = await client.post("/notes", content=b'{"text": ', headers={"Content-Type": "application/json"})
        assert malformed.status_code == 422, "malformed JSON: the framework's own answer"
        many = {"text": "x", "tags": [{"k": str(n)} for n in range(500)]}
        assert (await client.post("/notes", json=many)).status_code == 200, "many brackets, little depth"
