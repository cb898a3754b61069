"""`pacte`: the suite's command line (dev stack, tokens, tests, operator commands)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from pacte_common.auth import OrgKind
from pacte_common.crypto import new_key
from rich.console import Console

from pacte_tools.suite import SERVICES, Suite, SuiteSettings

app = typer.Typer(help="Pacte: run the suite, mint dev tokens, run the tests, operate the bus.", no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def token(
    kind: Annotated[OrgKind, typer.Option(help="prescriber, training_org, region or paying_agency")],
    org: Annotated[str, typer.Option(help="Structure code (prescriber), SIRET (training_org), or any id")] = "region",
    hours: Annotated[float, typer.Option(help="Validity in hours")] = 12,
    audience: Annotated[list[str] | None, typer.Option(help="Service (orientation, sessions…) or audience the token is for; repeatable. Default: every service")] = None,
) -> None:
    """Prints a bearer JWT from the embedded default's dev issuer (its key in <data dir>/dev-issuer; see docs/security.md)."""
    from pacte_tools.dev_issuer import dev_token

    suite = Suite(SuiteSettings.for_cli())
    if not suite.runs_dev_issuer:
        typer.echo(f"PACTE_JWT_ISSUER names an external provider ({suite.settings.external_issuer}): the development "
                   "issuer does not run. Ask that provider for a token (client credentials, with the service's "
                   "audience as resource: docs/security.md).", err=True)
        raise typer.Exit(2)
    issuer = suite.issuer_settings
    typer.echo(dev_token(kind.value, org, timedelta(hours=hours), audience or [], issuer))


@app.command()
def up(
    postgres: Annotated[str, typer.Option(help="PostgreSQL server URL (postgresql+asyncpg://user@host:port): one database per service")] = "",
    bootstrap: Annotated[str, typer.Option(help="External Kafka bootstrap servers instead of the embedded Tansu")] = "",
    instances: Annotated[int, typer.Option(min=1, max=8, help="Processes of each service behind its one address (needs --postgres)")] = 1,
) -> None:
    """Starts the whole suite (broker, AGORA sandbox, services) and supervises it until Ctrl-C or `pacte down`.

    A process that dies is restarted (with backoff), the broker included; `pacte status` shows
    each one's state, pid, uptime, restarts and readiness; `pacte restart NAME` restarts one.
    """
    import logging
    import threading

    from pacte_tools.suite import PortsTaken
    from pacte_tools.supervisor import Supervisor

    settings = SuiteSettings.for_cli()
    if postgres:
        settings.postgres_url = postgres
    if bootstrap:
        settings.bootstrap_servers = bootstrap
    if instances > 1 and not settings.postgres_url:
        console.print("[red]--instances needs --postgres: several processes share each service's database, "
                      "and an SQLite file belongs to one process (docs/scaling.md).[/red]")
        raise typer.Exit(2)
    settings.instances = instances
    suite = Suite(settings)
    try:
        suite.check_ports_free()
    except PortsTaken as exc:
        console.print(f"[red]{exc}[/red]\nIs the suite already running? (`pacte status`, `pacte down`)")
        raise typer.Exit(1) from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "logs").mkdir(exist_ok=True)
    _log_supervision_to(settings.data_dir / "logs" / "supervisor.log")
    pid_file = settings.data_dir / "pacte-up.pid"
    stop = threading.Event()

    def request_stop(*_):
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        with console.status("starting broker and services…"):
            pid_file.write_text(str(os.getpid()))
            suite.start()
            suite.wait_ready()
        console.print(f"[green]Pacte is up[/green] (broker {suite.bootstrap}, data in {settings.data_dir.resolve()})")
        for spec in SERVICES:
            count = len(suite.instance_names(spec))
            console.print(f"  {spec.name:<14} {suite.url(spec.name)}/docs" + (f"  ({count} instances)" if count > 1 else ""))
        console.print(f"  {'public search':<14} {suite.url('insights')}/formations (no token; docs/public-search.md)")
        console.print("Supervised: a process that stops is restarted. `pacte status` to look, Ctrl-C or `pacte down` to stop.")
        Supervisor(suite).run(stop)
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        console.print("stopping…")
        suite.stop()
        pid_file.unlink(missing_ok=True)
        logging.getLogger("pacte.supervisor").info("suite stopped")


