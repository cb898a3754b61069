"""The idle suite: CPU used by every process of `pacte up` (broker included) with no traffic,
in % of one core, over 30 s (`PACTE_BENCH_IDLE_SECONDS`). Target (benchmarks/README.md): < 5 %,
whatever the number of services."""

from __future__ import annotations

import asyncio
import os
import uuid

from pacte_tools.suite import SERVICES, Suite, SuiteSettings, drop_postgres_databases

from benchmarks.core import Context, Row, Scenario, cpu_seconds

TARGET_PERCENT = 5.0


async def run(context: Context) -> list[Row]:
    settings = SuiteSettings.on_free_ports(context.workdir / f"idle-{context.database}")
    if context.database == "postgresql":
        settings.postgres_url = context.postgres_server
        settings.database_name_prefix = f"pacte_bench_{uuid.uuid4().hex[:6]}_"
    suite = Suite(settings)
    seconds = context.size(5, float(os.environ.get("PACTE_BENCH_IDLE_SECONDS", 30)))
    try:
        await asyncio.to_thread(suite.start)
        await asyncio.to_thread(suite.wait_ready)
        await asyncio.sleep(context.size(2, 10))  # let start-up work settle
        pids = {name: p.pid for name, p in suite.processes.items()}
        pids.update({name: p.pid for name, p in (("broker", suite.broker), ("dev-issuer", suite.issuer)) if p is not None})
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        await asyncio.sleep(seconds)
        by_process = {name: round(100 * (cpu_seconds(pid) - before[name]) / seconds, 2) for name, pid in pids.items()}
    finally:
        await asyncio.to_thread(suite.stop)
        if settings.postgres_url:
            await drop_postgres_databases(settings.postgres_url, [suite.database_url(s) for s in SERVICES if s.has_database])
    percent = sum(by_process.values())
    # Per process: where the idle CPU goes (an idle uvicorn process alone ticks every 0.1 s).
    return [Row("idle suite CPU", context.database, percent, "% of a core", f"< {TARGET_PERCENT:g} %", met=percent < TARGET_PERCENT,
                details={"seconds": seconds, "processes": len(pids), "by_process": by_process})]


SCENARIO = Scenario("idle", "CPU of the whole suite with no traffic", run)
