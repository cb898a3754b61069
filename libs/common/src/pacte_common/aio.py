"""Small asyncio helpers shared by the background loops."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


async def wait_any(*events: asyncio.Event | None, tasks: Iterable[asyncio.Future] = (), timeout: float) -> None:
    """Returns when any event is set, any task is done, or after `timeout` seconds."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events if event is not None]
    try:
        await asyncio.wait([*waiters, *tasks], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
