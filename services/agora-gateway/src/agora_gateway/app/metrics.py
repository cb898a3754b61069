"""The metrics job: Prometheus gauges of the queue (pending, sent, acknowledged, rejected, excluded, delegated).

They are counts of database rows, refreshed by a small job, so they survive restarts and
agree across processes. AGORA reachability (consecutive failed calls, last success) is this
process's own view, also a part of `/health/status`: degraded after
`agora_degraded_after_failures` failed calls in a row.
"""

from __future__ import annotations

import asyncio
import time

from pacte_common.service import Component
from prometheus_client import Gauge

from agora_gateway.db.france_travail import ft_waiting_count
from agora_gateway.db.models import Dossier, Flow, FtFlow
from agora_gateway.db.queries import count_by, waiting_for_nir_count
from agora_gateway.domain.flows import FlowStatus
from agora_gateway.domain.perimeter import PerimeterStatus
from agora_gateway.runtime import GatewayGauges, GatewayRuntime


def install_metrics(runtime: GatewayRuntime) -> None:
    registry = runtime.registry
    runtime.gauges = GatewayGauges(
        flows=Gauge("pacte_agora_flows", "AGORA flows by status", ["status"], registry=registry),
        dossiers=Gauge("pacte_agora_dossiers", "Training files by perimeter decision", ["perimeter"], registry=registry),
        waiting_nir=Gauge("pacte_agora_dossiers_waiting_nir", "Files whose creation waits for a NIR", registry=registry),
        failures=Gauge("pacte_agora_consecutive_failures", "AGORA calls failed in a row (5xx, timeout, no connection)", registry=registry),
        reachable=Gauge("pacte_agora_reachable", "1 unless the last AGORA call failed", registry=registry),
    )
    runtime.gauges.ft_flows = Gauge("pacte_france_travail_flows", "France Travail certificates by status", ["status"], registry=registry)
    runtime.gauges.ft_reachable = Gauge("pacte_france_travail_reachable", "1 unless the last France Travail call failed", registry=registry)
    runtime.status_providers.append(agora_status)
    if runtime.settings.france_travail_enabled:
        runtime.status_providers.append(france_travail_status)


async def agora_status(runtime: GatewayRuntime) -> Component:
    reachability = runtime.agora_reachability
    threshold = runtime.settings.agora_degraded_after_failures
    now = time.time()
    details = {
        "reachable": reachability.consecutive_failures == 0,
        "consecutive_failures": reachability.consecutive_failures,
        "total_failures": reachability.total_failures,
        "seconds_since_last_success": round(now - reachability.last_success_at, 1) if reachability.last_success_at else None,
        "last_error": reachability.last_error if reachability.consecutive_failures else None,
    }
    problems = []
    if reachability.consecutive_failures >= threshold:
        problems.append(f"AGORA unreachable: {reachability.consecutive_failures} failed calls in a row ({reachability.last_error})")
    return Component("agora", details, problems)


async def france_travail_status(runtime: GatewayRuntime) -> Component:
    """France Travail as this process sees it: unreachable after a few failed calls in a row."""
    reachability = runtime.france_travail_reachability
    threshold = runtime.settings.france_travail_degraded_after_failures
    async with runtime.readers()() as db:
        waiting = await ft_waiting_count(db)
    details = {
        "reachable": reachability.consecutive_failures == 0,
        "consecutive_failures": reachability.consecutive_failures,
        "total_failures": reachability.total_failures,
        "files_waiting_for_identifier": waiting,
        "last_error": reachability.last_error if reachability.consecutive_failures else None,
    }
    problems = []
    if reachability.consecutive_failures >= threshold:
        problems.append(f"France Travail unreachable: {reachability.consecutive_failures} failed calls in a row ({reachability.last_error})")
    return Component("france_travail", details, problems)


async def refresh_metrics(runtime: GatewayRuntime) -> None:
    gauges = runtime.gauges
    assert gauges is not None, "install_metrics first"
    async with runtime.readers()() as db:
        flows = await count_by(db, Flow.status)
        dossiers = await count_by(db, Dossier.perimeter_status)
        waiting = await waiting_for_nir_count(db)
        ft_flows = await count_by(db, FtFlow.status)
    for status in FlowStatus:
        gauges.flows.labels(status.value).set(flows.get(status.value, 0))
    for perimeter in PerimeterStatus:
        gauges.dossiers.labels(perimeter.value).set(dossiers.get(perimeter.value, 0))
    gauges.waiting_nir.set(waiting)
    reachability = runtime.agora_reachability
    gauges.failures.set(reachability.consecutive_failures)
    gauges.reachable.set(0 if reachability.consecutive_failures else 1)
    if gauges.ft_flows is not None and gauges.ft_reachable is not None:
        for status in FlowStatus:
            gauges.ft_flows.labels(status.value).set(ft_flows.get(status.value, 0))
        gauges.ft_reachable.set(0 if runtime.france_travail_reachability.consecutive_failures else 1)


async def metrics_job(runtime: GatewayRuntime, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await refresh_metrics(runtime)
        try:
            await asyncio.wait_for(stop.wait(), runtime.settings.metrics_refresh_s)
        except TimeoutError:
            pass
