"""Scheduled jobs (pacte_common.schedule): one run per interval whatever the number of instances,
none again early after a restart, a failure recorded. Real database (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pacte_common.db import create_engine, new_metadata, session_factory
from pacte_common.schedule import last_turns, run_on_schedule, scheduled_jobs_table

metadata = new_metadata()
table = scheduled_jobs_table(metadata)


@pytest.fixture
async def factory(database_url):
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield session_factory(engine)
    await engine.dispose()


async def run_instances(factory, instances: list[str], seconds: float, interval_s: float, work_for):
    stop = asyncio.Event()
    tasks = [asyncio.create_task(run_on_schedule(factory, stop, table, "purge", interval_s, work_for(name), instance=name))
             for name in instances]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)


async def test_three_instances_run_a_job_once_per_interval_and_a_restart_waits_its_turn(factory):
    runs: list[str] = []
    starts = []  # each run's turn as the database recorded it (what the interval is measured on)

    def work_for(name):
        async def work() -> str:
            runs.append(name)
            [turn] = await last_turns(factory, table)
            starts.append(turn.started_at)
            return f"done by {name}"
        return work

    await run_instances(factory, ["a", "b", "c"], seconds=2.2, interval_s=1.0, work_for=work_for)
    # At about 0, 1 and 2 s (the last may fall past the end on a loaded machine): one instance
    # each time, never three at once, never two within an interval.
    assert 2 <= len(runs) <= 3, runs
    # The loop's own clock when the work starts is no measure: a slow commit delays one run's
    # start, not the next turn's time.
    assert all(later - earlier >= timedelta(seconds=1) for earlier, later in zip(starts, starts[1:], strict=False)), starts
    [turn] = await last_turns(factory, table)
    assert turn.job == "purge" and turn.started_by == runs[-1] and turn.outcome == f"done by {runs[-1]}"

    runs.clear()  # "restarted" (a daily job, say) within its interval: the next turn is at its time, not now
    await run_instances(factory, ["d"], seconds=0.3, interval_s=60.0, work_for=work_for)
    assert runs == []


async def test_a_failed_run_is_recorded_and_the_next_turn_comes_at_its_time(factory):
    calls = []

    def work_for(name):
        async def work() -> str:
            calls.append(name)
            if len(calls) == 1:
                raise RuntimeError("database away")
            return "ok"
        return work

    await run_instances(factory, ["a"], seconds=0.1, interval_s=0.3, work_for=work_for)
    [turn] = await last_turns(factory, table)
    assert calls == ["a"] and turn.outcome == "failed: RuntimeError: database away"
    await run_instances(factory, ["a"], seconds=0.8, interval_s=0.3, work_for=work_for)
    [turn] = await last_turns(factory, table)
    assert len(calls) >= 2 and turn.outcome == "ok"  # the next turn came, and went well
