"""The whole suite on one machine: broker, AGORA sandbox and the four services.

Used by `pacte up` and by the cross-service journey tests. Embedded default: Tansu (memory)
and one SQLite file per service under the data folder. `postgres_url` switches every
service to its own PostgreSQL database; `bootstrap_servers` to an external Kafka.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from pacte_common.bus import ensure_topics
from pacte_common.events import Topics
from pacte_common.settings import BusSettings
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pacte_tools.broker import free_port, port_open, start_tansu, stop_process
from pacte_tools.dev_issuer import DevIssuerSettings


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    env_prefix: str
    factory: str
    port_setting: str
    has_database: bool = True
    ready_path: str = "/health/ready"
    # Runs as many instances as `instances` asks (the partners' sandboxes stay one).
    scales: bool = True


SERVICES = (
    ServiceSpec("agora-sandbox", "PACTE_AGORA_SANDBOX_", "agora_sandbox.main:create_app", "sandbox_port", has_database=False, ready_path="/health/live", scales=False),
    ServiceSpec("france-travail-sandbox", "PACTE_FRANCE_TRAVAIL_SANDBOX_", "france_travail_sandbox.main:create_app", "france_travail_sandbox_port", has_database=False, ready_path="/health/live", scales=False),
    ServiceSpec("orientation", "PACTE_ORIENTATION_", "orientation.main:create_app", "orientation_port"),
    ServiceSpec("sessions", "PACTE_SESSIONS_", "sessions.main:create_app", "sessions_port"),
    ServiceSpec("remuneration", "PACTE_REMUNERATION_", "remuneration.main:create_app", "remuneration_port"),
    ServiceSpec("agora-gateway", "PACTE_AGORA_GATEWAY_", "agora_gateway.main:create_app", "agora_gateway_port"),
    ServiceSpec("attendance", "PACTE_ATTENDANCE_", "attendance.main:create_app", "attendance_port"),
    # the read side: indicators built from every service's events (docs/insights.md)
    ServiceSpec("insights", "PACTE_INSIGHTS_", "insights.main:create_app", "insights_port"),
    # the operators' console: no database, reads the four services over HTTP
    ServiceSpec("console", "PACTE_CONSOLE_", "console.main:create_app", "console_port", has_database=False, ready_path="/health/live"),
)


def spec_of(name: str) -> ServiceSpec:
    """The service a process runs: "sessions" and its other instances "sessions#2", "sessions#3"…"""
    return next(s for s in SERVICES if s.name == name.split("#", 1)[0])


# uvicorn's protocol with a header read timeout (slowloris): pacte_common.http_server.
HTTP_PROTOCOL = "pacte_common.http_server:HttpToolsWithHeaderTimeout"


class SuiteSettings(BaseSettings):
    """`pacte up` settings (env prefix PACTE_SUITE_)."""

    model_config = SettingsConfigDict(env_prefix="PACTE_SUITE_", extra="ignore")

    host: str = "127.0.0.1"
    data_dir: Path = Path(".data")
    broker_port: int = 9092
    # Empty: start the embedded Tansu broker. Set (host:port,…): use that Kafka instead.
    bootstrap_servers: str = ""
    topic_partitions: int = 4
    topic_namespace: str = ""
    # Empty: SQLite per service. Set (postgresql+asyncpg://user@host:port): a database per service.
    postgres_url: str = ""
    database_name_prefix: str = "pacte_"
    orientation_port: int = 8001
    sessions_port: int = 8002
    remuneration_port: int = 8003
    agora_gateway_port: int = 8004
    sandbox_port: int = 8005
    attendance_port: int = 8008
    france_travail_sandbox_port: int = 8009
    insights_port: int = 8010
    # the dev token issuer (pacte_tools.dev_issuer): keys in <data_dir>/dev-issuer
    issuer_port: int = 8007
    # An external OpenID provider's issuer: the services then trust it (with PACTE_JWT_JWKS_URL and
    # the shared claim settings, docs/security.md) and no dev issuer runs. `pacte up` and
    # `pacte token` take it from the deployment-wide PACTE_JWT_ISSUER (for_cli).
    external_issuer: str = ""

    @classmethod
    def for_cli(cls, **values) -> SuiteSettings:
        """The settings of `pacte up` / `pacte token`: the shared PACTE_JWT_ISSUER names the provider.
        (Tests and benchmarks build theirs directly: their process may hold a test issuer's variables.)"""
        return cls(external_issuer=os.environ.get("PACTE_JWT_ISSUER", ""), **values)
    console_port: int = 8006
    ready_timeout_s: float = 120.0
    # Processes of each service behind its one address (docs/scaling.md, "Several instances").
    instances: int = Field(1, ge=1, le=8)

    @classmethod
    def on_free_ports(cls, data_dir: Path, **overrides) -> SuiteSettings:
        """Free ports for every process: a suite beside `pacte up` (tests, benchmarks)."""
        ports = {name: free_port() for name in cls.model_fields if name.endswith("_port")}
        return cls(data_dir=data_dir, **(ports | overrides))


@dataclass
class Suite:
    settings: SuiteSettings
    extra_env: dict[str, str] = field(default_factory=dict)
    broker: subprocess.Popen | None = None
    issuer: subprocess.Popen | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    # The id given to each process at its last start (PACTE_INSTANCE_ID, echoed by
    # /health/live) and when that was (wall clock), by process name ("broker" included).
    instance_ids: dict[str, str] = field(default_factory=dict)
    started_at: dict[str, float] = field(default_factory=dict)
    # With several instances: each one's own port (pacte_tools.serve), by process name.
    own_ports: dict[str, int] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return self.settings.bootstrap_servers or f"{self.settings.host}:{self.settings.broker_port}"

    @property
    def issuer_settings(self) -> DevIssuerSettings:
        return DevIssuerSettings(
            environment="development", host=self.settings.host, port=self.settings.issuer_port,
            keys_dir=self.settings.data_dir / "dev-issuer",
        )

    @property
    def runs_dev_issuer(self) -> bool:
        return not self.settings.external_issuer

    def token_env(self) -> dict[str, str]:
        """Development, tokens from the suite's dev issuer (deployment-wide variables, docs/security.md);
        with an external provider, its own PACTE_JWT_* variables reach the services untouched."""
        if not self.runs_dev_issuer:
            return {"PACTE_ENVIRONMENT": "development"}
        issuer = self.issuer_settings.issuer_url
        return {"PACTE_ENVIRONMENT": "development", "PACTE_JWT_ISSUER": issuer, "PACTE_JWT_JWKS_URL": f"{issuer}/jwks.json", "PACTE_JWT_JWKS": ""}

    def url(self, service: str) -> str:
        """The service's one address (any of its instances answers)."""
        spec = spec_of(service)
        return f"http://{self.settings.host}:{getattr(self.settings, spec.port_setting)}"

    def instance_url(self, name: str) -> str:
        """The address only this process answers (the service's own when it runs alone)."""
        own = self.own_ports.get(name)
        return f"http://{self.settings.host}:{own}" if own else self.url(name)

    def instance_names(self, spec: ServiceSpec) -> list[str]:
        count = self.settings.instances if spec.scales else 1
        return [spec.name] + [f"{spec.name}#{number}" for number in range(2, count + 1)]

    def shares_port(self, name: str) -> bool:
        return len(self.instance_names(spec_of(name))) > 1

    def database_url(self, spec: ServiceSpec) -> str:
        if self.settings.postgres_url:
            name = self.settings.database_name_prefix + spec.name.replace("-", "_")
            return f"{self.settings.postgres_url.rstrip('/')}/{name}"
        return f"sqlite+aiosqlite:///{(self.settings.data_dir / f'{spec.name}.db').resolve()}"

    def service_env(self, spec: ServiceSpec) -> dict[str, str]:
        prefix = spec.env_prefix
        env = {
            f"{prefix}HOST": self.settings.host,
            f"{prefix}PORT": str(getattr(self.settings, spec.port_setting)),
            f"{prefix}BUS__BOOTSTRAP_SERVERS": self.bootstrap,
            f"{prefix}BUS__TOPIC_NAMESPACE": self.settings.topic_namespace,
            f"{prefix}BUS__TOPIC_PARTITIONS": str(self.settings.topic_partitions),
            f"{prefix}DATA_DIR": str(self.settings.data_dir.resolve()),
            # where the gateway finds the sandbox (ignored by the other services)
            "PACTE_AGORA_GATEWAY_AGORA_URL": self.url("agora-sandbox"),
            # where the trainees' signing links and QR codes point (attendance)
            "PACTE_ATTENDANCE_PUBLIC_URL": self.url("attendance"),
            "PACTE_AGORA_GATEWAY_FRANCE_TRAVAIL_URL": self.url("france-travail-sandbox"),
            # where the console finds the services (ignored by the others)
            **{f"PACTE_CONSOLE_{s.name.upper().replace('-', '_')}_URL": self.url(s.name) for s in SERVICES if s.name not in ("console", "france-travail-sandbox")},
        }
        env.update(self.token_env())
        if spec.has_database:
            env[f"{prefix}DATABASE_URL"] = self.database_url(spec)
        return env

    def ports(self) -> dict[int, str]:
        """Every port the suite listens on → what listens there."""
        # a shared address is owned by no single process: one dead instance leaves it to the others
        wanted = {getattr(self.settings, spec.port_setting): spec.name + (" (shared)" if self.shares_port(spec.name) else "")
                  for spec in SERVICES}
        wanted |= {port: name for name, port in self.own_ports.items()}
        if not self.settings.bootstrap_servers:
            wanted[self.settings.broker_port] = "broker"
        if self.runs_dev_issuer:
            wanted[self.settings.issuer_port] = "dev-issuer"
        return wanted

    def check_ports_free(self, names: list[str] | None = None) -> None:
        """Raises PortsTaken naming each port already in use and, when known, its holder."""
        taken = [
            f"port {port} ({name}) is held by {port_holder(self.settings.host, port) or 'another process'}"
            for port, name in self.ports().items()
            if (names is None or name in names) and port_open(self.settings.host, port)
        ]
        if taken:
            raise PortsTaken("; ".join(taken))

    def start_broker(self) -> None:
        """Starts the embedded broker: each start is a new incarnation (fresh cluster id)."""
        self.broker = start_tansu(self.settings.host, self.settings.broker_port, self.settings.data_dir / "logs" / "broker.log")
        self.instance_ids["broker"] = uuid.uuid4().hex
        self.started_at["broker"] = time.time()

    def prepare_bus(self) -> None:
        bus = BusSettings(bootstrap_servers=self.bootstrap, topic_namespace=self.settings.topic_namespace)
        asyncio.run(self._prepare(bus))

    def children(self) -> dict[str, subprocess.Popen | None]:
        """Every process the suite runs, by name: broker (if embedded), helpers, services."""
        found: dict[str, subprocess.Popen | None] = {}
        if not self.settings.bootstrap_servers:
            found["broker"] = self.broker
        if self.runs_dev_issuer:
            found["dev-issuer"] = self.issuer
        found.update(self.processes)
        return found

    def start_child(self, name: str) -> None:
        """(Re)starts one process after it died or was stopped; the broker gets its topics back."""
        if name == "broker":
            self.start_broker()
            self.prepare_bus()
        elif name == "dev-issuer":
            self.start_issuer()
            self.started_at[name] = time.time()
        else:
            self.start_service(name)

    def stop_child(self, name: str) -> None:
        if name == "broker":
            if self.broker is not None:
                stop_process(self.broker)
        elif name == "dev-issuer":
            if getattr(self, "issuer", None) is not None:
                stop_process(self.issuer)
        else:
            self.stop_service(name)

    def probe(self, name: str, client: httpx.Client) -> bool:
        """Ready, and answered by the very process started last (its instance id or pid)."""
        if name == "broker":
            return self.broker is not None and self.broker.poll() is None and port_open(self.settings.host, self.settings.broker_port)
        if name not in self.processes:  # a helper process without /health/live identity: alive is enough
            process = self.children().get(name)
            return process is not None and process.poll() is None
        spec, process, url = spec_of(name), self.processes.get(name), self.instance_url(name)
        try:
            live = client.get(url + "/health/live")
            if live.status_code != 200 or not self._is_ours(name, process, live.json()):
                return False
            if spec.ready_path == "/health/live":
                return True
            return client.get(url + spec.ready_path).status_code == 200
        except (httpx.HTTPError, ValueError):
            return False

    def _is_ours(self, name: str, process: subprocess.Popen | None, live: dict) -> bool:
        if "instance_id" in live:
            return live["instance_id"] == self.instance_ids.get(name)
        if "pid" in live:
            return process is not None and live["pid"] == process.pid
        return process is not None and port_holder_pid(self.settings.host, int(self.instance_url(name).rsplit(":", 1)[1])) == process.pid

    def start(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        logs = self.settings.data_dir / "logs"
        logs.mkdir(exist_ok=True)
        self.check_ports_free()
        if not self.settings.bootstrap_servers:
            self.start_broker()
        if self.runs_dev_issuer:
            self.start_issuer()
        bus = BusSettings(bootstrap_servers=self.bootstrap, topic_namespace=self.settings.topic_namespace)
        asyncio.run(self._prepare(bus))
        for spec in SERVICES:
            for name in self.instance_names(spec):
                self.start_service(name)

    async def _prepare(self, bus: BusSettings) -> None:
        await ensure_topics(bus, [bus.topic_namespace + t for t in Topics.ALL], self.settings.topic_partitions)
        if self.settings.postgres_url:
            await _create_postgres_databases(self.settings.postgres_url, [self.database_url(s) for s in SERVICES if s.has_database])

    def start_service(self, name: str) -> None:
        spec = spec_of(name)
        instance_id = uuid.uuid4().hex
        env = {**os.environ, **self.service_env(spec), **self.extra_env, "PACTE_INSTANCE_ID": instance_id}
        log_file = open(self.settings.data_dir / "logs" / f"{name}.log", "ab")
        port = str(getattr(self.settings, spec.port_setting))
        command = ["-m", "pacte_tools.serve", "--factory", spec.factory, "--http", HTTP_PROTOCOL,
                   "--host", self.settings.host, "--port", port]
        if self.shares_port(name):
            command += ["--own-port", str(self.own_ports.setdefault(name, free_port()))]
        self.processes[name] = subprocess.Popen(
            [sys.executable, *command],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.instance_ids[name] = instance_id
        self.started_at[name] = time.time()

    def start_issuer(self) -> None:
        issuer = self.issuer_settings
        env = {**os.environ, **self.token_env(), **issuer.environment_variables()}
        log_file = open(self.settings.data_dir / "logs" / "dev-issuer.log", "ab")
        self.issuer = subprocess.Popen(
            [
                sys.executable, "-m", "pacte_tools.serve", "--factory", "pacte_tools.dev_issuer:create_app",
                "--host", issuer.host, "--port", str(issuer.port),
            ],
            env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + self.settings.ready_timeout_s
        with httpx.Client(timeout=3) as client:
            while True:
                if self.issuer.poll() is not None:
                    raise RuntimeError(f"dev-issuer exited with code {self.issuer.returncode}; see {self.settings.data_dir}/logs/dev-issuer.log")
                try:
                    if client.get(f"{issuer.issuer_url}/health/live").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dev-issuer not ready within {self.settings.ready_timeout_s}s")
                time.sleep(0.1)

    def stop_service(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            stop_process(process)

    def wait_ready(self, names: list[str] | None = None) -> None:
        deadline = time.monotonic() + self.settings.ready_timeout_s
        pending = list(names or [name for spec in SERVICES for name in self.instance_names(spec)])
        with httpx.Client(timeout=3) as client:
            while pending:
                for name in list(pending):
                    process = self.processes.get(name)
                    if process is not None and process.poll() is not None:
                        raise RuntimeError(f"{name} exited with code {process.returncode}; see {self.settings.data_dir}/logs/{name}.log")
                    if self.probe(name, client):  # an old process still on the port does not count
                        pending.remove(name)
                if pending and time.monotonic() > deadline:
                    raise RuntimeError(f"not ready within {self.settings.ready_timeout_s}s: {', '.join(pending)}")
                time.sleep(0.2)

    def stop(self) -> None:
        for name in list(self.processes)[::-1]:
            self.stop_service(name)
        if self.issuer is not None:
            stop_process(self.issuer)
            self.issuer = None
        if self.broker is not None:
            stop_process(self.broker)
            self.broker = None


async def drop_postgres_databases(server_url: str, urls: list[str]) -> None:
    import asyncpg

    admin = await asyncpg.connect(server_url.replace("postgresql+asyncpg", "postgresql").rstrip("/") + "/postgres")
    try:
        for url in urls:
            await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()


async def _create_postgres_databases(server_url: str, urls: list[str]) -> None:
    import asyncpg

    admin = await asyncpg.connect(server_url.replace("postgresql+asyncpg", "postgresql").rstrip("/") + "/postgres")
    try:
        for url in urls:
            name = url.rsplit("/", 1)[1]
            if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


class PortsTaken(RuntimeError):
    """A port the suite needs is already in use (the message names each port and its holder)."""


def port_holder_pid(host: str, port: int) -> int | None:
    try:
        for connection in psutil.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port:
                return connection.pid
    except (psutil.Error, OSError):
        pass  # not allowed to list sockets here: the holder stays unknown
    return None


def port_holder(host: str, port: int) -> str | None:
    """"pid 1234 (python -m uvicorn …)" for the process listening on the port, if it can be seen."""
    pid = port_holder_pid(host, port)
    if pid is None:
        return None
    try:
        command = " ".join(psutil.Process(pid).cmdline())[:120]
    except psutil.Error:
        command = "?"
    return f"pid {pid} ({command})"


def broker_port_taken(settings: SuiteSettings) -> bool:
    return not settings.bootstrap_servers and port_open(settings.host, settings.broker_port)
