"""Test support for France Travail: the France Travail sandbox over real HTTP (`running_ft_sandbox`),
with a client carrying its bearer token, and trainee stories whose person has an identifier."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from pacte_testing.agora import serving


def make_ft_id(seed: int) -> str:
    """A valid France Travail identifier (7 digits and a check letter) that the sandbox knows."""
    return f"{1000000 + seed % 8000000:07d}{'ABCDEFGH'[seed % 8]}"


@dataclass
class FtSandbox:
    url: str
    store: Any  # france_travail_sandbox.store.FranceTravailStore
    client: httpx.AsyncClient

    async def faults(self, **faults) -> None:
        response = await self.client.put("/v1/faults", json=faults)
        assert response.status_code == 200, response.text

    async def register(self, france_travail_id: str, **benefit) -> None:
        response = await self.client.post("/v1/job-seekers", json={"france_travail_id": france_travail_id, **benefit})
        assert response.status_code == 204, response.text

    async def certificates(self, dossier_id) -> list[dict]:
        response = await self.client.get("/v1/certificates", params={"reference": str(dossier_id)})
        assert response.status_code == 200, response.text
        return response.json()["certificates"]


@asynccontextmanager
async def running_ft_sandbox(**settings: Any) -> AsyncIterator[FtSandbox]:
    """The France Travail sandbox served over real HTTP (settings: FranceTravailSandboxSettings fields)."""
    from france_travail_sandbox.main import create_app
    from france_travail_sandbox.settings import DEV_SANDBOX_TOKEN, FranceTravailSandboxSettings

    app = create_app(FranceTravailSandboxSettings(**settings))
    async with serving(app) as url:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {DEV_SANDBOX_TOKEN}"}) as client:
            yield FtSandbox(url, app.state.store, client)