def _log_supervision_to(path: Path) -> None:
    import logging

    supervision = logging.getLogger("pacte.supervisor")
    supervision.setLevel(logging.INFO)
    supervision.propagate = False
    file_handler = logging.FileHandler(path)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    screen = logging.StreamHandler(sys.stderr)
    screen.setFormatter(logging.Formatter("%(asctime)s supervisor: %(message)s", "%H:%M:%S"))
    supervision.handlers = [file_handler, screen]


@app.command()
def down() -> None:
    """Stops a suite started with `pacte up`."""
    pid_file = SuiteSettings().data_dir / "pacte-up.pid"
    if not pid_file.exists():
        console.print("no running suite found")
        raise typer.Exit(0)
    os.kill(int(pid_file.read_text()), signal.SIGTERM)
    console.print("stop requested")


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="The raw status document")] = False,
) -> None:
    """State, pid, uptime, restarts and readiness of each process of the running suite."""
    import json

    from rich.table import Table

    from pacte_tools.supervisor import read_status, supervisor_alive

    report = read_status(SuiteSettings().data_dir)
    if not supervisor_alive(report):
        console.print("no running suite found (start it with `pacte up`)")
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title=f"Pacte suite (supervisor pid {report['supervisor_pid']}, broker {report['bootstrap']})")
    for column in ("process", "state", "pid", "address", "uptime", "restarts", "ready", "last event"):
        table.add_column(column)
    for name, child in report["children"].items():
        uptime = child.get("uptime_s")
        if uptime is not None:  # as of the status file's last write, which is not every tick
            uptime += max(0.0, time.time() - report.get("updated_at", time.time()))
        table.add_row(
            name,
            child["state"],
            str(child.get("pid") or "-"),
            child.get("url") or "",  # an instance among several: its own address
            "-" if uptime is None else str(timedelta(seconds=int(uptime))),
            str(child["restarts"]),
            "yes" if child["ready"] else "no",
            child.get("last_event") or "",
        )
    Console().print(table)


@app.command()
def restart(
    name: Annotated[str, typer.Argument(help="A service (orientation, sessions, …; sessions#2 for a second instance), agora-sandbox, france-travail-sandbox, broker or dev-issuer")],
    wait: Annotated[float, typer.Option(help="Seconds to wait for it to be ready again (0: do not wait)")] = 120,
) -> None:
    """Restarts one process of the running suite (its supervisor does it) and waits until it is ready."""
    from pacte_tools.supervisor import ask_restart, read_status, supervisor_alive

    data_dir = SuiteSettings().data_dir
    report = read_status(data_dir)
    if not supervisor_alive(report):
        console.print("no running suite found (start it with `pacte up`)")
        raise typer.Exit(1)
    if name not in report["children"]:
        console.print(f"[red]unknown process {name!r}; one of: {', '.join(report['children'])}[/red]")
        raise typer.Exit(2)
    before = report["children"][name]
    ask_restart(data_dir, name)
    console.print(f"restart of {name} requested")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        child = (read_status(data_dir) or {}).get("children", {}).get(name, {})
        if child.get("restarts", 0) > before["restarts"] and child.get("ready"):
            console.print(f"[green]{name} restarted and ready[/green] (pid {child['pid']}, restart {child['restarts']})")
            return
        time.sleep(0.5)
    if wait:
        console.print(f"[red]{name} not ready again within {wait:.0f}s; see `pacte status` and {data_dir}/logs/{name}.log[/red]")
        raise typer.Exit(1)


