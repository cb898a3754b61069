"""The adapter to France Travail (docs/france-travail.md, the contract): the outbound engine's
partner client with its one call, a certificate under an idempotency key."""

from __future__ import annotations

from agora_gateway.clients.partner import (
    PartnerAnswer,
    PartnerClient,
    PartnerEndpoint,
    PartnerReachability,
    PartnerUnavailable,
)
from agora_gateway.settings import AgoraGatewaySettings


class FranceTravailUnavailable(PartnerUnavailable):
    """France Travail did not answer usefully (5xx, timeout, connection refused): try again later."""


def france_travail_endpoint(settings: AgoraGatewaySettings) -> PartnerEndpoint:
    return PartnerEndpoint(
        name="France Travail", url=settings.france_travail_url, token=settings.france_travail_token.get_secret_value(),
        timeout_s=settings.france_travail_timeout_s, attempts=settings.send_attempts,
        backoff_initial_s=settings.send_backoff_initial_s, backoff_max_s=settings.send_backoff_max_s,
    )


class FranceTravailClient(PartnerClient):
    unavailable = FranceTravailUnavailable

    def __init__(self, settings: AgoraGatewaySettings, reachability: PartnerReachability | None = None):
        super().__init__(france_travail_endpoint(settings), reachability=reachability)

    async def certify(self, request: dict, idempotency_key: str) -> PartnerAnswer:
        return await self._post("/v1/certificates", request, idempotency_key)
