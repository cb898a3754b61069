"""Tokens as an OpenID provider issues them (docs/security.md), over real HTTP/ASGI: asymmetric JWTs
verified against a JWKS (file or URL), key ids and rotation, each service's own audience, the
issuer checked; the dev issuer's endpoints; no development secret outside development."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from pacte_common.auth import CurrentPrincipal, OrgKind, token_verifier
from pacte_common.crypto import new_key
from pacte_common.errors import install_error_handlers
from pacte_common.settings import DEV_ISSUER_URL, ServiceSettings
from pacte_testing import eventually, foreign_token, project_root
from pacte_tools.broker import free_port
from pacte_tools.dev_issuer import (
    DevIssuerSettings,
    DevKeyStore,
    create_app,
    dev_token,
    mint_token,
    request_token,
    token_claims,
)
from pydantic import ValidationError

ISSUER = "https://issuer.pacte.test"


def service_settings(**values) -> ServiceSettings:
    return ServiceSettings(service_name="orientation", **values)


def make_app(settings: ServiceSettings) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.runtime = SimpleNamespace(settings=settings)

    @app.get("/whoami")
    async def whoami(principal: CurrentPrincipal):
        return {"kind": principal.org_kind, "org": principal.org_id, "subject": principal.subject}

    return app


async def whoami(app: FastAPI, token: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        return await client.get("/whoami", headers={"Authorization": f"Bearer {token}"})


def assert_refused(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["type"].endswith("/unauthorized")
    assert detail in body["detail"], body


@pytest.fixture
def keys(tmp_path) -> DevKeyStore:
    """A key store of its own (not the session's test key), so rotating it disturbs no other test."""
    store = DevKeyStore(tmp_path / "issuer", grace=timedelta(hours=1))
    store.ensure()
    return store


def signed(store: DevKeyStore, audience: str = "pacte-orientation", kind: str = "training_org", org: str = "73282932000074", **claims) -> str:
    return store.sign(token_claims(ISSUER, [audience], kind, org, timedelta(minutes=5), claims))


async def test_a_token_signed_by_a_key_of_the_jwks_names_its_organisation(keys):
    app = make_app(service_settings(jwt_jwks=str(keys.jwks_file), jwt_issuer=ISSUER))
    response = await whoami(app, signed(keys))
    assert response.status_code == 200, response.text
    assert response.json() == {"kind": "training_org", "org": "73282932000074", "subject": "training_org:73282932000074"}
    assert jwt.get_unverified_header(signed(keys))["alg"] == "RS256"


async def test_a_token_signed_by_a_key_not_in_the_jwks_is_refused(keys):
    settings = service_settings(jwt_jwks=str(keys.jwks_file), jwt_issuer=ISSUER)
    assert_refused(await whoami(make_app(settings), foreign_token(settings, OrgKind.REGION, "region")), "unknown key")
    # the same kid as a published key, but another key's signature
    impostor = DevKeyStore(keys.directory.parent / "impostor")
    impostor.ensure()
    claims = token_claims(ISSUER, ["pacte-orientation"], "region", "region", timedelta(minutes=5))
    forged = jwt.encode(claims, impostor.signing_key.private_key(), algorithm="RS256", headers={"kid": keys.signing_key.kid})
    assert_refused(await whoami(make_app(settings), forged), "Signature verification failed")


async def test_a_token_for_another_service_is_refused(keys):
    orientation = make_app(service_settings(jwt_jwks=str(keys.jwks_file), jwt_issuer=ISSUER))
    assert_refused(await whoami(orientation, signed(keys, audience="pacte-sessions")), "not for this service")
    sessions = make_app(ServiceSettings(service_name="sessions", jwt_jwks=str(keys.jwks_file), jwt_issuer=ISSUER))
    assert (await whoami(sessions, signed(keys, audience="pacte-sessions"))).status_code == 200


async def test_a_token_from_another_issuer_is_refused(keys):
    app = make_app(service_settings(jwt_jwks=str(keys.jwks_file), jwt_issuer=ISSUER))
    assert_refused(await whoami(app, signed(keys, iss="https://another-issuer.example")), "another issuer")


async def test_symmetric_and_unsigned_tokens_are_refused_even_with_a_published_kid(keys):
    app = make_app(service_settings(jwt_jwks=str(keys.jwks_file), jwt_issuer=ISSUER))
    claims = token_claims(ISSUER, ["pacte-orientation"], "region", "region", timedelta(minutes=5))
    kid = {"kid": keys.signing_key.kid}
    # the classic confusion: HMAC keyed with the provider's public key, which anyone can read
    public_pem = keys.signing_key.private_key().public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    confused = _hs256(claims, public_pem, kid)
    assert_refused(await whoami(app, confused), "algorithm 'HS256' is not accepted")
    assert_refused(await whoami(app, _hs256(claims, b"a-shared-secret-of-sufficient-length!", kid)), "algorithm 'HS256' is not accepted")
    assert_refused(await whoami(app, jwt.encode(claims, None, algorithm="none", headers=kid)), "algorithm 'none' is not accepted")
    with pytest.raises(ValidationError, match="only asymmetric"):
        service_settings(jwt_algorithms=["RS256", "HS256"])


def _hs256(claims: dict, secret: bytes, headers: dict) -> str:
    """An HS256 token made by hand: PyJWT itself refuses a PEM key as an HMAC secret."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    payload = {k: int(v.timestamp()) if hasattr(v, "timestamp") else v for k, v in claims.items()}
    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT", **headers}).encode()) + "." + b64(json.dumps(payload).encode())
    return signing_input + "." + b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


async def test_an_expired_token_is_refused_and_the_cache_honours_exp(keys):
    app = make_app(service_settings(jwt_jwks=str(keys.jwks_file), jwt_issuer=ISSUER, jwt_leeway_s=0))
    old = keys.sign(token_claims(ISSUER, ["pacte-orientation"], "region", "region", timedelta(seconds=-60)))
    assert_refused(await whoami(app, old), "expired")
    # a verified token is remembered (hot path), but never past its exp
    short = keys.sign(token_claims(ISSUER, ["pacte-orientation"], "region", "region", timedelta(seconds=2)))
    assert (await whoami(app, short)).status_code == 200
    assert len(token_verifier(app)._verified) == 1

    async def refused() -> bool:
        return (await whoami(app, short)).status_code == 401

    await eventually(refused, timeout=10, interval=0.2, message="the short-lived token expiring")
    assert_refused(await whoami(app, short), "expired")


async def test_a_rotated_key_is_accepted_once_the_file_jwks_has_it_and_the_old_one_during_its_grace(keys):
    app = make_app(service_settings(jwt_jwks=str(keys.jwks_file), jwt_issuer=ISSUER))
    before = signed(keys)
    assert (await whoami(app, before)).status_code == 200
    new_key_ = keys.rotate()
    after = signed(keys)
    assert jwt.get_unverified_header(after)["kid"] == new_key_.kid != jwt.get_unverified_header(before)["kid"]
    assert (await whoami(app, after)).status_code == 200
    fresh_app = make_app(service_settings(jwt_jwks=str(keys.jwks_file), jwt_issuer=ISSUER))
    assert (await whoami(fresh_app, before)).status_code == 200, "the previous key stays published for its grace period"


@pytest.fixture
async def dev_issuer(tmp_path):
    """The dev issuer as `pacte up` runs it: a real HTTP server on a free port."""
    port = free_port()
    settings = DevIssuerSettings(environment="development", port=port, keys_dir=tmp_path / "dev-issuer", rotation_grace_hours=1)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield settings
    finally:
        server.should_exit = True
        await task


async def test_the_dev_issuer_serves_its_metadata_its_jwks_and_client_credentials_tokens(dev_issuer):
    issuer = dev_issuer.issuer_url
    async with httpx.AsyncClient(base_url=issuer) as client:
        metadata = (await client.get("/.well-known/openid-configuration")).json()
        assert metadata["issuer"] == issuer
        assert metadata["jwks_uri"] == f"{issuer}/jwks.json"
        assert "client_credentials" in metadata["grant_types_supported"]
        jwks = (await client.get(metadata["jwks_uri"])).json()
        assert [(k["kty"], k["alg"], k["use"]) for k in jwks["keys"]] == [("RSA", "RS256", "sig")]
        assert jwks["keys"][0]["kid"].startswith("pacte-dev-") and "d" not in jwks["keys"][0], "public halves only"
        refused = await client.post("/token", data={"grant_type": "password", "org_kind": "region"})
        assert refused.status_code == 400 and refused.json()["error"] == "unsupported_grant_type"
    # a service configured by settings alone (issuer and jwks_uri from the metadata), as with Keycloak
    settings = service_settings(jwt_issuer=metadata["issuer"], jwt_jwks_url=metadata["jwks_uri"])
    app = make_app(settings)
    token = await asyncio.to_thread(request_token, issuer, "prescriber", "PE-44001", ["orientation"])
    response = await whoami(app, token)
    assert response.status_code == 200, response.text
    assert response.json()["org"] == "PE-44001"
    assert_refused(await whoami(app, await asyncio.to_thread(request_token, issuer, "region", "region", ["sessions"])), "not for this service")
    # `pacte token`'s default: one token for every service
    every = dev_token("region", "region", settings=dev_issuer)
    assert (await whoami(app, every)).status_code == 200
    assert set(jwt.decode(every, options={"verify_signature": False})["aud"]) >= {"pacte-orientation", "pacte-sessions", "pacte-remuneration", "pacte-agora-gateway"}


async def test_a_key_rotated_at_the_issuer_is_fetched_by_the_service_on_its_new_kid(dev_issuer):
    settings = service_settings(jwt_issuer=dev_issuer.issuer_url, jwt_jwks_url=f"{dev_issuer.issuer_url}/jwks.json", jwt_jwks_min_fetch_interval_s=0)
    app = make_app(settings)
    before = dev_token("training_org", "73282932000074", audiences=["orientation"], settings=dev_issuer)
    assert (await whoami(app, before)).status_code == 200  # the service fetched the JWKS: one key
    rotated = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "pacte_tools.dev_issuer", "rotate"],
        env={**os.environ, **dev_issuer.environment_variables(), "PACTE_ENVIRONMENT": "development"}, capture_output=True, text=True,
    )
    assert rotated.returncode == 0, rotated.stderr
    after = dev_token("training_org", "73282932000074", audiences=["orientation"], settings=dev_issuer)
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
    response = await whoami(app, after)  # unknown kid → the service refetches the JWKS
    assert response.status_code == 200, response.text
    async with httpx.AsyncClient() as client:
        published = (await client.get(f"{dev_issuer.issuer_url}/jwks.json")).json()["keys"]
    assert len(published) == 2, "the previous key stays in the JWKS for the grace period"


def test_outside_development_a_service_refuses_the_development_secrets_and_needs_a_provider():
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(environment="production", jwt_issuer="", jwt_jwks="", jwt_jwks_url="")  # the tests' own are shared variables
    message = str(refused.value)
    for problem in ("encryption_keys[dev1] is the development key", "lookup_hash_key is the development key", "jwt_issuer is not set", "no JWKS"):
        assert problem in message
    real = {"encryption_keys": {"k1": new_key()}, "encryption_key_id": "k1", "lookup_hash_key": new_key()}
    with pytest.raises(ValidationError, match="development issuer"):
        ServiceSettings(environment="production", jwt_issuer=DEV_ISSUER_URL, jwt_jwks_url=f"{DEV_ISSUER_URL}/jwks.json", **real)
    settings = ServiceSettings(
        environment="production", jwt_issuer="https://sso.example/realms/pacte",
        jwt_jwks_url="https://sso.example/realms/pacte/protocol/openid-connect/certs", **real,
    )
    assert settings.jwt_audience == "pacte-pacte"
    with pytest.raises(RuntimeError, match="development"):
        mint_token(settings, OrgKind.REGION, "region")
    with pytest.raises(RuntimeError, match="development"):
        create_app(DevIssuerSettings(environment="production"))


async def test_outside_development_a_token_signed_by_a_development_key_is_refused(keys):
    real = {"encryption_keys": {"k1": new_key()}, "encryption_key_id": "k1", "lookup_hash_key": new_key()}
    app = make_app(service_settings(environment="production", jwt_jwks=str(keys.jwks_file), jwt_issuer=ISSUER, **real))
    assert_refused(await whoami(app, signed(keys)), "development key")


def test_a_service_process_refuses_to_start_outside_development(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACTE_")}
    env.update({"PACTE_ENVIRONMENT": "production", "PACTE_ORIENTATION_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'o.db'}"})
    started = subprocess.run(
        [sys.executable, "-m", "uvicorn", "--factory", "orientation.main:create_app", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=120, cwd=project_root(),
    )
    assert started.returncode != 0
    assert "refusing to run in environment 'production'" in started.stderr
    assert "encryption_keys[dev1] is the development key" in started.stderr


def test_the_compose_file_has_no_default_secret():
    compose = (project_root() / "docker-compose.yml").read_text()
    for variable in ("ENCRYPTION_KEY_K1", "LOOKUP_HASH_KEY", "JWT_ISSUER", "JWT_JWKS_URL", "POSTGRES_PASSWORD", "AGORA_TOKEN"):
        assert f"${{PACTE_{variable}:?" in compose, variable
    assert ":-change-me" not in compose and "JWT_SECRET" not in compose
    assert Path(project_root() / "docs" / "security.md").exists()


async def test_claim_names_and_uri_audiences_are_shared_settings(keys, monkeypatch):
    monkeypatch.setenv("PACTE_JWT_ORG_KIND_CLAIM", "https://pacte.example/org_kind")
    monkeypatch.setenv("PACTE_JWT_ORG_ID_CLAIM", "partner")
    monkeypatch.setenv("PACTE_JWT_AUDIENCE_TEMPLATE", "https://pacte.region.example/api/{service}")
    settings = service_settings(jwt_jwks=str(keys.jwks_file), jwt_issuer=ISSUER)
    assert settings.jwt_audience == "https://pacte.region.example/api/orientation"
    assert settings.jwt_org_kind_claim == "https://pacte.example/org_kind" and settings.jwt_org_id_claim == "partner"
    app = make_app(settings)
    claims = token_claims(ISSUER, [settings.jwt_audience], "prescriber", "PE-44001", timedelta(minutes=5), names=settings)
    assert claims["partner"] == "PE-44001" and "org_kind" not in claims
    response = await whoami(app, keys.sign(claims))
    assert response.status_code == 200, response.text
    assert response.json()["org"] == "PE-44001"
    # the default names are not read any more, and a URI audience of another service is refused
    legacy = {**claims, "https://pacte.example/org_kind": None, "org_kind": "prescriber"}
    assert_refused(await whoami(app, keys.sign(legacy)), "https://pacte.example/org_kind")
    other = token_claims(ISSUER, ["https://pacte.region.example/api/sessions"], "prescriber", "PE-44001", timedelta(minutes=5), names=settings)
    assert_refused(await whoami(app, keys.sign(other)), "not for this service")
    with pytest.raises(ValidationError, match="service"):
        service_settings(jwt_audience_template="https://pacte.region.example/api")
