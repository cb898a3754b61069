"""What every outbound partner adapter shares (AGORA, France Travail): JSON over HTTP with a
bearer token, quick retries of an unavailable partner, and the partner's reachability.

5xx, timeouts and transport errors are `PartnerUnavailable` and are retried here a few times
with exponential backoff and jitter (tenacity); any other answer is returned as is, the
caller decides between acknowledgement and rejection. Each call carries a W3C `traceparent`:
a new span of the current trace (the dispatcher sends inside the file's journey trace).
Every attempt is counted in a `PartnerReachability` (consecutive failures, last success),
which `/health/status` and the metrics show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from pacte_common.tracing import child_traceparent, current_traceparent
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from agora_gateway.domain.outbound import is_transient


class PartnerUnavailable(Exception):
    """The partner did not answer usefully (5xx, timeout, connection refused): try again later."""


@dataclass
class PartnerReachability:
    """How a partner has been answering this process: any useful answer (even a rejection) is a
    success; a 5xx, a timeout or no connection is a failure."""

    consecutive_failures: int = 0
    total_failures: int = 0
    last_success_at: float | None = None  # epoch seconds
    last_failure_at: float | None = None
    last_error: str | None = None

    def succeeded(self) -> None:
        self.consecutive_failures = 0
        self.last_success_at = time.time()

    def failed(self, error: str) -> None:
        self.consecutive_failures += 1
        self.total_failures += 1
        self.last_failure_at = time.time()
        self.last_error = error[:300]


@dataclass(frozen=True)
class PartnerAnswer:
    status_code: int
    body: dict[str, Any]

    @property
    def acknowledged(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def code(self) -> str:
        return str(self.body.get("code") or f"http_{self.status_code}")

    @property
    def message(self) -> str:
        return str(self.body.get("message") or "")


@dataclass(frozen=True)
class PartnerEndpoint:
    """Where a partner is and how patiently it is called (from the gateway's settings)."""

    name: str  # AGORA, France Travail: in error messages
    url: str
    token: str
    timeout_s: float
    attempts: int
    backoff_initial_s: float
    backoff_max_s: float


class PartnerClient:
    unavailable: type[PartnerUnavailable] = PartnerUnavailable
    answer_type: type[PartnerAnswer] = PartnerAnswer

    def __init__(self, endpoint: PartnerEndpoint, transport: httpx.AsyncBaseTransport | None = None,
                 reachability: PartnerReachability | None = None):
        self.endpoint = endpoint
        self.reachability = reachability or PartnerReachability()
        self._http = httpx.AsyncClient(
            base_url=endpoint.url, headers={"Authorization": f"Bearer {endpoint.token}"},
            timeout=endpoint.timeout_s, transport=transport,
        )

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self._http.aclose()

    def _retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(self.endpoint.attempts),
            wait=wait_exponential_jitter(initial=self.endpoint.backoff_initial_s, max=self.endpoint.backoff_max_s),
            retry=retry_if_exception_type(PartnerUnavailable),
            reraise=True,
        )

    async def _post(self, path: str, body: dict, idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        async for attempt in self._retrying():
            with attempt:
                if current_traceparent.get():  # each attempt is a span of its own in the trace
                    headers["traceparent"] = child_traceparent()
                try:
                    response = await self._attempt(path, body, headers)
                except PartnerUnavailable as exc:
                    self.reachability.failed(str(exc))
                    raise
                self.reachability.succeeded()
                try:
                    payload = response.json()
                except ValueError:
                    payload = {"code": f"http_{response.status_code}", "message": response.text[:500]}
                return self.answer_type(response.status_code, payload if isinstance(payload, dict) else {"value": payload})
        raise AssertionError("unreachable")  # reraise=True re-raises the last error

    async def _attempt(self, path: str, body: dict, headers: dict) -> httpx.Response:
        try:
            response = await self._http.post(path, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise self.unavailable(f"timeout after {self.endpoint.timeout_s}s ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise self.unavailable(f"transport error: {type(exc).__name__}: {exc}") from None
        if is_transient(response.status_code):
            raise self.unavailable(f"{self.endpoint.name} answered {response.status_code}")
        return response
