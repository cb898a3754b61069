"""The one adapter to AGORA (docs/agora-contract.md), over HTTP with a bearer token.

5xx, timeouts and transport errors are `AgoraUnavailable` and are retried here a few times
with exponential backoff and jitter (tenacity); any other answer is returned as is, the
caller decides between acknowledgement and rejection. Each call carries a W3C `traceparent`:
a new span of the current trace (the dispatcher sends inside the file's journey trace).
Every attempt is counted in an `AgoraReachability` (consecutive failures, last success),
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

from agora_gateway.domain.flows import is_transient
from agora_gateway.settings import AgoraGatewaySettings


class AgoraUnavailable(Exception):
    """AGORA did not answer usefully (5xx, timeout, connection refused): try again later."""


@dataclass
class AgoraReachability:
    """How AGORA has been answering this process: any useful answer (even a rejection) is a
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
class AgoraAnswer:
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


class AgoraClient:
    def __init__(
        self,
        settings: AgoraGatewaySettings,
        transport: httpx.AsyncBaseTransport | None = None,
        reachability: AgoraReachability | None = None,
    ):
        self.settings = settings
        self.reachability = reachability or AgoraReachability()
        self._http = httpx.AsyncClient(
            base_url=settings.agora_url,
            headers={"Authorization": f"Bearer {settings.agora_token.get_secret_value()}"},
            timeout=settings.agora_timeout_s,
            transport=transport,
        )

    async def __aenter__(self) -> AgoraClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self._http.aclose()

    def _retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(self.settings.send_attempts),
            wait=wait_exponential_jitter(
                initial=self.settings.send_backoff_initial_s, max=self.settings.send_backoff_max_s
            ),
            retry=retry_if_exception_type(AgoraUnavailable),
            reraise=True,
        )

    async def _post(self, path: str, body: dict, idempotency_key: str | None = None) -> AgoraAnswer:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        async for attempt in self._retrying():
            with attempt:
                if current_traceparent.get():  # each attempt is a span of its own in the trace
                    headers["traceparent"] = child_traceparent()
                try:
                    response = await self._attempt(path, body, headers)
                except AgoraUnavailable as exc:
                    self.reachability.failed(str(exc))
                    raise
                self.reachability.succeeded()
                try:
                    payload = response.json()
                except ValueError:
                    payload = {"code": f"http_{response.status_code}", "message": response.text[:500]}
                return AgoraAnswer(response.status_code, payload if isinstance(payload, dict) else {"value": payload})
        raise AssertionError("unreachable")  # reraise=True re-raises the last error

    async def _attempt(self, path: str, body: dict, headers: dict) -> httpx.Response:
        try:
            response = await self._http.post(path, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise AgoraUnavailable(f"timeout after {self.settings.agora_timeout_s}s ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise AgoraUnavailable(f"transport error: {type(exc).__name__}: {exc}") from None
        if is_transient(response.status_code):
            raise AgoraUnavailable(f"AGORA answered {response.status_code}")
        return response

    async def operate(self, request: dict, idempotency_key: str) -> AgoraAnswer:
        return await self._post("/v1/operations", request, idempotency_key)

    async def search(self, query: dict) -> list[dict]:
        answer = await self._post("/v1/files/search", query)
        return list(answer.body.get("files", [])) if answer.acknowledged else []

    async def bulk(self, request: dict, idempotency_key: str) -> AgoraAnswer:
        return await self._post("/v1/bulk/files", request, idempotency_key)
