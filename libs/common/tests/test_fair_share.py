"""Fair share over HTTP (docs/security.md, "Fair share"): a client past its budget gets 429 with
Retry-After while another client is still served; heavy reports beyond the cap wait, then get
503 with Retry-After; and the HTTP server closes a connection whose headers trickle in."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from fastapi import FastAPI
from pacte_common.errors import install_error_handlers
from pacte_common.fair_share import FairShare, HeavyReport, RateLimited


def make_app(rate_limits: dict[str, str], heavy: int = 1, wait_s: float = 0.3) -> tuple[FastAPI, asyncio.Event]:
    app = FastAPI()
    install_error_handlers(app)
    app.state.fair_share = FairShare(rate_limits, heavy, wait_s)
    release = asyncio.Event()

    @app.get("/report", dependencies=[RateLimited("reports")])
    async def report():
        return {"ok": True}

    @app.get("/open", dependencies=[RateLimited("public")])
    async def open_page():
        return {"ok": True}

    @app.post("/sign", dependencies=[RateLimited("signing")])
    async def sign():
        return {"ok": True}

    @app.get("/heavy", dependencies=[HeavyReport])
    async def heavy_report():
        await release.wait()
        return {"done": True}

    @app.get("/light")
    async def light():
        return {"ok": True}

    return app, release


def client(app: FastAPI, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=headers)


async def test_a_client_past_its_budget_gets_429_and_the_others_are_served():
    app, _ = make_app({"reports": "3/minute", "public": "100/minute", "signing": "100/minute"})
    async with client(app, "token-of-a") as a, client(app, "token-of-b") as b, client(app) as anonymous:
        assert [(await a.get("/report")).status_code for _ in range(3)] == [200, 200, 200]
        refused = await a.get("/report")
        assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["retry-after"]) <= 60 and refused.json()["bucket"] == "reports"
        assert (await b.get("/report")).status_code == 200  # another client, its own budget
        assert (await anonymous.get("/report")).status_code == 200  # no token: its address
        assert (await a.get("/light")).status_code == 200  # routes outside the bucket are not counted


async def test_heavy_reports_beyond_the_cap_wait_then_get_503_and_light_routes_go_on():
    app, release = make_app({"reports": "100/minute", "public": "100/minute", "signing": "100/minute"}, heavy=1, wait_s=0.3)
    async with client(app) as http:
        first = asyncio.create_task(http.get("/heavy"))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        busy = await http.get("/heavy")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert 0.25 <= time.monotonic() - started < 2
        assert (await http.get("/light")).status_code == 200
        release.set()
        assert (await first).status_code == 200
        assert (await http.get("/heavy")).status_code == 200  # the slot was given back


async def test_signing_has_its_own_budget_apart_from_the_public_one():
    """Trainees behind one address spend the signing budget: a client that used up its public
    budget still signs, and signing does not eat into the public budget."""
    app, _ = make_app({"reports": "100/minute", "public": "2/minute", "signing": "4/minute"})
    async with client(app) as same_address:
        assert [(await same_address.get("/open")).status_code for _ in range(3)] == [200, 200, 429]
        assert [(await same_address.post("/sign")).status_code for _ in range(5)] == [200, 200, 200, 200, 429]
        refused = await same_address.post("/sign")
        assert refused.json()["bucket"] == "signing"
        assert (await same_address.get("/report")).status_code == 200


def test_a_budget_left_out_of_the_settings_is_refused_at_start_not_read_as_no_limit():
    with pytest.raises(ValueError, match="no budget for public"):
        FairShare({"reports": "60/minute", "signing": "60/minute"}, 2, 5.0)
    with pytest.raises(ValueError, match="no budget for signing"):
        FairShare({"reports": "60/minute", "public": "60/minute"}, 2, 5.0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_server_closes_a_connection_whose_headers_trickle_in():
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "agora_sandbox.main:create_app", "--port", str(port),
         "--http", "pacte_common.http_server:HttpToolsWithHeaderTimeout", "--log-level", "warning"],
        env={**os.environ, "PACTE_HEADER_READ_TIMEOUT_S": "1", "PACTE_ENVIRONMENT": "development"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                time.sleep(0.1)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")  # the blank line never comes
            started = time.monotonic()
            assert slow.recv(100) == b""  # EOF: the server closed it
            assert 0.8 <= time.monotonic() - started < 5
        with httpx.Client() as http:  # whole requests are served as before, kept alive
            for _ in range(2):
                assert http.get(f"http://127.0.0.1:{port}/health/live").status_code == 200
    finally:
        server.terminate()
        server.wait(10)
