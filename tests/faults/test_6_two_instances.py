"""Two instances of every service on the same PostgreSQL databases and broker, one of each
SIGKILLed mid-traffic and not restarted: the other takes its work over (docs/scaling.md,
"Several instances").

Trainees go from prescription to exit through each service's one address while AGORA answers
slowly and a back-fill job runs, so calls are in flight when one instance of every service dies
at once (of the gateway, the one running the job). Then:
- every trainee is in orientation, remuneration and AGORA exactly once, in order;
- each survivor holds every partition of each of its consumer groups within 10 s (the dead
  members' share comes back after the session timeout, `consumer_session_timeout_ms`);
- the AGORA calls the dead gateway had claimed are sent again by the survivor once their lease
  (renewed by a heartbeat) runs out, and AGORA's idempotency absorbs any resend;
- the back-fill job is taken over from its checkpoint and every file of the export is loaded
  once.

PostgreSQL only: an SQLite file belongs to one process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import httpx
import pytest
from pacte_testing import (
    DEFAULT_POSTGRES,
    eventually,
    new_nir,
    seed_suite_databases,
    selected_database_kind,
)
from pacte_testing.agora import export_line, ndjson
from pacte_tools.suite import SERVICES, Suite, SuiteSettings, drop_postgres_databases, spec_of

pytestmark = pytest.mark.skipif(selected_database_kind() != "postgresql", reason="several instances share PostgreSQL databases")

# The session timeout (6 s), a heartbeat (1 s), then the rebalance: Tansu, the embedded broker,
# answers a rejoin after a fixed 3 s; Kafka answers once the live members have rejoined.
TAKEOVER_BOUND_S = 12.0
BACKFILL_LINES = 6_000
SCALED = [spec.name for spec in SERVICES if spec.scales]
CONSUMING = [spec.name for spec in SERVICES if spec.scales and spec.has_database]  # the console consumes nothing


@pytest.fixture(scope="module")
def two_of_each(tmp_path_factory, fast_variables):
    server = os.environ.get("PACTE_TEST_POSTGRES_URL", DEFAULT_POSTGRES).rsplit("/", 1)[0]
    settings = SuiteSettings.on_free_ports(
        tmp_path_factory.mktemp("two-instances"), topic_partitions=2, ready_timeout_s=240, instances=2,
        postgres_url=server, database_name_prefix=f"pacte_multi_{uuid.uuid4().hex[:8]}_",
    )
    # 14 processes on one server (max_connections 100 here): a few connections each
    small_pools = {spec.env_prefix + name: value for spec in SERVICES if spec.has_database
                   for name, value in (("DATABASE_POOL_SIZE", "2"), ("DATABASE_MAX_OVERFLOW", "3"))}
    fresh_status = {"PACTE_HEALTH_CACHE_S": "0.1"}  # the takeover is timed through /health/status
    suite = Suite(settings, extra_env=fast_variables | small_pools | fresh_status)
    try:
        seed_suite_databases(suite)
        suite.start()
        suite.wait_ready()
        yield suite
    finally:
        suite.stop()
        asyncio.run(drop_postgres_databases(settings.postgres_url, [suite.database_url(s) for s in SERVICES if s.has_database]))


async def _consumers(probe: httpx.AsyncClient, suite: Suite, name: str) -> list[dict]:
    response = await probe.get(suite.instance_url(name) + "/health/status")
    return response.json()["components"].get("consumers", [])


async def test_one_instance_of_each_killed_the_other_takes_over(two_of_each, cohort_on, fault_settings):
    suite = two_of_each
    async with cohort_on(suite) as c, httpx.AsyncClient(timeout=10) as probe:
        # both instances of a service share its consumer groups: neither holds every partition
        shares = {name: await _consumers(probe, suite, f"{name}#2") for name in CONSUMING}  # any instance would do
        assert any(len(g["partitions_held"]) < len(g["lag"]) for groups in shares.values() for g in groups), shares

        assert (await c.sandbox.put("/v1/faults", json={"latency_min_ms": 300, "latency_max_ms": 800})).status_code == 200
        session_id = await c.open_session()
        trainees = c.trainees(fault_settings.trainees * 2)
        journeys = [asyncio.create_task(c.journey(session_id, t)) for t in trainees]
        await eventually(lambda: sum(t.dossier_id is not None for t in trainees) >= len(trainees) // 2, 120, message="half enrolled")
        job = await _backfill_running(c.gateway)
        holder = next(name for name, instance in suite.instance_ids.items() if instance == job["held_by"])
        victims = [holder if name == "agora-gateway" else name for name in SCALED]
        survivors = {name: next(other for other in suite.instance_names(spec_of(name)) if other not in victims) for name in SCALED}
        for name in victims:
            os.kill(suite.processes[name].pid, signal.SIGKILL)
        killed_at = time.monotonic()

        async def taken_over(name: str) -> float:
            """Seconds from the kill to the first status of the survivor holding all its groups' partitions."""
            while True:
                asked = time.monotonic()
                if all(set(g["partitions_held"]) == set(g["lag"]) for g in await _consumers(probe, suite, survivors[name])):
                    return round(asked - killed_at, 1)
                await asyncio.sleep(0.1)

        takeover = dict(zip(CONSUMING, await asyncio.wait_for(asyncio.gather(*map(taken_over, CONSUMING)), 60), strict=True))
        await asyncio.gather(*journeys)
        await c.sandbox.put("/v1/faults", json={})
        counts = await c.settle(trainees)

        async def backfill_done() -> dict | None:
            found = (await c.call(c.gateway, "GET", f"/backfill/{job['job_id']}")).json()
            return found if found["status"] in ("completed", "failed") else None

        job = await eventually(backfill_done, 120, interval=0.5, message="the back-fill job finished")
        holdings = (await c.sandbox.get("/v1/holdings")).json()

    c.report("one instance of each SIGKILLed", counts, takeover_s=takeover, backfill=job["report"])
    assert all(suite.processes[name].poll() == -signal.SIGKILL for name in victims), "the victims stayed dead"
    assert counts["lost"] == 0 and counts["duplicates"] == 0, [p for t in trainees for p in t.problems]
    assert max(takeover.values()) <= TAKEOVER_BOUND_S, takeover
    assert job["status"] == "completed" and job["held_by"] != suite.instance_ids.get(holder, ""), job
    assert job["report"]["read"] == BACKFILL_LINES and job["report"]["acknowledged"] == BACKFILL_LINES, job["report"]
    assert holdings["files_total"] == len(trainees) + BACKFILL_LINES, "a file loaded twice (or lost)"


async def _backfill_running(gateway: httpx.AsyncClient) -> dict:
    """A back-fill of BACKFILL_LINES settled files started through the gateway's one address,
    once an instance has claimed it and sent a batch."""
    export = ndjson(export_line(nir=new_nir()) for _ in range(BACKFILL_LINES)).encode()
    started = await gateway.post("/backfill", files={"file": ("export.ndjson", export, "application/x-ndjson")},
                                 headers={"Idempotency-Key": str(uuid.uuid4())})
    assert started.status_code in (201, 202), started.text

    async def running() -> dict | None:
        found = (await gateway.get(f"/backfill/{started.json()['job_id']}")).json()
        return found if found["status"] == "running" and found.get("held_by") and found["report"]["read"] else None

    return await eventually(running, 60, interval=0.2, message="the back-fill job running")