FAULTS = "tests/faults"


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def test(
    ctx: typer.Context,
    postgres: Annotated[bool, typer.Option(help="Run every service's tests on PostgreSQL (127.0.0.1:5432) instead of SQLite")] = False,
) -> None:
    """Runs the whole test suite (extra arguments go to pytest)."""
    env = dict(os.environ)
    env["PACTE_TEST_DATABASE"] = "postgresql" if postgres else env.get("PACTE_TEST_DATABASE", "sqlite")
    if postgres:
        # Several test processes, each with its suites and apps, share one server (max_connections
        # 100 by default): small pools, which the concurrency tests wait on rather than overflow.
        from pacte_tools.suite import SERVICES

        for spec in SERVICES:
            env.setdefault(f"{spec.env_prefix}DATABASE_POOL_SIZE", "3")
            env.setdefault(f"{spec.env_prefix}DATABASE_MAX_OVERFLOW", "5")
    chromium = env.get("PACTE_TEST_CHROMIUM", "/usr/bin/chromium")
    # The browser tests (console, attendance, the public page, the docs) drive Debian's Chromium
    # (never a browser build downloaded by Playwright); the OpenID provider tests run node oidc-provider (tests/oidc). As root, the
    # missing Debian packages are installed; otherwise those tests stop saying how to install them.
    # Options (`-q`, `--junitxml=…`) select nothing: only paths and `-k` words narrow the run.
    paths = [arg for arg in ctx.args if not arg.startswith("-")]

    def runs(*names: str) -> bool:
        return not paths or any(name in arg for arg in paths for name in names)

    missing = []
    browser_tests = ("console", "attendance", "sessions", "browser")
    if (runs(*browser_tests) or {"tests", "tests/"} & set(paths)) and not os.path.exists(chromium):
        missing.append("chromium")
    if runs("orientation", "console") and not shutil.which("npm"):
        missing += ["nodejs", "npm"]
    # attendance's sheet PDF is read back with poppler (pdftotext, pdftoppm)
    if runs("attendance") and not shutil.which("pdftoppm"):
        missing.append("poppler-utils")
    if missing and os.geteuid() == 0 and os.path.exists("/usr/bin/apt-get"):
        console.print(f"installing Debian's {', '.join(missing)} for the browser and OpenID provider tests…")
        apt_env = {**env, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=apt_env, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=apt_env, check=False)
    raise typer.Exit(_run_pytest(ctx.args, paths, env))


def _run_pytest(args: list[str], paths: list[str], env: dict[str, str]) -> int:
    """A whole run spreads the test files over PACTE_TEST_WORKERS processes (pytest-xdist, one
    file per worker at a time: a module's fixtures stay in one process), then runs the fault
    suite alone, since it kills processes and times their recovery; a narrowed run, or one that
    names its own `-n`, is one plain pytest."""
    pytest = [sys.executable, "-m", "pytest"]
    workers = int(env.get("PACTE_TEST_WORKERS", "3"))
    own_workers = any(arg in ("-n", "--numprocesses") or arg.startswith(("-n=", "--numprocesses=")) for arg in args)
    if paths or own_workers or workers < 2:
        return subprocess.run([*pytest, *args], env=env).returncode
    spread = subprocess.run([*pytest, "-n", str(workers), "--dist", "loadfile", f"--ignore={FAULTS}", *args], env=env).returncode
    if any(arg.startswith("--ignore") and FAULTS in arg for arg in args):
        return spread
    console.print("the fault suite, alone:")
    alone = subprocess.run([*pytest, FAULTS, *args], env=env).returncode
    return max(spread, alone)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(ctx: typer.Context) -> None:
    """Runs the benchmarks (benchmarks/): project against bare stack, side by side (--quick in CI)."""
    root = Path(__file__).resolve().parents[4]
    result = subprocess.run([sys.executable, "-m", "benchmarks", *ctx.args], cwd=root)
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


from pacte_tools.bus_cli import bus_app  # noqa: E402 - replay-dlq, replay-outbox, outbox, tail, topics

app.add_typer(bus_app, name="bus")

from pacte_tools.insights_cli import insights_app  # noqa: E402 - rebuild

app.add_typer(insights_app, name="insights")


try:  # the AGORA back-fill commands live with the gateway
    from pacte_tools.agora_cli import app as agora_app

    app.add_typer(agora_app, name="agora", help="AGORA gateway: back-fill and flows.")
except ImportError:  # pragma: no cover - gateway not installed
    pass


def main() -> None:
    app()


if __name__ == "__main__":
    main()
