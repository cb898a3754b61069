"""`pacte bench [--quick] [--only NAME …] [--database sqlite|postgresql|both]`.

Runs each scenario on each database kind, prints figure, baseline, ratio, target and the load
average, writes benchmarks/results.json (or --json) and, after a full run of every scenario,
regenerates the table in benchmarks/README.md. `--quick` runs each scenario at a tiny size so
that CI proves the benchmarks still run; its figures mean nothing."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import tempfile
from pathlib import Path

import typer
from pacte_testing import use_test_issuer

from benchmarks.core import (
    RESULTS,
    Context,
    Row,
    Scenario,
    print_rows,
    regenerate_readme,
    write_results,
)

SCENARIOS = ("http", "bus", "backfill", "idle", "indicators", "payrun", "latency", "ft_latency", "fairshare", "jwks",
             "attendance", "publicsearch")
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"


def load(name: str) -> Scenario:
    return importlib.import_module(f"benchmarks.scenarios.{'http_api' if name == 'http' else name}").SCENARIO


async def run_all(names: list[str], databases: list[str], quick: bool, postgres_server: str) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="pacte-bench-") as tmp:
        use_test_issuer(Path(tmp) / "issuer")  # development mode and a signing key for in-process tokens
        for name in names:
            scenario = load(name)
            for database in databases:
                if database not in scenario.databases:
                    continue
                print(f"== {scenario.name} on {database}: {scenario.what}", file=sys.stderr)
                context = Context(quick=quick, database=database, workdir=Path(tmp), postgres_server=postgres_server)
                try:
                    rows.extend(await scenario.run(context))
                finally:
                    await context.drop_databases()
    return rows


def main(
    quick: bool = typer.Option(False, help="Tiny sizes: proves every scenario runs (CI), figures mean nothing."),
    only: list[str] = typer.Option(list(SCENARIOS), help=f"Scenarios to run: {', '.join(SCENARIOS)}."),
    database: str = typer.Option("both", help="sqlite, postgresql or both."),
    json_path: Path = typer.Option(RESULTS, "--json", help="Where to write the results."),
) -> None:
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        raise typer.BadParameter(f"unknown scenario(s): {', '.join(sorted(unknown))}", param_hint="--only")
    databases = ["sqlite", "postgresql"] if database == "both" else [database]
    postgres_server = os.environ.get("PACTE_BENCH_POSTGRES_SERVER", DEFAULT_POSTGRES)
    rows = asyncio.run(run_all(list(only), databases, quick, postgres_server))
    print_rows(rows)
    document = write_results(rows, json_path, quick)
    if not quick and set(only) == set(SCENARIOS) and database == "both" and json_path == RESULTS:
        regenerate_readme(document)
    if any(row.details.get("errors") for row in rows):
        raise typer.Exit(1)  # a benchmark whose requests failed measures nothing


if __name__ == "__main__":
    typer.run(main)
