"""`pacte agora …`: the back-fill from the command line, against a running gateway.

    pacte agora backfill export.ndjson            # uploads, then follows with a progress bar
    pacte agora backfill-status JOB               # the report
    pacte agora backfill-rejections JOB -o rejected.ndjson
    pacte agora sandbox                           # runs the AGORA sandbox (port 8005)

The token defaults to a dev `region` token minted with the gateway's settings.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from agora_gateway.settings import AgoraGatewaySettings
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

app = typer.Typer(help="AGORA gateway: back-fill (reprise d'antériorité) and sandbox.", no_args_is_help=True)
console = Console()

GatewayUrl = Annotated[str | None, typer.Option("--gateway-url", help="Default: http://<host>:<port> from the gateway settings")]
Token = Annotated[str | None, typer.Option("--token", envvar="PACTE_TOKEN", help="Bearer token (default: a dev region token)")]
FINISHED = ("completed", "failed")


def _client(gateway_url: str | None, token: str | None, timeout: float = 60) -> httpx.Client:
    settings = AgoraGatewaySettings()
    if token is None:
        from pacte_common.auth import OrgKind

        from pacte_tools.dev_issuer import mint_token

        token = mint_token(settings, OrgKind.REGION, "region")
    return httpx.Client(
        base_url=gateway_url or f"http://{settings.host}:{settings.port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


def _check(response: httpx.Response) -> dict:
    if response.status_code >= 400:
        console.print(f"[red]{response.status_code}[/red] {response.text}")
        raise typer.Exit(1)
    return response.json()


def _print_report(job: dict) -> None:
    report = job["report"]
    table = Table(title=f"Back-fill {job['job_id']} — {job['status']}", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("lines read", report["read"]),
        ("invalid lines", report["invalid"]),
        ("skipped: session entry before the cut-off", report["skipped_by_date"]),
        *[(f"excluded: {reason}", n) for reason, n in report["excluded"].items()],
        ("delegated to France Travail", report["delegated"]),
        ("waiting for a NIR", report["waiting_nir"]),
        ("already followed by the gateway", report["already_known"]),
        ("sent", report["sent"]),
        ("acknowledged", report["acknowledged"]),
        *[(f"rejected: {code}", n) for code, n in report["rejected"].items()],
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    console.print(table)
    if job.get("error"):
        console.print(f"[red]error:[/red] {job['error']}")
    console.print(f"Rejected lines: {job['rejected_lines_url']}")


@app.command()
def backfill(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="NDJSON export (docs/agora-contract.md)")],
    gateway_url: GatewayUrl = None,
    token: Token = None,
    follow: Annotated[bool, typer.Option(help="Follow the job with a progress bar until it ends")] = True,
    poll_interval: Annotated[float, typer.Option(help="Seconds between progress polls")] = 0.5,
    idempotency_key: Annotated[str | None, typer.Option(help="Makes the upload safe to repeat")] = None,
) -> None:
    """Upload an export file to the gateway and follow the back-fill to its report."""
    with _client(gateway_url, token) as client:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        with file.open("rb") as export:  # httpx streams the multipart body from the file
            job = _check(client.post("/backfill", files={"file": (file.name, export, "application/x-ndjson")}, headers=headers))
        console.print(f"Back-fill job [bold]{job['job_id']}[/bold] queued")
        if not follow:
            return
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TextColumn("{task.fields[lines]} lines"),
            TimeRemainingColumn(), console=console, transient=False,
        ) as progress:
            task = progress.add_task("back-fill", total=job["size_bytes"] or 1, lines=0)
            while job["status"] not in FINISHED:
                time.sleep(poll_interval)
                job = _check(client.get(f"/backfill/{job['job_id']}"))
                progress.update(task, completed=job["bytes_processed"], lines=job["lines_read"])
        _print_report(job)
        if job["status"] == "failed":
            raise typer.Exit(1)


@app.command("backfill-status")
def backfill_status(job: str, gateway_url: GatewayUrl = None, token: Token = None, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show a back-fill's progress and report."""
    with _client(gateway_url, token) as client:
        data = _check(client.get(f"/backfill/{job}"))
    if as_json:
        console.print_json(json.dumps(data))
    else:
        console.print(f"{data['status']}: {data['lines_read']} lines, {data['progress']:.1%} of {data['filename']}")
        _print_report(data)


@app.command("backfill-rejections")
def backfill_rejections(
    job: str,
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the rejected lines (NDJSON)")],
    gateway_url: GatewayUrl = None,
    token: Token = None,
) -> None:
    """Download the lines that were not loaded, with their code and message."""
    with _client(gateway_url, token) as client, client.stream("GET", f"/backfill/{job}/rejections") as response:
        if response.status_code >= 400:
            response.read()
            _check(response)
        count = 0
        with output.open("w", encoding="utf-8") as target:
            for line in response.iter_lines():
                if line:
                    target.write(line + "\n")
                    count += 1
    console.print(f"{count} rejected lines written to {output}")


@app.command()
def sandbox(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8005,
) -> None:
    """Run the AGORA sandbox (the agora_sandbox package; settings from PACTE_AGORA_SANDBOX_*)."""
    import uvicorn

    uvicorn.run("agora_sandbox.main:create_app", factory=True, host=host, port=port)


if __name__ == "__main__":
    app()
