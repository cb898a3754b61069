"""The console's only source of data: the services' HTTP APIs, called with the operator's
own token, so every authorisation rule stays in the service that owns the data."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


@dataclass
class ServiceError(Exception):
    """A service answered with an error (problem+json) or could not be reached."""

    service: str
    status: int
    title: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.service}: {self.status} {self.title}" + (f" — {self.detail}" if self.detail else "")

    @property
    def unauthorised(self) -> bool:
        return self.status == 401

    @property
    def forbidden(self) -> bool:
        return self.status == 403


class Backend:
    """One shared async HTTP client; each call carries the signed-in operator's bearer token."""

    def __init__(self, client: httpx.AsyncClient, urls: dict[str, str], max_parallel: int,
                 observability_token: str | None = None):
        self.client = client
        self.urls = urls
        self.max_parallel = max_parallel
        # The token the services ask for /metrics and /health/status, when they ask one (not an operator's).
        self.observability_token = observability_token

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        token: str | None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        headers: dict[str, str] | None = None,
        accept_status: Iterable[int] = (),
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self.client.request(method, self.urls[service] + path, params=clean, json=json, content=content,
                                                 files=files, headers=all_headers)
        except httpx.HTTPError as exc:
            raise ServiceError(service, 503, "unreachable", f"{type(exc).__name__} calling {path}") from None
        if response.status_code >= 400 and response.status_code not in accept_status:
            raise problem_of(service, response)
        return response

    async def get_json(self, service: str, path: str, *, token: str | None, params: dict[str, Any] | None = None) -> Any:
        return (await self.call(service, "GET", path, token=token, params=params)).json()

    async def gather(self, calls: Iterable[Callable[[], Awaitable[T]]]) -> list[T]:
        """Runs calls concurrently, at most `max_parallel` at once, answers in order."""
        limit = asyncio.Semaphore(self.max_parallel)

        async def one(call: Callable[[], Awaitable[T]]) -> T:
            async with limit:
                return await call()

        return list(await asyncio.gather(*(one(c) for c in calls)))


def problem_of(service: str, response: httpx.Response) -> ServiceError:
    title, detail = response.reason_phrase, ""
    if "json" in response.headers.get("content-type", ""):
        try:
            body = response.json()
        except ValueError:
            body = {}
        if isinstance(body, dict):
            title = str(body.get("title") or title)
            detail = str(body.get("detail") or "")
            errors = body.get("errors")
            if isinstance(errors, list) and errors and not detail:
                detail += " " + "; ".join(f"{e.get('field', '')}: {e.get('message', '')}" for e in errors if isinstance(e, dict))
    return ServiceError(service, response.status_code, title, detail.strip())
