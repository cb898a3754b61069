"""Small asyncio helpers shared by the background loops."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger(__name__)


async def wait_any(*events: asyncio.Event | None, tasks: Iterable[asyncio.Future] = (), timeout: float) -> None:
    """Returns when any event is set, any task is done, or after `timeout` seconds."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events if event is not None]
    try:
        await asyncio.wait([*waiters, *tasks], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def heartbeat(beat: Callable[[], Awaitable[bool]], *, every_s: float, stop: asyncio.Event, name: str,
                    lost: asyncio.Event | None = None, lease_s: float | None = None) -> None:
    """Renews the leases a process holds: `beat` every `every_s` (a quarter of the lease, so a
    lease can be short and a dead holder's work moves within seconds) until `stop` is set.

    `beat` returns False when what it renews is no longer this process's (another holder took
    it after a stall): `lost` is set and the heartbeat ends. A beat that fails (the database
    away) is logged and tried again at the next one; when no beat has succeeded for `lease_s`,
    the lease has run out and may be someone else's: `lost` is set too. The holder stops its
    work when `lost` is set; its writes should still check that they hold the lease (fencing),
    since a stalled process learns it late."""
    renewed = time.monotonic()
    while not stop.is_set():
        await wait_any(stop, timeout=every_s)
        if stop.is_set():
            return
        try:
            held = await beat()
        except Exception as exc:  # the database away: the next beat tries again, the lease still runs
            log.warning("%s: cannot renew the lease: %r", name, exc)
            if lease_s is not None and time.monotonic() - renewed >= lease_s and lost is not None:
                log.warning("%s: the lease ran out before it could be renewed", name)
                lost.set()
                return
            continue
        if not held:
            log.warning("%s: the lease is no longer this process's", name)
            if lost is not None:
                lost.set()
            return
        renewed = time.monotonic()
