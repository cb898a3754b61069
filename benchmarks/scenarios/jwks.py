"""A valid token against a flood of made-up key ids while the OpenID provider hangs: the p99 of
`GET /prescriptions` (orientation) with a token whose key is known, while 100 requests a second
carry random key ids, against the same request without the flood. Target (docs/security.md,
"Keys"): p99 ≤ 50 ms — a request whose key is known never waits for a fetch.

The provider is a JWKS endpoint in this process: it answers once (the service learns the key),
then hangs (accepts connections, never answers)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pacte_tools.broker import free_port

from benchmarks.core import Context, Row, Scenario, closed_loop, uvicorn_process

ISSUER = "https://bench-provider.invalid"
AUDIENCE = "pacte-orientation"
FLOOD_PER_S = 100


class HangingProvider:
    """Serves the JWKS until `hang` is set; then holds every connection open without a word."""

    def __init__(self, jwks: dict):
        self.body = json.dumps(jwks).encode()
        self.hang = asyncio.Event()
        self.port = free_port()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.hang.is_set():
                await asyncio.sleep(3600)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         b"Content-Length: " + str(len(self.body)).encode() + b"\r\n\r\n" + self.body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        self.server.close()


def token(key, kid: str) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600, "sub": "bench-client", "org_kind": "region", "org_id": "region"}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


async def _flood(base_url: str, stop: asyncio.Event, answers: dict) -> None:
    """FLOOD_PER_S requests a second, each with a key id never published (open loop)."""
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        async def one() -> None:
            response = await client.get("/prescriptions",
                                        headers={"Authorization": f"Bearer {token(stranger, uuid.uuid4().hex)}"})
            answers[response.status_code] = answers.get(response.status_code, 0) + 1

        pending = set()
        while not stop.is_set():
            pending.add(asyncio.create_task(one()))
            pending = {task for task in pending if not task.done()}
            await asyncio.sleep(1 / FLOOD_PER_S)
        done, late = await asyncio.wait(pending, timeout=5) if pending else (set(), set())
        answers["unanswered after 5 s"] = len(late)
        for task in late:
            task.cancel()


async def run(context: Context) -> list[Row]:
    seconds = context.size(2, 15)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "bench-1", "alg": "RS256", "use": "sig"}
    provider = HangingProvider({"keys": [public]})
    await provider.start()
    port = free_port()
    env = {"PACTE_ORIENTATION_DATABASE_URL": await context.database_url("orientation"),
           "PACTE_ORIENTATION_RUN_BACKGROUND_TASKS": "false", "PACTE_ORIENTATION_LOG_JSON": "false",
           "PACTE_ORIENTATION_JWT_ISSUER": ISSUER, "PACTE_ORIENTATION_JWT_AUDIENCE": AUDIENCE,
           "PACTE_ORIENTATION_JWT_JWKS_URL": f"http://127.0.0.1:{provider.port}/jwks", "PACTE_ORIENTATION_JWT_JWKS": ""}
    base_url = f"http://127.0.0.1:{port}"
    valid = {"Authorization": f"Bearer {token(key, 'bench-1')}"}

    async def prescriptions(client: httpx.AsyncClient, _: int) -> httpx.Response:
        return await client.get("/prescriptions")

    try:
        async with uvicorn_process("orientation.main:create_app", port, env, context.workdir / f"jwks-{context.database}.log"):
            async with httpx.AsyncClient(base_url=base_url) as client:  # the service learns the key
                first = await client.get("/prescriptions", headers=valid)
                assert first.status_code == 200, first.text
            calm = await closed_loop(base_url, prescriptions, concurrency=1, seconds=seconds, headers=valid)
            provider.hang.set()
            stop, answers = asyncio.Event(), {}
            flood = asyncio.create_task(_flood(base_url, stop, answers))
            flooded = await closed_loop(base_url, prescriptions, concurrency=1, seconds=seconds, headers=valid)
            stop.set()
            await flood
    finally:
        await provider.stop()
    return [Row("valid token p99 while 100 req/s carry unknown key ids, provider hanging", context.database,
                round(flooded.p99_ms, 1), "ms", "≤ 50 ms", met=flooded.p99_ms <= 50 if not context.quick else None,
                baseline=round(calm.p99_ms, 1),
                details={"calm_p50_ms": round(calm.p50_ms, 1), "flooded_p50_ms": round(flooded.p50_ms, 1),
                         "valid_errors": flooded.errors, "valid_requests": flooded.requests,
                         "flood_answers": {str(status): n for status, n in answers.items()}})]


SCENARIO = Scenario("jwks", "a valid token's p99 while a flood of unknown key ids meets a hanging provider", run,
                    databases=("sqlite",))
