"""Tokens from a real, certified OpenID provider (node oidc-provider, tests/oidc): accepted when
right, refused when forged; its keys rotated, removed and unreachable, as docs/security.md says.

The partner's kind and id travel in claims named by settings (not the defaults here), and the
audience is an RFC 8707 resource indicator (a URI), as that provider requires."""

from __future__ import annotations

import asyncio
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pacte_testing import eventually
from pacte_testing.oidc import (
    CLIENTS,
    ID_CLAIM,
    KIND_CLAIM,
    RESOURCE,
    OidcProvider,
    provider_installed,
    started_provider,
)

REMOVAL_BOUND_S = 2.0  # jwt_jwks_cache_s of the app under test: a removed key is refused within it
PARTNERS = CLIENTS[:2]  # a prescriber signing RS256, a training organisation signing ES256


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    if (missing := provider_installed()) is not None:
        pytest.fail(missing)
    server = started_provider(tmp_path_factory.mktemp("oidc"))
    yield server
    server.stop()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def provider_settings(provider: OidcProvider) -> dict:
    return dict(jwt_issuer=provider.issuer, jwt_jwks_url=f"{provider.issuer}/jwks", jwt_audience=RESOURCE,
                jwt_org_kind_claim=KIND_CLAIM, jwt_org_id_claim=ID_CLAIM, jwt_jwks_cache_s=REMOVAL_BOUND_S,
                jwt_token_cache_s=REMOVAL_BOUND_S, jwt_jwks_min_fetch_interval_s=0.2, jwt_jwks_timeout_s=1.0,
                jwt_jwks_retry_s=3.0)


def forged(token: str, **changes) -> str:
    """The same claims signed by a key the provider never had, under the provider's kid."""
    header = jwt.get_unverified_header(token)
    claims = {**jwt.decode(token, options={"verify_signature": False}), **changes}
    return jwt.encode(claims, rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256",
                      headers={"kid": header["kid"]})


async def test_a_real_providers_tokens_are_accepted_and_forged_ones_refused(provider, kit_with):
    async with kit_with(**provider_settings(provider)) as kit:
        for client in PARTNERS:  # RS256 and ES256, claims named by the settings
            answer = await kit.client.get("/prescriptions", headers=bearer(provider.token(client)))
            assert answer.status_code == 200, (client["alg"], answer.text)
        good = provider.token(CLIENTS[0])
        other_service = provider.token(CLIENTS[0], resource="https://pacte.test/sessions")
        unsigned = jwt.encode(jwt.decode(good, options={"verify_signature": False}), None, algorithm="none")
        for name, token in (("another service's audience", other_service), ("signed by another key", forged(good)),
                            ("alg none", unsigned), ("another issuer", forged(good, iss="http://evil.test")),
                            ("expired", forged(good, exp=int(time.time()) - 3600))):
            answer = await kit.client.get("/prescriptions", headers=bearer(token))
            assert answer.status_code == 401, (name, answer.status_code, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"


async def test_keys_rotated_removed_and_unreachable(provider, kit_with):
    async with kit_with(**provider_settings(provider)) as kit:
        old = provider.token(CLIENTS[0])
        assert (await kit.client.get("/prescriptions", headers=bearer(old))).status_code == 200

        # Rotation: the provider signs with a new key and still publishes the old one.
        provider.stop()
        provider.start([provider.keys["rsa-2"], provider.keys["rsa-1"], provider.keys["ec-1"]])
        new = provider.token(CLIENTS[0])
        assert jwt.get_unverified_header(new)["kid"] == "rsa-2"
        started = time.monotonic()
        assert (await kit.client.get("/prescriptions", headers=bearer(new))).status_code == 200
        assert time.monotonic() - started < 1.0, "the unknown kid fetched the key set at once"
        assert (await kit.client.get("/prescriptions", headers=bearer(old))).status_code == 200

        # Removal: the old key leaves the set; its tokens (already verified ones too) are refused within the bound.
        provider.stop()
        provider.start([provider.keys["rsa-2"], provider.keys["ec-1"]])
        removed_at = time.monotonic()

        async def old_refused():
            return (await kit.client.get("/prescriptions", headers=bearer(old))).status_code == 401

        await eventually(old_refused, 3 * REMOVAL_BOUND_S + 2, message="a removed key refused")
        assert time.monotonic() - removed_at <= 2 * REMOVAL_BOUND_S + 1.5
        assert (await kit.client.get("/prescriptions", headers=bearer(new))).status_code == 200

        # Outage: the keys fetched last stay in use; a token naming a key never seen gets 503 + Retry-After.
        provider.stop()
        try:
            await asyncio.sleep(REMOVAL_BOUND_S + 0.5)  # past the cache's age: a refresh is due and fails
            assert (await kit.client.get("/prescriptions", headers=bearer(new))).status_code == 200
            unknown = jwt.encode({"iss": provider.issuer, "aud": RESOURCE, "exp": int(time.time()) + 60,
                                  KIND_CLAIM: "prescriber", ID_CLAIM: "PE-44001"},
                                 rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256",
                                 headers={"kid": "never-seen"})
            refused = await kit.client.get("/prescriptions", headers=bearer(unknown))
            assert refused.status_code == 503, refused.text  # the key set cannot be fetched: retry later
            assert int(refused.headers["retry-after"]) > 0
            status = (await kit.client.get("/health/status")).json()
            assert "unreachable" in json.dumps(status).lower(), status
        finally:
            provider.start([provider.keys["rsa-2"], provider.keys["rsa-1"], provider.keys["ec-1"]])
