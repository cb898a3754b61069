"""The HTTP server's protocol with a header read timeout (docs/security.md, "Fair share").

uvicorn closes idle keep-alive connections but waits for ever for the headers of a request
that trickles in (slowloris): a hundred such connections stay open indefinitely. These
protocols close a connection whose request headers are not complete within
`PACTE_HEADER_READ_TIMEOUT_S` seconds, from its opening or from the end of its last response.
Started with `uvicorn --http pacte_common.http_server:HttpToolsWithHeaderTimeout` (pacte up,
docker-compose.yml).
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PACTE_", extra="ignore")

    header_read_timeout_s: float = Field(10.0, gt=0)


@cache
def header_read_timeout_s() -> float:
    """Read once per process: the protocol arms its timer on every connection and every response."""
    return ServerSettings().header_read_timeout_s


class _HeaderTimeout:
    """Mixed into a uvicorn protocol: a timer armed while request headers are awaited."""

    header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self.header_timer = self.loop.call_later(header_read_timeout_s(), self._headers_too_slow)

    def _disarm(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_too_slow(self) -> None:
        self.header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's headers are awaited under the same bound


class HttpToolsWithHeaderTimeout(_HeaderTimeout, HttpToolsProtocol):
    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()


class H11WithHeaderTimeout(_HeaderTimeout, H11Protocol):
    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # a request is being served: its headers are in
