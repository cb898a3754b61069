"""The one adapter to AGORA (docs/agora-contract.md), over HTTP with a bearer token: the
outbound engine's partner client (clients/partner.py) with AGORA's three calls.
"""

from __future__ import annotations

import httpx

from agora_gateway.clients.partner import (
    PartnerAnswer,
    PartnerClient,
    PartnerEndpoint,
    PartnerReachability,
    PartnerUnavailable,
)
from agora_gateway.settings import AgoraGatewaySettings

# AGORA's reachability is the engine's (one per partner, in the runtime).
AgoraReachability = PartnerReachability


class AgoraUnavailable(PartnerUnavailable):
    """AGORA did not answer usefully (5xx, timeout, connection refused): try again later."""


class AgoraAnswer(PartnerAnswer):
    pass


def agora_endpoint(settings: AgoraGatewaySettings) -> PartnerEndpoint:
    return PartnerEndpoint(
        name="AGORA", url=settings.agora_url, token=settings.agora_token.get_secret_value(),
        timeout_s=settings.agora_timeout_s, attempts=settings.send_attempts,
        backoff_initial_s=settings.send_backoff_initial_s, backoff_max_s=settings.send_backoff_max_s,
    )


class AgoraClient(PartnerClient):
    unavailable = AgoraUnavailable
    answer_type = AgoraAnswer

    def __init__(
        self,
        settings: AgoraGatewaySettings,
        transport: httpx.AsyncBaseTransport | None = None,
        reachability: PartnerReachability | None = None,
    ):
        super().__init__(agora_endpoint(settings), transport=transport, reachability=reachability)
        self.settings = settings

    async def operate(self, request: dict, idempotency_key: str) -> AgoraAnswer:
        return await self._post("/v1/operations", request, idempotency_key)

    async def search(self, query: dict) -> list[dict]:
        answer = await self._post("/v1/files/search", query)
        return list(answer.body.get("files", [])) if answer.acknowledged else []

    async def bulk(self, request: dict, idempotency_key: str) -> AgoraAnswer:
        return await self._post("/v1/bulk/files", request, idempotency_key)
