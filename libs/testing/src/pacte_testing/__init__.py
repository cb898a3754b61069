"""Test helpers shared by every service's tests: a real broker, a real database, a live app.

Loaded as a pytest plugin by the root conftest. Environment:
- PACTE_TEST_DATABASE=sqlite (default) or postgresql — which database the tests run on;
- PACTE_TEST_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/postgres);
- PACTE_TEST_BOOTSTRAP=host:port to use an already running broker instead of starting Tansu.

Tokens: the tests run in development (PACTE_ENVIRONMENT=development) with a key pair of their
own (a dev issuer key store in a temporary folder): `mint_token`/`auth_header` sign with it and
every service's settings trust its JWKS file (PACTE_JWT_JWKS), so no issuer process is needed.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pacte_common.auth import OrgKind
from pacte_common.bus import new_consumer, topic_name
from pacte_common.events import Envelope, decode
from pacte_common.settings import BusSettings, ServiceSettings
from pacte_common.validators import nir_key
from pacte_tools.broker import free_port, start_tansu, stop_process
from pacte_tools.dev_issuer import mint_token
from pacte_tools.suite import SERVICES, Suite, SuiteSettings, drop_postgres_databases

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def selected_database_kind() -> str:
    return os.environ.get("PACTE_TEST_DATABASE", "sqlite")


# Quicker loops than production defaults, so journeys finish in seconds.
FAST_LOOPS = {"BUS__RELAY_POLL_INTERVAL_S": "0.05", "BUS__CONSUMER_RETRY_BACKOFF_S": "0.05", "BUS__RELAY_MAX_BACKOFF_S": "1"}
# The dev issuer shares the test machine's cores with the suite and three test processes: its
# JWKS once took over the 2 s fetch bound, and the service answered 503 until its retry.
PATIENT_FETCHES = {"JWT_JWKS_TIMEOUT_S": "10"}


@contextmanager
def running_suite(folder: Path, name: str, *, topic_partitions: int = 2, fast: bool = True) -> Iterator[Suite]:
    """The whole suite as `pacte up` starts it (subprocesses, a real broker), on free ports and
    on the database the tests run on; on PostgreSQL its databases (prefixed `pacte_<name>_`)
    are dropped afterwards. `fast` gives the bus quicker loops than production's."""
    settings = SuiteSettings.on_free_ports(folder, topic_partitions=topic_partitions, ready_timeout_s=180)
    if selected_database_kind() == "postgresql":
        settings.postgres_url = os.environ.get("PACTE_TEST_POSTGRES_URL", DEFAULT_POSTGRES).rsplit("/", 1)[0]
        settings.database_name_prefix = f"pacte_{name}_{uuid.uuid4().hex[:8]}_"
    extra_env = {spec.env_prefix + key: value for spec in SERVICES
                 for key, value in (FAST_LOOPS | PATIENT_FETCHES if fast else PATIENT_FETCHES).items()}
    running = Suite(settings, extra_env=extra_env)
    try:
        seed_suite_databases(running)
        running.start()
        running.wait_ready()
        yield running
    finally:
        running.stop()
        if settings.postgres_url:
            asyncio.run(drop_postgres_databases(settings.postgres_url, [running.database_url(s) for s in SERVICES if s.has_database]))


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> str:
    external = os.environ.get("PACTE_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    port = free_port()
    log_file = tmp_path_factory.mktemp("tansu") / "tansu.log"
    process = start_tansu("127.0.0.1", port, log_file)
    yield f"127.0.0.1:{port}"
    stop_process(process)


@pytest.fixture
def bus_settings(kafka_bootstrap) -> BusSettings:
    """Bus settings with a namespace of its own: each test sees only its own topics."""
    return BusSettings(
        bootstrap_servers=kafka_bootstrap,
        topic_namespace=f"t{uuid.uuid4().hex[:10]}.",
        topic_partitions=2,
        relay_poll_interval_s=0.05,
        consumer_retry_backoff_s=0.05,
        consumer_max_attempts=3,
        relay_max_backoff_s=1.0,
    )


async def _create_pg_database(name: str, template: str | None = None) -> str:
    import asyncpg

    admin_url = os.environ.get("PACTE_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    dsn = admin_url.replace("postgresql+asyncpg", "postgresql")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await connection.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def _drop_pg_database(name: str) -> None:
    import asyncpg

    admin_url = os.environ.get("PACTE_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    connection = await asyncpg.connect(admin_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


class MigratedTemplates:
    """One database per service migrated to head once per test run, copied for each test.

    Every service test starts its app, whose start-up migrates the database; running a service's
    whole Alembic history for each test cost seconds (SQLite rebuilds tables for each altered
    column). A copy of a migrated template (a file copy on SQLite, `CREATE DATABASE … TEMPLATE`
    on PostgreSQL) is the same database, and the app's own upgrade then finds it at head."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.built: dict[Path, str] = {}

    async def template(self, migrations: Path) -> str:
        """The SQLite file or PostgreSQL database name migrated with `migrations`, built on first use."""
        from pacte_common.db import migrate

        if migrations not in self.built:  # tests run one at a time: no race
            if selected_database_kind() == "postgresql":
                name = f"pacte_template_{uuid.uuid4().hex[:12]}"
                await migrate(await _create_pg_database(name), migrations)
                self.built[migrations] = name
            else:
                self.folder = self.folder or Path(tempfile.mkdtemp(prefix="pacte-templates-"))
                path = self.folder / f"{migrations.parent.name}.db"
                await migrate(f"sqlite+aiosqlite:///{path}", migrations)
                self.built[migrations] = str(path)
        return self.built[migrations]

    def drop_all(self) -> None:
        if selected_database_kind() == "postgresql":
            for name in self.built.values():
                asyncio.run(_drop_pg_database(name))
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.built.clear()


_templates = MigratedTemplates()


def service_migrations(test_path: Path) -> Path | None:
    """The Alembic folder of the service whose tests hold `test_path` (none for the kernel's and
    the cross-service tests, whose databases start empty)."""
    try:
        parts = test_path.resolve().relative_to(project_root()).parts
    except ValueError:
        return None
    if len(parts) < 3 or parts[0] != "services":
        return None
    folder = project_root() / "services" / parts[1] / "migrations"
    return folder if folder.is_dir() else None


def seed_suite_databases(suite: Suite) -> None:
    """Gives each service of a suite about to start a copy of its migrated template, so that the
    processes start on a database at head instead of all migrating at once."""

    async def seed() -> None:
        for spec in SERVICES:
            migrations = project_root() / "services" / spec.name / "migrations"
            if not spec.has_database or not migrations.is_dir():
                continue
            template, url = await _templates.template(migrations), suite.database_url(spec)
            if suite.settings.postgres_url:
                await _create_pg_database(url.rsplit("/", 1)[1], template)
            else:
                suite.settings.data_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(template, url.removeprefix("sqlite+aiosqlite:///"))

    asyncio.run(seed())


@asynccontextmanager
async def fresh_database(folder: Path, stem: str = "service", migrations: Path | None = None) -> AsyncIterator[str]:
    """A fresh database on the backend PACTE_TEST_DATABASE names (dropped after): a copy of the
    template migrated with `migrations`, or empty."""
    template = await _templates.template(migrations) if migrations else None
    if selected_database_kind() == "postgresql":
        name = f"pacte_test_{uuid.uuid4().hex[:12]}"
        url = await _create_pg_database(name, template)
        yield url
        await _drop_pg_database(name)
    else:
        path = folder / f"{stem}.db"
        if template:
            shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def database_url(request, tmp_path) -> AsyncIterator[str]:
    """A fresh database for one test: for a service's tests, a copy of that service's database
    migrated to head (mark a test `empty_database` to start from nothing, e.g. to run the
    migrations itself); for the others, empty."""
    migrations = None if request.node.get_closest_marker("empty_database") else service_migrations(request.node.path)
    async with fresh_database(tmp_path, migrations=migrations) as url:
        yield url


@pytest.fixture
async def upstream_database_url(tmp_path) -> AsyncIterator[str]:
    """A second fresh database for the test: sessions', migrated, whose events another service
    reads (insights' tests run sessions beside it)."""
    async with fresh_database(tmp_path, "upstream", project_root() / "services" / "sessions" / "migrations") as url:
        yield url


@asynccontextmanager
async def running(app: FastAPI, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """Starts the app's lifespan (migrations, relay, consumers) and gives an HTTP client to it."""
    # The kernel's own bound for a stop (pacte_common.service._stop): 10 s for the background
    # tasks, then each cancelled consumer closes its three broker clients, each within the bus's
    # request timeout (10 s): 40 s and the engine's dispose. 30 s was below it on a loaded machine.
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=30) as client:
            yield client


@dataclass
class ServiceClient:
    """An HTTP client on one running app, with a token per kind of caller (signed once each)."""

    client: httpx.AsyncClient
    settings: ServiceSettings
    tokens: dict[str, dict] = field(default_factory=dict, kw_only=True)

    def as_(self, kind: OrgKind | str, org: str = "region") -> dict[str, str]:
        key = f"{kind}:{org}"
        if key not in self.tokens:
            self.tokens[key] = auth_header(self.settings, kind, org)
        return self.tokens[key]

    @property
    def region(self) -> dict[str, str]:
        return self.as_(OrgKind.REGION, "region")

    def topic(self, name: str) -> str:
        return topic_name(self.settings.bus, name)

    async def ok(self, method: str, url: str, headers: dict, expected: int = 200, **kwargs) -> Any:
        response = await self.client.request(method, url, headers=headers, **kwargs)
        assert response.status_code == expected, f"{method} {url}: {response.status_code} {response.text}"
        return response.json()


# The tests' token issuer: its key store and the `iss` its tokens carry.
TEST_ISSUER = "https://issuer.pacte.test"
_test_keys_dir: str | None = None


def use_test_issuer(keys_dir: str | Path) -> Path:
    """Development environment and a signing key of our own in `keys_dir`, for this process and its
    children: `mint_token` signs with it and every ServiceSettings built afterwards trusts its JWKS
    file (no issuer process). For the tests (below) and the benchmarks. Returns the JWKS file."""
    from pacte_tools.dev_issuer import DevIssuerSettings, DevKeyStore

    os.environ["PACTE_ENVIRONMENT"] = "development"
    os.environ["PACTE_DEV_ISSUER_KEYS_DIR"] = str(keys_dir)
    store = DevKeyStore.open(DevIssuerSettings(environment="development"))
    os.environ["PACTE_JWT_JWKS"] = str(store.jwks_file)
    os.environ["PACTE_JWT_ISSUER"] = TEST_ISSUER
    os.environ.pop("PACTE_JWT_JWKS_URL", None)
    return store.jwks_file


def pytest_configure(config) -> None:
    """Before any settings are built: the tests run in development with their own key."""
    global _test_keys_dir
    config.addinivalue_line("markers", "empty_database: the test's database starts empty (not a migrated copy)")
    _test_keys_dir = tempfile.mkdtemp(prefix="pacte-test-issuer-")
    use_test_issuer(_test_keys_dir)
    use_own_ports()


def use_own_ports() -> None:
    """Each xdist worker picks free ports in a block of its own (below the ephemeral range), so
    two workers starting suites at once never pick the same port."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        os.environ.setdefault("PACTE_FREE_PORT_RANGE", "16000-17499")
        return
    low = 17500 + 1500 * (int(worker.removeprefix("gw")) % 10)
    os.environ["PACTE_FREE_PORT_RANGE"] = f"{low}-{low + 1499}"


def pytest_unconfigure(config) -> None:
    _templates.drop_all()
    if _test_keys_dir:
        shutil.rmtree(_test_keys_dir, ignore_errors=True)


def auth_header(settings: ServiceSettings, kind: OrgKind | str, org: str = "test") -> dict[str, str]:
    """A bearer header for `settings`' service, signed with the tests' key (trusted by the test apps)."""
    return {"Authorization": f"Bearer {mint_token(settings, kind, org)}"}


def foreign_token(settings: ServiceSettings, kind: OrgKind | str, org: str = "test") -> str:
    """A token right in every claim but signed by a key that no JWKS of the tests publishes."""
    from pacte_tools.dev_issuer import DevKey, token_claims

    key = DevKey.generate("RS256")
    claims = token_claims(settings.jwt_issuer, [settings.jwt_audience], OrgKind(kind).value, org, timedelta(hours=1), names=settings)
    return jwt.encode(claims, key.private_key(), algorithm="RS256", headers={"kid": key.kid})


async def eventually(check: Callable, timeout: float = 30.0, interval: float = 0.05, message: str = "condition"):
    """Waits for `check()` (sync or async) to return a truthy value; fails after `timeout`. The
    default leaves room for a new consumer group's first join on a loaded machine (once 11 s of
    a 15 s wait, with three test processes on two cores); a passing wait returns at once."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while True:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message} (last value: {last!r})")
        await asyncio.sleep(interval)


async def read_topic(bus: BusSettings, topic: str, *, expect: int, timeout: float = 15.0) -> list[Envelope]:
    """Reads a whole topic from the start (full name, namespace included) until `expect` events came."""
    consumer = new_consumer(bus, topic, group_id=None)
    await consumer.start()
    envelopes: list[Envelope] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(envelopes) < expect and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                envelopes.extend(decode(m.headers, m.value) for m in messages)
        # a little more, to catch duplicates arriving right after the expected count
        batch = await consumer.getmany(timeout_ms=300)
        for messages in batch.values():
            envelopes.extend(decode(m.headers, m.value) for m in messages)
    finally:
        await consumer.stop()
    return envelopes


def project_root() -> Path:
    return Path(__file__).resolve().parents[4]


def new_siret() -> str:
    """A random SIRET whose Luhn key is valid (a training organisation of the test's own)."""
    body = "".join(random.choices("0123456789", k=13))
    for last in "0123456789":
        digits = body + last
        doubled = ((int(d) * 2 - 9 if int(d) * 2 > 9 else int(d) * 2) if i % 2 else int(d) for i, d in enumerate(reversed(digits)))
        if sum(doubled) % 10 == 0:
            return digits
    raise AssertionError("one of ten last digits always completes a Luhn number")


def new_nir(sex: str = "2", year: str = "95", month: str = "03", departement: str = "44") -> str:
    """A random NIR with its control key (a person of the test's own)."""
    body = f"{sex}{year}{month}{departement}{random.randint(1, 999):03d}{random.randint(1, 999):03d}"
    return body + f"{nir_key(body):02d}"


# Values no route may answer with a 5xx: a NUL character (percent-encoded), full-width digits
# where ASCII ones are meant ("２０２６-01"), and JSON bodies that are hostile by shape.
HOSTILE_VALUES = ("a%00b", "%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-01")
HOSTILE_BODIES = ("[" * 5000 + "]" * 5000, '{"x": "\\u0000"}')


async def assert_no_5xx_from_hostile_input(client: httpx.AsyncClient, settings: ServiceSettings, kinds=tuple(OrgKind)) -> int:
    """Feeds hostile values to every operation of the app's OpenAPI document (each path and
    query parameter, as every kind of caller) and hostile bodies to every operation taking
    one; returns how many requests were made. Operations with neither parameters nor a body
    are left alone: there is nothing to feed them, and they may act."""
    import re

    spec = (await client.get("/openapi.json")).json()
    made = 0
    callers = {kind: auth_header(settings, kind, "region" if kind is OrgKind.REGION else "73282932000074") for kind in kinds}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            parameters = [p for p in operation.get("parameters", []) if p.get("in") in ("path", "query")]
            takes_body = "requestBody" in operation
            if not parameters and not takes_body:
                continue
            for value in HOSTILE_VALUES:
                url = re.sub(r"\{[^}]+\}", value, path)
                query = "&".join(f"{p['name']}={value}" for p in parameters if p["in"] == "query")
                for kind, headers in callers.items():
                    response = await client.request(method.upper(), f"{url}?{query}" if query else url, headers=headers)
                    made += 1
                    assert response.status_code < 500, (method, url, query, kind, response.status_code, response.text[:300])
            if takes_body:
                for body in HOSTILE_BODIES:
                    url = re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", path)
                    headers = {**callers.get(OrgKind.REGION, next(iter(callers.values()))), "Content-Type": "application/json"}
                    response = await client.request(method.upper(), url, content=body, headers=headers)
                    made += 1
                    assert response.status_code < 500, (method, url, body[:20], response.status_code, response.text[:300])
    return made


class FixedClock:
    """A service's 'now' (`create_app(settings, clock=...)`), movable by the test: 10:00 UTC on `today`."""

    def __init__(self, today: date):
        self.today = today

    def __call__(self) -> datetime:
        return datetime.combine(self.today, time(10, 0), tzinfo=UTC)
