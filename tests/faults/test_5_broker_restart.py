"""The broker killed mid-traffic and restarted by the supervisor (a new, empty incarnation):
0 lost, with no manual step — relays re-publish, consumers start over, inboxes dedupe."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
from pacte_testing import eventually
from pacte_tools.suite import SERVICES


async def test_broker_killed_mid_traffic_nothing_lost_no_operator(supervised, cohort):
    suite = supervised.suite
    before = supervised.child("broker").restarts
    async with cohort() as c, httpx.AsyncClient(timeout=20) as probe:
        session_id = await c.open_session()
        old_cluster = (await probe.get(suite.url("sessions") + "/health/status")).json()["components"]["broker"]["cluster_id"]
        trainees = c.trainees(supervised.settings.trainees)
        journeys = [asyncio.create_task(c.journey(session_id, t)) for t in trainees]
        await eventually(lambda: sum(t.dossier_id is not None for t in trainees) >= len(trainees) // 2, 120, message="half the files opened")
        # keep the supervisor from restarting it at once: the outage lasts broker_outage_s
        supervised.supervisor.settings.backoff_initial_s = supervised.settings.broker_outage_s
        os.kill(suite.broker.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        try:
            # meanwhile the services keep accepting writes: readiness is their database only
            ready_during = [(await probe.get(suite.url(s.name) + "/health/ready")).status_code for s in SERVICES if s.has_database]

            async def back():
                child = supervised.child("broker")
                return child.restarts > before and child.ready

            await eventually(back, 60, interval=0.2, message="broker restarted by the supervisor")
        finally:
            supervised.supervisor.settings.backoff_initial_s = 0.2
        outage = time.monotonic() - killed_at
        await asyncio.gather(*journeys)
        counts = await c.settle(trainees)
        statuses = {s.name: (await probe.get(suite.url(s.name) + "/health/status")).json() for s in SERVICES if s.has_database}
    resyncs = {name: status["components"].get("resyncs", 0) for name, status in statuses.items()}
    c.report("broker killed", counts, outage_s=round(outage, 1), resyncs=resyncs)
    problems = [p for t in trainees for p in t.problems]
    assert counts["lost"] == 0 and counts["duplicates"] == 0, problems
    assert all(code == 200 for code in ready_during), ready_during
    assert all(status["components"]["broker"]["cluster_id"] != old_cluster for status in statuses.values())
    assert all(count >= 1 for count in resyncs.values()), resyncs
