"""The lease heartbeat (pacte_common.aio.heartbeat): beats until stopped, says when the lease is lost."""

from __future__ import annotations

import asyncio

from pacte_common.aio import heartbeat


async def test_beats_every_period_until_stopped():
    beats = 0

    async def beat() -> bool:
        nonlocal beats
        beats += 1
        return True

    stop, lost = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(heartbeat(beat, every_s=0.02, stop=stop, lost=lost, lease_s=0.08, name="test"))
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(task, 1)
    assert beats >= 4 and not lost.is_set()


async def test_a_lease_taken_by_another_holder_is_lost_at_once():
    answers = iter([True, True, False, True])

    async def beat() -> bool:
        return next(answers)

    stop, lost = asyncio.Event(), asyncio.Event()
    await asyncio.wait_for(heartbeat(beat, every_s=0.01, stop=stop, lost=lost, lease_s=1.0, name="test"), 1)
    assert lost.is_set()


async def test_failing_beats_lose_the_lease_once_it_has_run_out():
    calls = 0

    async def beat() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            return True
        raise ConnectionError("database away")

    stop, lost = asyncio.Event(), asyncio.Event()
    await asyncio.wait_for(heartbeat(beat, every_s=0.02, stop=stop, lost=lost, lease_s=0.1, name="test"), 2)
    # failures retried until the lease ran out, not lost at the first (a loaded machine beats less often)
    assert lost.is_set() and calls >= 3

    # without a lease to watch (claims fenced by their own version), failures only retry
    stop, lost = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(heartbeat(beat, every_s=0.01, stop=stop, lost=lost, name="test"))
    await asyncio.sleep(0.1)
    assert not task.done() and not lost.is_set()
    stop.set()
    await asyncio.wait_for(task, 1)
