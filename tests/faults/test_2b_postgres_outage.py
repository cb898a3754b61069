"""PostgreSQL connections dropped under the consumers: every service database
refuses connections for a while and its open connections are terminated, mid-traffic. Consumers
hold their partitions and retry — nothing is dead-lettered, per-key order is kept (AGORA gets
create, enter, exit, settle in that order for everyone), no one is lost.

PostgreSQL only: on SQLite there are no connections to drop (the SQLite lock is covered by
libs/common/tests/test_retry_policy.py). Simulated as a failover looks to a client: the test is
superuser, it sets ALLOW_CONNECTIONS false on each service database and calls
pg_terminate_backend on their sessions, then lets them in again."""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import pytest
from pacte_testing import DEFAULT_POSTGRES, eventually, selected_database_kind
from pacte_tools.suite import SERVICES

pytestmark = pytest.mark.skipif(
    selected_database_kind() != "postgresql",
    reason="PostgreSQL only: SQLite has no connections to drop (its lock is tested in libs/common/tests/test_retry_policy.py)",
)

OUTAGE_S = float(os.environ.get("PACTE_FAULTS_POSTGRES_OUTAGE_S", "20"))


# The partners also retry a 500 while the Region's database is away (with the same idempotency
# key, or after checking the state, so nothing is done twice).
PATIENT = (500, 502, 503, 504)


async def _admin():
    import asyncpg

    url = os.environ.get("PACTE_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    return await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))


async def _databases_away(names: list[str], seconds: float) -> int:
    """Refuses new connections and terminates the open ones for `seconds`; returns how many
    backends were terminated."""
    admin = await _admin()
    terminated = 0
    try:
        for name in names:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # pools may still hold connections opened just before
            terminated += await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = ANY($1::text[])", names
            )
            await asyncio.sleep(0.5)
    finally:
        for name in names:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
    return terminated


async def _bus_counts(probe: httpx.AsyncClient, suite) -> tuple[int, int]:
    """(dead letters in every service's DLQ topics, consumers' transient retries so far)."""
    dead = retries = 0
    for spec in (s for s in SERVICES if s.has_database):
        components = (await probe.get(suite.url(spec.name) + "/health/status")).json()["components"]
        dead += sum(components.get("dead_letters", {}).values())
        retries += sum(consumer.get("transient_retries", 0) for consumer in components.get("consumers", []))
    return dead, retries


async def test_postgres_connections_dropped_under_consumers_nothing_dead_lettered_order_kept(supervised, cohort):
    suite = supervised.suite
    names = [suite.database_url(s).rsplit("/", 1)[1] for s in SERVICES if s.has_database]
    async with cohort() as c, httpx.AsyncClient(timeout=20) as probe:
        c.RETRYABLE = PATIENT
        session_id = await c.open_session()
        dead_before, retries_before = await _bus_counts(probe, suite)
        trainees = c.trainees(supervised.settings.trainees)
        journeys = [asyncio.create_task(c.journey(session_id, t)) for t in trainees]
        await eventually(lambda: sum(t.dossier_id is not None for t in trainees) >= len(trainees) // 2, 120,
                         message="half the files opened")
        started = time.monotonic()
        terminated = await _databases_away(names, OUTAGE_S)
        outage = time.monotonic() - started
        await asyncio.gather(*journeys)
        counts = await c.settle(trainees)
        dead_after, retries_after = await _bus_counts(probe, suite)
    c.report("PostgreSQL connections dropped", counts, outage_s=round(outage, 1), backends_terminated=terminated,
             transient_retries=retries_after - retries_before, dead_lettered=dead_after - dead_before)
    problems = [p for t in trainees for p in t.problems]
    assert counts["lost"] == 0 and counts["duplicates"] == 0, problems  # AGORA order checked in settle
    assert dead_after == dead_before, "nothing dead-lettered during a database outage"
    assert terminated > 0
