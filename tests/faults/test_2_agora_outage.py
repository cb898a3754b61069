"""AGORA answers nothing but 503 for a while: every flow is acknowledged once, in order, after;
the gateway stays ready, and says AGORA is unreachable while it is."""

from __future__ import annotations

import asyncio
import time

import httpx
from pacte_testing import eventually


async def test_agora_down_then_back_every_flow_acknowledged_once_in_order(supervised, cohort):
    suite, outage_s = supervised.suite, supervised.settings.agora_outage_s
    async with cohort() as c, httpx.AsyncClient(base_url=suite.url("agora-gateway"), timeout=20) as gateway:
        session_id = await c.open_session()
        assert (await c.sandbox.put("/v1/faults", json={"error_rate": 1.0})).status_code == 200
        outage_started = time.monotonic()
        try:
            trainees = c.trainees(supervised.settings.trainees)
            await asyncio.gather(*(c.journey(session_id, t) for t in trainees))

            async def agora_reported_down():
                status = (await gateway.get("/health/status")).json()
                agora = status["components"]["agora"]
                return status if status["status"] == "degraded" and agora["consecutive_failures"] >= 3 else None

            during = await eventually(agora_reported_down, max(outage_s, 30), interval=0.5, message="AGORA reported unreachable")
            ready_during = (await gateway.get("/health/ready")).status_code
            await asyncio.sleep(max(0.0, outage_s - (time.monotonic() - outage_started)))
        finally:
            await c.sandbox.put("/v1/faults", json={})
        outage = time.monotonic() - outage_started
        counts = await c.settle(trainees)
        agora_after = (await gateway.get("/health/status")).json()["components"]["agora"]
        refused = (await c.sandbox.get("/v1/holdings")).json()["faults_injected"]["errors"]
    c.report(
        "AGORA down", counts, outage_s=round(outage, 1), refused_calls=refused,
        failures_in_a_row_seen=during["components"]["agora"]["consecutive_failures"],
    )
    problems = [p for t in trainees for p in t.problems]
    assert counts["lost"] == 0 and counts["duplicates"] == 0, problems
    assert ready_during == 200, "an AGORA outage does not take the gateway out of service"
    assert any("AGORA unreachable" in reason for reason in during["reasons"])
    assert agora_after["consecutive_failures"] == 0 and agora_after["reachable"]
