"""Prometheus gauges of the queue (pending, sent, acknowledged, rejected, excluded, delegated).

They are counts of database rows, refreshed by a small job, so they survive restarts and
agree across processes.
"""

from __future__ import annotations

import asyncio

from pacte_common.service import Runtime
from prometheus_client import Gauge

from agora_gateway.db.models import Dossier, Flow
from agora_gateway.db.queries import count_by, waiting_for_nir_count
from agora_gateway.db.reading import read_sessions
from agora_gateway.domain.flows import FlowStatus
from agora_gateway.domain.perimeter import PerimeterStatus


def install_metrics(runtime: Runtime) -> None:
    runtime.extras["metrics"] = {
        "flows": Gauge("pacte_agora_flows", "AGORA flows by status", ["status"], registry=runtime.registry),
        "dossiers": Gauge("pacte_agora_dossiers", "Training files by perimeter decision", ["perimeter"], registry=runtime.registry),
        "waiting_nir": Gauge("pacte_agora_dossiers_waiting_nir", "Files whose creation waits for a NIR", registry=runtime.registry),
    }


async def refresh_metrics(runtime: Runtime) -> None:
    gauges = runtime.extras["metrics"]
    async with read_sessions(runtime)() as session:
        flows = await count_by(session, Flow.status)
        dossiers = await count_by(session, Dossier.perimeter_status)
        waiting = await waiting_for_nir_count(session)
    for status in FlowStatus:
        gauges["flows"].labels(status.value).set(flows.get(status.value, 0))
    for perimeter in PerimeterStatus:
        gauges["dossiers"].labels(perimeter.value).set(dossiers.get(perimeter.value, 0))
    gauges["waiting_nir"].set(waiting)


async def metrics_job(runtime: Runtime, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await refresh_metrics(runtime)
        try:
            await asyncio.wait_for(stop.wait(), runtime.settings.metrics_refresh_s)  # type: ignore[attr-defined]
        except TimeoutError:
            pass
