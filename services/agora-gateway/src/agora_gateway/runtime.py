"""The gateway's runtime: what its requests, consumers and jobs share, typed."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from pacte_common.service import Runtime
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agora_gateway.clients.partner import PartnerReachability
from agora_gateway.settings import AgoraGatewaySettings


@dataclass
class GatewayGauges:
    """Prometheus gauges of the queue and of AGORA's reachability (app/metrics.py)."""

    flows: Gauge
    dossiers: Gauge
    waiting_nir: Gauge
    failures: Gauge
    reachable: Gauge
    ft_flows: Gauge | None = None
    ft_reachable: Gauge | None = None


@dataclass
class GatewayRuntime(Runtime):
    settings: AgoraGatewaySettings  # narrowed: the gateway's own settings
    # wake-ups: a flow may go now (queued, acknowledged, resent), a back-fill job was queued
    dispatch_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    backfill_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # this process's view of AGORA (consecutive failures, last success): /health/status, metrics
    agora_reachability: PartnerReachability = field(default_factory=PartnerReachability)
    # the same for France Travail's queue and reachability (app/france_travail.py)
    ft_dispatch_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    france_travail_reachability: PartnerReachability = field(default_factory=PartnerReachability)
    # the back-fill jobs this process runs now (job id → when it claimed it): /health/status
    backfill_held: dict[uuid.UUID, datetime] = field(default_factory=dict)
    gauges: GatewayGauges | None = None
    # SQLite: a second engine for reads that never wait for the write lock (db/reading.py)
    read_engine: AsyncEngine | None = None
    read_db_factory: async_sessionmaker[AsyncSession] | None = None

    def readers(self) -> async_sessionmaker[AsyncSession]:
        """Sessions for reads (the read engine on SQLite, else the main factory)."""
        return self.read_db_factory or self.db_factory
