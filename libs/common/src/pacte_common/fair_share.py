"""Fair share: no client can slow the others down (docs/security.md, "Fair share").

- **Rate limits per client**: routes named with `RateLimited("reports")` (expensive),
  `RateLimited("public")` (open to anyone) or `RateLimited("signing")` (attendance signing, open
  to anyone but often many trainees behind one address) count each client's requests in a moving window
  (the `limits` library, in memory: per instance); past the budget, 429 with `Retry-After`.
  A client is its bearer token (hashed) or, without one, its address.
- **A cap on heavy reports**: `HeavyReport` lets `heavy_reports_concurrency` of them run at once
  per instance; the next one waits up to `heavy_reports_wait_s`, then gets 503 with
  `Retry-After`, so the light routes keep their share of the database and the event loop.
- **A header read timeout** for the HTTP server: `pacte_common.http_server`.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from pacte_common.errors import ServiceBusy, TooManyRequests

# Documented on every route that takes a share (OpenAPI `responses=`).
FAIR_SHARE_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many requests from this client for this kind of route: retry after `Retry-After` seconds"},
    503: {"description": "Too many heavy reports running: retry after `Retry-After` seconds"},
}


# The kinds of route that have a budget: a settings dict that leaves one out is refused at start,
# never read as "no limit".
BUCKETS = ("reports", "public", "signing")


class FairShare:
    """One per application: the rate limiter and the heavy-report slots."""

    def __init__(self, rate_limits: dict[str, str], heavy_concurrency: int, heavy_wait_s: float):
        missing = [bucket for bucket in BUCKETS if bucket not in rate_limits]
        if missing:
            raise ValueError(f"rate_limits: no budget for {', '.join(missing)} (e.g. \"60/minute\")")
        self.limits = {bucket: parse(text) for bucket, text in rate_limits.items()}
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.heavy = asyncio.Semaphore(heavy_concurrency)
        self.heavy_wait_s = heavy_wait_s

    def take(self, bucket: str, client: str) -> None:
        limit = self.limits[bucket]
        if self.limiter.hit(limit, bucket, client):
            return
        reset = self.limiter.get_window_stats(limit, bucket, client).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise TooManyRequests(f"More than {limit} {bucket} requests from this client: retry in {wait} s",
                              retry_after_s=wait, bucket=bucket)

    async def heavy_slot(self) -> AsyncIterator[None]:
        try:
            await asyncio.wait_for(self.heavy.acquire(), self.heavy_wait_s)
        except TimeoutError:
            raise ServiceBusy("Too many heavy reports are running: retry shortly",
                              retry_after_s=max(1, math.ceil(self.heavy_wait_s))) from None
        try:
            yield
        finally:
            self.heavy.release()


def client_of(request: Request) -> str:
    """The client a budget belongs to: its bearer token (hashed, never kept), else its address."""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return "token:" + hashlib.sha256(authorization[7:].strip().encode()).hexdigest()[:32]
    return "address:" + (request.client.host if request.client else "unknown")


def fair_share_of(request: Request) -> FairShare:
    return request.app.state.fair_share


def RateLimited(bucket: str) -> Any:  # noqa: N802 - reads as a type in a signature, like FastAPI's Depends
    """A dependency that spends one request of the client's `bucket` budget (429 past it)."""
    if bucket not in BUCKETS:
        raise ValueError(f"unknown rate-limit bucket {bucket!r}: one of {', '.join(BUCKETS)}")

    def spend(request: Request) -> None:
        fair_share_of(request).take(bucket, client_of(request))

    return Depends(spend)


async def _heavy(request: Request) -> AsyncIterator[None]:
    async for _ in fair_share_of(request).heavy_slot():
        yield


# In a route's `dependencies=[...]`: the request holds one heavy-report slot while it runs.
HeavyReport = Depends(_heavy)
