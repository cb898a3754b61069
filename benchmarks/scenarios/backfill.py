"""AGORA back-fill: throughput and the gateway's peak memory.

The export is generated on disk, uploaded with POST /backfill to the gateway running as a real
child process (its own database, a Tansu broker, the AGORA sandbox in-process), and followed to
its report; peak resident memory is sampled from /proc. Targets (benchmarks/README.md): ≥ 5,000 lines/s on
1,000,000 lines with RSS ≤ 300 MB. The full run uses `PACTE_BENCH_BACKFILL_LINES` lines
(default 20,000: a million lines takes half an hour at today's speed)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid

import httpx
from agora_gateway.settings import AgoraGatewaySettings
from agora_sandbox.main import create_app as create_sandbox
from agora_sandbox.settings import AgoraSandboxSettings
from pacte_common.auth import OrgKind
from pacte_common.settings import BusSettings
from pacte_testing.agora import (
    export_line,
    gateway_environment,
    gateway_process,
    make_nir,
    serving,
)
from pacte_tools.broker import free_port, start_tansu, stop_process
from pacte_tools.dev_issuer import mint_token

from benchmarks.core import Context, Row, Scenario, cpu_seconds, rss_mib


async def run(context: Context) -> list[Row]:
    size = context.size(500, int(os.environ.get("PACTE_BENCH_BACKFILL_LINES", "20000")))
    export = context.workdir / f"export-{context.database}-{size}.ndjson"
    with export.open("w") as out:
        for i in range(size):
            out.write(json.dumps(export_line(nir=make_nir(i), status=["settled", "in_training", "exited"][i % 3])) + "\n")
    port = free_port()
    broker = start_tansu("127.0.0.1", port, context.workdir / f"backfill-broker-{context.database}.log")
    try:
        async with serving(create_sandbox(AgoraSandboxSettings())) as sandbox_url:
            settings = AgoraGatewaySettings(
                database_url=await context.database_url("gateway"),
                bus=BusSettings(bootstrap_servers=f"127.0.0.1:{port}", topic_namespace=f"bench{uuid.uuid4().hex[:6]}."),
                agora_url=sandbox_url,
                data_dir=context.workdir / f"gateway-data-{context.database}",
                log_json=False,
            )
            token = mint_token(settings, OrgKind.REGION, "region")
            log = context.workdir / f"gateway-{context.database}.log"
            async with gateway_process(gateway_environment(settings), log) as (url, process):
                async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
                    await _ready(client, process, log)
                    peak = rss_mib(process.pid)
                    started, gateway_cpu, own_cpu = time.perf_counter(), cpu_seconds(process.pid), time.process_time()
                    with export.open("rb") as upload:
                        answer = await client.post("/backfill", files={"file": ("export.ndjson", upload, "application/x-ndjson")})
                    answer.raise_for_status()
                    job_id = answer.json()["job_id"]
                    try:
                        while True:
                            peak = max(peak, rss_mib(process.pid))
                            job = (await client.get(f"/backfill/{job_id}")).json()
                            if job["status"] in ("completed", "failed"):
                                break
                            await asyncio.sleep(0.2)
                    except (httpx.TransportError, FileNotFoundError):
                        _tell_why_it_stopped(process, log)  # the work directory goes with the run
                        raise
                    elapsed = time.perf_counter() - started
                    gateway_cpu = cpu_seconds(process.pid) - gateway_cpu
                    own_cpu = time.process_time() - own_cpu  # the AGORA sandbox (in-process) and the polling
    finally:
        stop_process(broker)
    rate = size / elapsed
    # CPU per line says what one core would sustain whatever the machine's load (figure = wall clock).
    details = {"lines": size, "status": job["status"], "seconds": elapsed, "report": job.get("report"),
               "gateway_cpu_ms_per_line": round(1000 * gateway_cpu / size, 3),
               "sandbox_cpu_ms_per_line": round(1000 * own_cpu / size, 3),
               "load_average": os.getloadavg()}
    return [
        Row("AGORA back-fill", context.database, rate, "lines/s", "≥ 5,000 lines/s", met=rate >= 5000, details=details),
        Row("AGORA back-fill peak RSS", context.database, peak, "MiB", "≤ 300 MiB", met=peak <= 300, details=details),
    ]


async def _ready(client: httpx.AsyncClient, process, log) -> None:
    """The gateway answers (its start, with its migrations, may take over 30 s on a loaded machine:
    `gateway_process` stops waiting then)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.returncode is not None:
            _tell_why_it_stopped(process, log)
            raise RuntimeError("the gateway stopped while starting")
        try:
            if (await client.get("/health/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the gateway did not become ready within 180 s")


def _tell_why_it_stopped(process, log) -> None:
    print(f"    the gateway stopped answering (exit code {process.returncode}); last lines of its log:", file=sys.stderr)
    for line in log.read_text(errors="replace").splitlines()[-30:]:
        print(f"      {line[:300]}", file=sys.stderr)


SCENARIO = Scenario("backfill", "AGORA back-fill throughput and peak memory", run)
