"""One service SIGKILLed mid-traffic and restarted by the supervisor: 0 lost, 0 duplicate effects."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from pacte_testing import eventually


async def test_sessions_killed_mid_traffic_is_restarted_and_nothing_is_lost_or_doubled(supervised, cohort):
    suite, victim = supervised.suite, "sessions"
    before = supervised.child(victim).restarts
    async with cohort() as c:
        session_id = await c.open_session()
        trainees = c.trainees(supervised.settings.trainees)
        journeys = [asyncio.create_task(c.journey(session_id, t)) for t in trainees]
        # kill once half of the admissions are in: sessions is consuming them and publishing files
        await eventually(lambda: sum(t.prescription_id is not None for t in trainees) >= len(trainees) // 2, 120, message="half admitted")
        killed_pid = suite.processes[victim].pid
        os.kill(killed_pid, signal.SIGKILL)
        killed_at = time.monotonic()

        async def back():
            child = supervised.child(victim)
            return child.restarts > before and child.ready and child.pid != killed_pid

        await eventually(back, supervised.settings.deadline_s, interval=0.2, message="sessions restarted by the supervisor")
        downtime = time.monotonic() - killed_at
        await asyncio.gather(*journeys)
        counts = await c.settle(trainees)
    child = supervised.child(victim)
    c.report("sessions SIGKILLed", counts, restarts=child.restarts - before, crashes=child.crashes, downtime_s=round(downtime, 1))
    problems = [p for t in trainees for p in t.problems]
    assert counts["lost"] == 0 and counts["duplicates"] == 0, problems
    assert child.last_exit_code == -signal.SIGKILL and child.restarts == before + 1
