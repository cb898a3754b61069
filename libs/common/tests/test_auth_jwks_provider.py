"""The JWKS as a real provider serves it, over real HTTP: rotation (an unknown kid fetches at once,
one fetch for concurrent requests), made-up kids (negative cache), a removed key refused within
`jwt_jwks_cache_s` (remembered tokens included), a provider outage (last keys kept for
`jwt_jwks_stale_s`, 503 with Retry-After) and a hanging provider that never holds a known key.
Bounds are settings: the tests use fractions of a second (docs/security.md, "Keys")."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pacte_common.auth import CurrentPrincipal, OrgKind, token_verifier
from pacte_common.errors import install_error_handlers
from pacte_common.settings import ServiceSettings
from pacte_testing import eventually, foreign_token
from pacte_tools.broker import free_port
from pacte_tools.dev_issuer import DevKey, DevKeyStore, token_claims
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ISSUER = "https://issuer.pacte.test"


@dataclass
class Provider:
    """A JWKS endpoint whose keys and health the test sets: 'ok', 'down' (503) or 'hang'."""

    url: str = ""
    keys: list[DevKey] = field(default_factory=list)
    mode: str = "ok"
    fetches: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def jwks(self, _request: Request) -> JSONResponse:
        self.fetches += 1
        if self.mode == "hang":
            await self.release.wait()
        if self.mode != "ok":
            return JSONResponse({"error": "down"}, status_code=503)
        return JSONResponse({"keys": [key.public_jwk() for key in self.keys]})


@pytest.fixture
async def provider():
    state = Provider(keys=[DevKey.generate("RS256")])
    port = free_port()
    app = Starlette(routes=[Route("/jwks", state.jwks)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    state.url = f"http://127.0.0.1:{port}/jwks"
    try:
        yield state
    finally:
        state.release.set()
        server.should_exit = True
        await task


def make_app(provider: Provider, **values) -> FastAPI:
    settings = ServiceSettings(service_name="orientation", jwt_issuer=ISSUER, jwt_jwks_url=provider.url, jwt_jwks="", **values)
    app = FastAPI()
    install_error_handlers(app)
    app.state.runtime = SimpleNamespace(settings=settings)

    @app.get("/whoami")
    async def whoami(principal: CurrentPrincipal):
        return {"org": principal.org_id}

    return app


_PRIVATE: dict[str, object] = {}


def private(key: DevKey):
    """Loading an RSA private key is slow (its checks): once per key."""
    if key.kid not in _PRIVATE:
        _PRIVATE[key.kid] = key.private_key()
    return _PRIVATE[key.kid]


def token(key: DevKey, org: str = "73282932000074") -> str:
    import jwt

    claims = token_claims(ISSUER, ["pacte-orientation"], "training_org", org, timedelta(minutes=5))
    return jwt.encode(claims, private(key), algorithm="RS256", headers={"kid": key.kid})


_FORGER: list[DevKey] = []


def made_up(n: int) -> str:
    """A token naming a kid no JWKS has (one key for all: RSA key generation is slow)."""
    import jwt

    if not _FORGER:
        _FORGER.append(DevKey.generate("RS256"))
    claims = token_claims(ISSUER, ["pacte-orientation"], "region", "region", timedelta(minutes=5))
    return jwt.encode(claims, private(_FORGER[0]), algorithm="RS256", headers={"kid": f"made-up-{n}"})


async def call(client: httpx.AsyncClient, bearer: str) -> httpx.Response:
    return await client.get("/whoami", headers={"Authorization": f"Bearer {bearer}"})


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_a_new_kid_is_fetched_at_once_by_one_fetch_and_made_up_kids_are_remembered(provider):
    app = make_app(provider, jwt_jwks_min_fetch_interval_s=0)
    async with client_of(app) as client:
        assert (await call(client, token(provider.keys[0]))).status_code == 200
        assert provider.fetches == 1
        # rotation: the provider publishes a new key and signs with it; no cooldown delays it
        provider.keys.insert(0, DevKey.generate("RS256"))
        answers = await asyncio.gather(*(call(client, token(provider.keys[0])) for _ in range(20)))
        assert [r.status_code for r in answers] == [200] * 20
        assert provider.fetches == 2, "concurrent requests with the new kid share one fetch"
        # a made-up kid: one fetch, then refused from memory
        first = await call(client, made_up(1))
        assert first.status_code == 401 and "unknown key" in first.json()["detail"]
        assert provider.fetches == 3
        again = await asyncio.gather(*(call(client, made_up(1)) for _ in range(10)))
        assert {r.status_code for r in again} == {401}
        assert provider.fetches == 3, "a kid still unknown after a fresh fetch is not fetched again"


async def test_unknown_kids_coalesce_into_one_fetch_per_interval(provider):
    app = make_app(provider, jwt_jwks_min_fetch_interval_s=0.3)
    async with client_of(app) as client:
        assert (await call(client, token(provider.keys[0]))).status_code == 200
        started = time.monotonic()
        answers = await asyncio.gather(*(call(client, made_up(n)) for n in range(30)))
        assert {r.status_code for r in answers} == {401}
        assert provider.fetches == 2, "thirty made-up kids cost the provider one fetch"
        assert time.monotonic() - started < 5, "no request waited behind the others for a fetch interval (30 × 0.3 s)"


async def test_a_removed_key_is_refused_within_the_bound_remembered_tokens_included(provider):
    bound = 0.6
    app = make_app(provider, jwt_jwks_cache_s=bound, jwt_token_cache_s=300)
    old, new = provider.keys[0], DevKey.generate("RS256")
    provider.keys.append(new)
    async with client_of(app) as client:
        remembered = token(old)
        assert (await call(client, remembered)).status_code == 200
        assert len(token_verifier(app)._verified) == 1
        provider.keys.remove(old)
        fetched = provider.fetches
        await asyncio.sleep(bound)  # the keys held are now older than jwt_jwks_cache_s

        async def refused() -> bool:
            return (await call(client, remembered)).status_code == 401

        # counted in fetches, not seconds (the machine may be slow): the first fetch after the
        # bound is the one that refuses it, the token remembered before included
        await eventually(refused, timeout=5, interval=0.02, message="the removed key refused")
        assert provider.fetches == fetched + 1, "refused on the first fetch once jwt_jwks_cache_s has passed"
        assert (await call(client, token(new))).status_code == 200
        assert "unknown key" in (await call(client, token(old, org="another"))).json()["detail"]


async def test_during_an_outage_the_last_keys_stay_for_the_stale_bound_then_503_with_retry_after(provider):
    # the outage answers 503 at once, so the fetch timeout plays no part: a generous one keeps the
    # first fetch from timing out on a loaded machine
    app = make_app(provider, jwt_jwks_cache_s=0.2, jwt_jwks_retry_s=0.2, jwt_jwks_stale_s=2.0, jwt_jwks_timeout_s=5)
    key = provider.keys[0]
    first, second, third, unknown_kid = token(key), token(key, org="o2"), token(key, org="o3"), made_up(7)  # signed before the clock runs
    async with client_of(app) as client:
        assert (await call(client, first)).status_code == 200
        provider.mode = "down"
        await asyncio.sleep(0.3)  # the set is now older than jwt_jwks_cache_s
        assert (await call(client, second)).status_code == 200, "a refetch failing keeps the last keys"
        assert (await call(client, third)).status_code == 200
        details, problems = token_verifier(app).status()
        assert details["reachable"] is False and problems and "token issuer unreachable" in problems[0]
        unknown = await call(client, unknown_kid)
        assert unknown.status_code == 503, "an unknown kid may be a new key hidden by the outage: not 401"
        assert int(unknown.headers["retry-after"]) >= 1
        assert unknown.json()["type"].endswith("/token-issuer-unavailable")

        async def locked_out() -> httpx.Response | None:
            response = await call(client, token(key, org="late"))
            return response if response.status_code == 503 else None

        late = await eventually(locked_out, timeout=5, interval=0.05, message="the stale bound passing")
        assert int(late.headers["retry-after"]) >= 1
        provider.mode = "ok"

        async def back() -> bool:
            return (await call(client, token(key, org="back"))).status_code == 200

        await eventually(back, timeout=5, interval=0.05, message="the provider back")
        assert token_verifier(app).status()[0]["reachable"] is True


async def test_a_hanging_provider_never_holds_a_request_whose_key_is_known(provider):
    # the first fetch must not time out on a loaded machine; the hanging one waits the bound out
    app = make_app(provider, jwt_jwks_timeout_s=2, jwt_jwks_retry_s=5, jwt_jwks_min_fetch_interval_s=0)
    key = provider.keys[0]
    async with client_of(app) as client:
        assert (await call(client, token(key))).status_code == 200
        provider.mode = "hang"
        flood = [asyncio.create_task(call(client, made_up(n))) for n in range(50)]
        await eventually(lambda: provider.fetches == 2, timeout=5, interval=0.01, message="the flood's fetch hanging")
        durations, valid = [], [token(key, org=f"valid-{n}") for n in range(20)]  # signed before timing
        for bearer in valid:
            started = time.perf_counter()
            assert (await call(client, bearer)).status_code == 200
            durations.append(time.perf_counter() - started)
        # a request held by the hanging fetch would take its 2 s timeout: well under it, none was
        # (a bound with room for a loaded test machine; the speed itself is the benchmarks')
        assert max(durations) < 1.0, durations
        answers = await asyncio.gather(*flood)
        assert {r.status_code for r in answers} == {503}, "the fetch timed out: 503, not 401"
        assert provider.fetches == 2, "the flood shared one fetch"
        # no request waits for the provider again before jwt_jwks_retry_s
        late = made_up(99)
        started = time.perf_counter()
        again = await call(client, late)
        assert again.status_code == 503 and time.perf_counter() - started < 1.0, "answered without a 2 s fetch"
        assert 1 <= int(again.headers["retry-after"]) <= 5
        assert (await call(client, token(key, org="still"))).status_code == 200


async def test_a_foreign_token_is_still_refused_with_a_clear_401(provider):
    app = make_app(provider)
    settings = app.state.runtime.settings
    async with client_of(app) as client:
        response = await call(client, foreign_token(settings, OrgKind.REGION, "region"))
    assert response.status_code == 401 and "unknown key" in response.json()["detail"]


async def test_a_file_jwks_drops_a_removed_key_at_once(tmp_path):
    store = DevKeyStore(tmp_path / "issuer", grace=timedelta(0))
    store.ensure()
    settings = ServiceSettings(service_name="orientation", jwt_issuer=ISSUER, jwt_jwks=str(store.jwks_file), jwt_jwks_url="")
    app = FastAPI()
    install_error_handlers(app)
    app.state.runtime = SimpleNamespace(settings=settings)

    @app.get("/whoami")
    async def whoami(principal: CurrentPrincipal):
        return {"org": principal.org_id}

    before = store.sign(token_claims(ISSUER, ["pacte-orientation"], "region", "region", timedelta(minutes=5)))
    async with client_of(app) as client:
        assert (await call(client, before)).status_code == 200
        store.rotate()  # no grace: the old key leaves the file
        await asyncio.sleep(0.01)
        assert (await call(client, before)).status_code == 401
