"""The headers every service's answers carry, over HTTP (ASGI): nosniff and no framing on every
answer (errors and docs included), `no-store` on whatever answers credentials, HSTS by setting,
and Swagger UI keeping no token outside development (docs/security.md, "Headers")."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
from fastapi import FastAPI, Response
from pacte_common.auth import CurrentPrincipal, OrgKind
from pacte_common.errors import install_error_handlers
from pacte_common.http import install_http_conventions
from pacte_common.settings import ServiceSettings
from pacte_tools.dev_issuer import mint_token


def make_app(**values) -> tuple[FastAPI, ServiceSettings]:
    settings = ServiceSettings(service_name="orientation", **values)
    app = FastAPI()
    install_error_handlers(app)
    app.state.runtime = SimpleNamespace(settings=settings)

    @app.get("/private")
    async def private(principal: CurrentPrincipal):
        return {"org": principal.org_id}

    @app.get("/public")
    async def public():
        return Response("catalogue", headers={"Cache-Control": "public, no-cache"})

    install_http_conventions(app, settings)
    return app, settings


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def assert_hardened(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff", response.url
    assert response.headers["x-frame-options"] == "DENY", response.url


async def test_every_answer_is_hardened_and_answers_to_credentials_are_not_stored():
    app, settings = make_app()
    bearer = {"Authorization": f"Bearer {mint_token(settings, OrgKind.REGION, 'region')}"}
    async with client_of(app) as client:
        private = await client.get("/private", headers=bearer)
        assert private.status_code == 200 and private.headers["cache-control"] == "no-store"
        refused = await client.get("/private", headers={"Authorization": "Bearer nope"})
        assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"
        public = await client.get("/public")
        assert public.headers["cache-control"] == "public, no-cache", "a route's own caching is kept"
        missing = await client.get("/nowhere")
        for response in (private, refused, public, missing, await client.get("/docs"), await client.get("/openapi.json")):
            assert_hardened(response)
        assert "strict-transport-security" not in private.headers, "HSTS only when set"


async def test_hsts_by_setting():
    app, _ = make_app(hsts_max_age_s=31_536_000)
    async with client_of(app) as client:
        response = await client.get("/public")
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


async def test_swagger_ui_persists_the_token_in_development_only(monkeypatch):
    development, _ = make_app()
    async with client_of(development) as client:
        assert '"persistAuthorization": true' in (await client.get("/docs")).text
    monkeypatch.setenv("PACTE_ENVIRONMENT", "production")
    from pacte_common.crypto import new_key

    production, _ = make_app(
        environment="production", encryption_keys={"k1": new_key()}, encryption_key_id="k1", lookup_hash_key=new_key(),
        jwt_issuer="https://sso.example/realms/pacte", jwt_jwks_url="https://sso.example/realms/pacte/certs",
    )
    async with client_of(production) as client:
        page = (await client.get("/docs")).text
    assert '"persistAuthorization": false' in page
