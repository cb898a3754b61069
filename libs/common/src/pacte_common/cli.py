"""`pacte`: the suite's command line (dev stack, tokens, tests, operator commands)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console

from pacte_common.auth import OrgKind, mint_token
from pacte_common.crypto import new_key
from pacte_common.settings import ServiceSettings
from pacte_common.suite import SERVICES, Suite, SuiteSettings, broker_port_taken

app = typer.Typer(help="Pacte: run the suite, mint dev tokens, run the tests, operate the bus.", no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def token(
    kind: Annotated[OrgKind, typer.Option(help="prescriber, training_org, region or paying_agency")],
    org: Annotated[str, typer.Option(help="Structure code (prescriber), SIRET (training_org), or any id")] = "region",
    hours: Annotated[float, typer.Option(help="Validity in hours")] = 12,
) -> None:
    """Prints a bearer JWT for the embedded default (signed with the dev secret unless PACTE_JWT_SECRET is set)."""
    settings = ServiceSettings(_env_prefix="PACTE_")
    typer.echo(mint_token(settings, kind, org, timedelta(hours=hours)))


@app.command()
def up(
    postgres: Annotated[str, typer.Option(help="PostgreSQL server URL (postgresql+asyncpg://user@host:port): one database per service")] = "",
    bootstrap: Annotated[str, typer.Option(help="External Kafka bootstrap servers instead of the embedded Tansu")] = "",
) -> None:
    """Starts the whole suite (broker, AGORA sandbox, four services) and waits for Ctrl-C or `pacte down`."""
    settings = SuiteSettings()
    if postgres:
        settings.postgres_url = postgres
    if bootstrap:
        settings.bootstrap_servers = bootstrap
    if broker_port_taken(settings):
        console.print(f"[red]Port {settings.broker_port} is taken: is the suite already running? (`pacte down`)[/red]")
        raise typer.Exit(1)
    suite = Suite(settings)
    pid_file = settings.data_dir / "pacte-up.pid"
    stopping = False

    def request_stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        with console.status("starting broker and services…"):
            suite.start()
            pid_file.write_text(str(os.getpid()))
            suite.wait_ready()
        console.print(f"[green]Pacte is up[/green] (broker {suite.bootstrap}, data in {settings.data_dir.resolve()})")
        for spec in SERVICES:
            console.print(f"  {spec.name:<14} {suite.url(spec.name)}/docs")
        console.print("Stop with Ctrl-C or `pacte down`.")
        while not stopping:
            for name, process in suite.processes.items():
                if process.poll() is not None:
                    console.print(f"[red]{name} stopped (code {process.returncode}); see {settings.data_dir}/logs/{name}.log[/red]")
                    stopping = True
            time.sleep(0.5)  # the signal handler interrupts the sleep and sets `stopping`
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        console.print("stopping…")
        suite.stop()
        pid_file.unlink(missing_ok=True)


@app.command()
def down() -> None:
    """Stops a suite started with `pacte up`."""
    pid_file = SuiteSettings().data_dir / "pacte-up.pid"
    if not pid_file.exists():
        console.print("no running suite found")
        raise typer.Exit(0)
    os.kill(int(pid_file.read_text()), signal.SIGTERM)
    console.print("stop requested")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def test(
    ctx: typer.Context,
    postgres: Annotated[bool, typer.Option(help="Run every service's tests on PostgreSQL (127.0.0.1:5432) instead of SQLite")] = False,
) -> None:
    """Runs the whole test suite (extra arguments go to pytest)."""
    env = dict(os.environ)
    env["PACTE_TEST_DATABASE"] = "postgresql" if postgres else env.get("PACTE_TEST_DATABASE", "sqlite")
    result = subprocess.run([sys.executable, "-m", "pytest", *ctx.args], env=env)
    raise typer.Exit(result.returncode)


@app.command()
def keygen() -> None:
    """Prints a new base64 AES-256 key (for PACTE_<SERVICE>_ENCRYPTION_KEYS, see the runbook)."""
    typer.echo(new_key())


@app.command()
def asyncapi() -> None:
    """Prints the whole event catalogue as an AsyncAPI 3 document (JSON)."""
    import json

    from pacte_common.asyncapi import build_asyncapi

    typer.echo(json.dumps(build_asyncapi(), indent=2, ensure_ascii=False))


from pacte_common.bus_cli import bus_app  # noqa: E402 - replay-dlq, replay-outbox, outbox, tail, topics

app.add_typer(bus_app, name="bus")


try:  # the AGORA back-fill commands live with the gateway
    from agora_gateway.cli import app as agora_app

    app.add_typer(agora_app, name="agora", help="AGORA gateway: back-fill and flows.")
except ImportError:  # pragma: no cover - gateway not installed
    pass


def main() -> None:
    app()


if __name__ == "__main__":
    main()
