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
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict

from pacte_common.broker import port_open, start_tansu, stop_process
from pacte_common.bus import ensure_topics
from pacte_common.events import Topics
from pacte_common.settings import BusSettings


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    env_prefix: str
    factory: str
    port_setting: str
    has_database: bool = True
    ready_path: str = "/health/ready"


SERVICES = (
    ServiceSpec("agora-sandbox", "PACTE_AGORA_SANDBOX_", "agora_gateway.sandbox.main:create_app", "sandbox_port", has_database=False, ready_path="/health/live"),
    ServiceSpec("orientation", "PACTE_ORIENTATION_", "orientation.main:create_app", "orientation_port"),
    ServiceSpec("sessions", "PACTE_SESSIONS_", "sessions.main:create_app", "sessions_port"),
    ServiceSpec("remuneration", "PACTE_REMUNERATION_", "remuneration.main:create_app", "remuneration_port"),
    ServiceSpec("agora-gateway", "PACTE_AGORA_GATEWAY_", "agora_gateway.main:create_app", "agora_gateway_port"),
)


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
    ready_timeout_s: float = 120.0


@dataclass
class Suite:
    settings: SuiteSettings
    extra_env: dict[str, str] = field(default_factory=dict)
    broker: subprocess.Popen | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return self.settings.bootstrap_servers or f"{self.settings.host}:{self.settings.broker_port}"

    def url(self, service: str) -> str:
        spec = next(s for s in SERVICES if s.name == service)
        return f"http://{self.settings.host}:{getattr(self.settings, spec.port_setting)}"

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
        }
        if spec.has_database:
            env[f"{prefix}DATABASE_URL"] = self.database_url(spec)
        return env

    def start(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        logs = self.settings.data_dir / "logs"
        logs.mkdir(exist_ok=True)
        if not self.settings.bootstrap_servers:
            self.broker = start_tansu(self.settings.host, self.settings.broker_port, logs / "broker.log")
        bus = BusSettings(bootstrap_servers=self.bootstrap, topic_namespace=self.settings.topic_namespace)
        asyncio.run(self._prepare(bus))
        for spec in SERVICES:
            self.start_service(spec.name)

    async def _prepare(self, bus: BusSettings) -> None:
        await ensure_topics(bus, [bus.topic_namespace + t for t in Topics.ALL], self.settings.topic_partitions)
        if self.settings.postgres_url:
            await _create_postgres_databases(self.settings.postgres_url, [self.database_url(s) for s in SERVICES if s.has_database])

    def start_service(self, name: str) -> None:
        spec = next(s for s in SERVICES if s.name == name)
        env = {**os.environ, **self.service_env(spec), **self.extra_env}
        log_file = open(self.settings.data_dir / "logs" / f"{spec.name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "--factory", spec.factory,
                "--host", self.settings.host, "--port", str(getattr(self.settings, spec.port_setting)),
                "--no-access-log", "--log-level", "warning",
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop_service(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            stop_process(process)

    def wait_ready(self, names: list[str] | None = None) -> None:
        deadline = time.monotonic() + self.settings.ready_timeout_s
        pending = list(names or [s.name for s in SERVICES])
        with httpx.Client(timeout=3) as client:
            while pending:
                for name in list(pending):
                    process = self.processes.get(name)
                    if process is not None and process.poll() is not None:
                        raise RuntimeError(f"{name} exited with code {process.returncode}; see {self.settings.data_dir}/logs/{name}.log")
                    try:
                        spec = next(s for s in SERVICES if s.name == name)
                        if client.get(self.url(name) + spec.ready_path).status_code == 200:
                            pending.remove(name)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise RuntimeError(f"not ready within {self.settings.ready_timeout_s}s: {', '.join(pending)}")
                time.sleep(0.2)

    def stop(self) -> None:
        for name in list(self.processes)[::-1]:
            self.stop_service(name)
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


def broker_port_taken(settings: SuiteSettings) -> bool:
    return not settings.bootstrap_servers and port_open(settings.host, settings.broker_port)
