"""AGORA back-fill: throughput and the gateway's memory for two export sizes.

    uv run python benchmarks/backfill.py [--sizes 20000 80000]

For each size: a fresh SQLite database and Tansu broker, the AGORA sandbox in-process, the
gateway as a real child process; the export is generated on disk, uploaded with POST
/backfill, and followed to its report. Prints lines/s and the gateway's peak resident
memory (sampled from /proc), and the ratio of peak memory between the largest and the
smallest size: a streamed back-fill keeps it near 1 (memory flat whatever the file's size).
Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from agora_gateway.sandbox.main import create_app as create_sandbox
from agora_gateway.sandbox.settings import AgoraSandboxSettings
from agora_gateway.settings import AgoraGatewaySettings
from agora_gateway.testing import (
    export_line,
    gateway_environment,
    gateway_process,
    make_nir,
    serving,
)
from pacte_common.auth import OrgKind, mint_token
from pacte_common.broker import free_port, start_tansu, stop_process
from pacte_common.settings import BusSettings


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def run(size: int, workdir: Path, bootstrap: str) -> dict:
    export = workdir / f"export-{size}.ndjson"
    with export.open("w") as out:
        for i in range(size):
            out.write(json.dumps(export_line(nir=make_nir(i), status=["settled", "in_training", "exited"][i % 3])) + "\n")
    async with serving(create_sandbox(AgoraSandboxSettings())) as sandbox_url:
        settings = AgoraGatewaySettings(
            database_url=f"sqlite+aiosqlite:///{workdir / f'gateway-{size}.db'}",
            bus=BusSettings(bootstrap_servers=bootstrap, topic_namespace=f"bench{uuid.uuid4().hex[:6]}."),
            agora_url=sandbox_url,
            data_dir=workdir / f"data-{size}",
            log_json=False,
        )
        token = mint_token(settings, OrgKind.REGION, "region")
        async with gateway_process(gateway_environment(settings), workdir / f"gateway-{size}.log") as (url, process):
            async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
                peak = rss_kib(process.pid)
                started = time.perf_counter()
                with export.open("rb") as upload:
                    answer = await client.post("/backfill", files={"file": ("export.ndjson", upload, "application/x-ndjson")})
                answer.raise_for_status()
                job_id = answer.json()["job_id"]
                while True:
                    peak = max(peak, rss_kib(process.pid))
                    job = (await client.get(f"/backfill/{job_id}")).json()
                    if job["status"] in ("completed", "failed"):
                        break
                    await asyncio.sleep(0.2)
                elapsed = time.perf_counter() - started
    return {"size": size, "status": job["status"], "seconds": elapsed, "lines_per_s": size / elapsed,
            "peak_rss_mib": peak / 1024, "acknowledged": job["report"]["acknowledged"]}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 80_000])
    args = parser.parse_args()
    port = free_port()
    broker = start_tansu("127.0.0.1", port)
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for size in args.sizes:
                results.append(await run(size, Path(tmp), f"127.0.0.1:{port}"))
    finally:
        stop_process(broker)
    for r in results:
        print(f"{r['size']:>8} lines  {r['status']:<9} {r['seconds']:7.1f} s  {r['lines_per_s']:7.0f} lines/s  "
              f"peak RSS {r['peak_rss_mib']:6.1f} MiB  acknowledged {r['acknowledged']}")
    if len(results) > 1:
        print(f"peak memory ratio largest/smallest: {results[-1]['peak_rss_mib'] / results[0]['peak_rss_mib']:.2f} "
              f"for {results[-1]['size'] / results[0]['size']:.0f}x the lines")


if __name__ == "__main__":
    asyncio.run(main())
