"""What every service shares at run time: the app factory's common half.

`build_app(...)` gives a FastAPI app with problem+json errors, trace context, health,
metrics, migrations at start, the outbox relay, the consumers and the service's own
background jobs, all stopped cleanly at shutdown. A service's `create_app(settings)`
passes its routers, subscriptions and jobs.

Health is split on purpose (docs/runbook.md, "Health and metrics"):
- `/health/live`: the process answers; gives its pid and instance id, so a supervisor knows
  it is talking to the process it just started and not an old one still holding the port;
- `/health/ready`: the service can accept its own writes (its database answers). The broker
  is not in it: while the broker is away the outbox keeps accepting writes, so taking the
  service out of a load balancer then would turn a bus outage into an API outage;
- `/health/status`: everything else, as JSON, with `degraded` and the reasons: broker
  reachable and its cluster id, resyncs, outbox backlog and oldest unsent age, consumer lag
  per partition, dead letters per topic, and what the service adds (the gateway: AGORA).
The same numbers are Prometheus gauges on `/metrics`, next to the HTTP request metrics.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import ipaddress
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.routing import _effective_routes
from prometheus_fastapi_instrumentator.routing import _get_route_name as _route_name
from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pacte_common import db, schedule
from pacte_common.auth import OrgKind, Principal, TokenVerifier, require_kind
from pacte_common.bus import ensure_topics, topic_name
from pacte_common.bus_probe import BusProbe
from pacte_common.consumer import (
    ConsumerRunner,
    DeadLetter,
    Subscription,
    read_dead_letters,
    replay_dead_letters,
)
from pacte_common.crypto import FieldCipher, LookupHasher
from pacte_common.docs import operation_id
from pacte_common.errors import Forbidden, NotFound, install_error_handlers
from pacte_common.events import Topics
from pacte_common.fair_share import FairShare
from pacte_common.http import install_http_conventions
from pacte_common.logs import configure_logging, install_redaction
from pacte_common.messaging import MessagingTables, Outbox, OutboxRelay, outbox_stats, pending_count
from pacte_common.settings import ServiceSettings
from pacte_common.tracing import current_traceparent, new_traceparent, parse_traceparent

log = logging.getLogger(__name__)
access_log = logging.getLogger("pacte.access")

Job = Callable[["Runtime", asyncio.Event], Awaitable[None]]

# The supervisor (`pacte up`, suite.py) gives each process it starts a fresh id in this
# variable; `/health/live` echoes it so readiness is checked against that very process.
INSTANCE_ID_ENV = "PACTE_INSTANCE_ID"
INSTANCE_ID = os.environ.get(INSTANCE_ID_ENV) or uuid.uuid4().hex
# Probes and scrapes come every second or so: their access lines are DEBUG, not INFO.
def _observability_reader(request: Request) -> None:
    """`/metrics` and `/health/status` for the allowed networks or the observability token only."""
    settings = request.app.state.runtime.settings
    token = settings.observability_token
    if not settings.observability_networks and token is None:
        return
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
        if any(address in ipaddress.ip_network(network, strict=False) for network in settings.observability_networks):
            return
    except ValueError:
        pass
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if token is not None and given and hmac.compare_digest(given, token.get_secret_value()):
        return
    raise Forbidden("Metrics and status are for the operators' networks or their token (PACTE_OBSERVABILITY_*)")


ObservabilityReader = Annotated[None, Depends(_observability_reader)]

_PROBE_ROUTES = frozenset({"/health/live", "/health/ready", "/health/status", "/metrics"})
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class HealthSettings(BaseSettings):
    """When `/health/status` says `degraded` (env prefix PACTE_HEALTH_, the same for every service)."""

    model_config = SettingsConfigDict(env_prefix="PACTE_HEALTH_", extra="ignore")

    # An unsent outbox row older than this means the bus is not keeping up (or is away).
    outbox_age_alert_s: float = 60.0
    # A consumer group this many messages behind on one partition is falling behind.
    consumer_lag_alert: int = 1000
    # Bus numbers are read at most this often, however many probes and scrapes come.
    cache_s: float = 1.0
    # Each broker round trip of a status read gives up after this long.
    broker_timeout_s: float = 5.0


@dataclass
class Component:
    """One part of `/health/status`: its numbers and what is wrong with it (empty when well)."""

    name: str
    details: dict[str, Any]
    problems: list[str] = field(default_factory=list)


# A service adds parts of its own to `/health/status` (the gateway: AGORA reachability).
StatusProvider = Callable[["Runtime"], Awaitable[Component]]


@dataclass
class Runtime:
    """Everything a request handler or a job needs, built once per app.

    A service that needs more (wake-up events, clients, metrics) declares a subclass with typed
    fields, all with defaults, and passes it to `build_app(runtime_class=...)`.
    """

    settings: ServiceSettings
    engine: AsyncEngine
    db_factory: async_sessionmaker[AsyncSession]  # opens a database session (`db`)
    tables: MessagingTables
    outbox: Outbox
    cipher: FieldCipher
    hasher: LookupHasher
    registry: CollectorRegistry
    relay: OutboxRelay | None = None
    consumers: list[ConsumerRunner] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)
    bus_probe: BusProbe | None = None  # made by the first `/health/status` read
    status_providers: list[StatusProvider] = field(default_factory=list)
    token_verifier: TokenVerifier | None = None  # made by the first request with a token


async def _token_issuer_status(runtime: Runtime) -> Component:
    """Whether the OpenID provider's JWKS can be fetched, and how old the keys in use are."""
    verifier = runtime.token_verifier
    if verifier is None:
        verifier = runtime.token_verifier = TokenVerifier(runtime.settings)
    details, problems = verifier.status()
    return Component("token_issuer", details, problems)


async def _scheduled_jobs_status(runtime: Runtime) -> Component:
    """Each scheduled job's last turn: which instance ran it, when, and how it ended."""
    table = runtime.tables.outbox.metadata.tables[schedule.TABLE]
    turns = await schedule.last_turns(runtime.db_factory, table)
    details = {turn.job: {"started_at": turn.started_at.isoformat(), "started_by": turn.started_by,
                          "finished_at": turn.finished_at.isoformat() if turn.finished_at else None,
                          "outcome": turn.outcome} for turn in turns}
    failed = [f"scheduled job {turn.job}: {turn.outcome}" for turn in turns if (turn.outcome or "").startswith("failed")]
    return Component("scheduled_jobs", details, failed)


async def get_runtime(request: Request) -> Runtime:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request
    return request.app.state.runtime


async def get_db(request: Request):
    async with request.app.state.runtime.db_factory() as db:
        yield db


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
DbSession = Annotated[AsyncSession, Depends(get_db)]


@dataclass
class _Metrics:
    """The service's own Prometheus registry and the counters the runtime feeds."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self):
        registry = self.registry
        self.consumed = Counter("pacte_events_consumed", "Events seen by consumers, by outcome", ["event_type", "outcome"],
                                registry=registry)
        self.published = Counter("pacte_outbox_published", "Events published by the outbox relay", registry=registry)
        self.outbox_pending = Gauge("pacte_outbox_pending", "Outbox rows waiting for the broker", registry=registry)
        self.resyncs = Counter(
            "pacte_bus_resyncs",
            "Resyncs after a new broker incarnation or topics found missing or truncated, by component",
            ["component"],
            registry=registry,
        )
        self.gauges = _StatusGauges(registry)


@dataclass
class _Wiring:
    """What a service hands to `build_app`, kept together for the lifespan and the routes."""

    settings: ServiceSettings
    tables: MessagingTables
    migrations: Path
    subscriptions: Sequence[Subscription]
    jobs: Sequence[Job]
    published_topics: Sequence[str]
    on_startup: Callable[[Runtime], Awaitable[None]] | None
    runtime_class: type[Runtime]
    version: str
    metrics: _Metrics = field(default_factory=_Metrics)
    started_at: float = field(default_factory=time.time)


def build_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    metadata: MetaData,
    tables: MessagingTables,
    migrations: Path,
    routers: Sequence[APIRouter] = (),
    subscriptions: Sequence[Subscription] = (),
    jobs: Sequence[Job] = (),
    published_topics: Sequence[str] = (),
    on_startup: Callable[[Runtime], Awaitable[None]] | None = None,
    runtime_class: type[Runtime] = Runtime,
    version: str = "0.1.0",
) -> FastAPI:
    """The service's app: its routers behind the shared HTTP conventions, the operations routes,
    and a lifespan that migrates, then runs the outbox relay, the consumers and the jobs."""
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    install_redaction()
    wiring = _Wiring(settings, tables, migrations, subscriptions, jobs, published_topics, on_startup, runtime_class, version)
    app = FastAPI(
        title=title, description=description, version=version, lifespan=_lifespan(wiring),
        generate_unique_id_function=operation_id,
    )
    install_error_handlers(app)
    install_http_conventions(app, settings)
    app.state.fair_share = FairShare(settings.rate_limits, settings.heavy_reports_concurrency,
                                     settings.heavy_reports_wait_s)
    _install_trace_context(app)
    # HTTP request counts and durations by route template, method and status class.
    Instrumentator(registry=wiring.metrics.registry, excluded_handlers=["/metrics"]).instrument(app)
    app.include_router(_operations_router(wiring))
    app.include_router(_dead_letter_admin())
    for router in routers:
        app.include_router(router)
    return app


def _lifespan(wiring: _Wiring):
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime = await _open_runtime(wiring)
        app.state.runtime = runtime
        if wiring.on_startup:
            await wiring.on_startup(runtime)
        if wiring.settings.run_background_tasks:
            _start_background_tasks(runtime, wiring)
        log.info("%s started", wiring.settings.service_name)
        # The objects made at start-up (modules, models, routes, compiled schemas: some 170,000)
        # are moved out of the garbage collector's reach: a full collection walked them all and
        # paused whichever request was running for 100 ms or more every few seconds (docs/public-search.md,
        # "Garbage collection"). No collection first, which would cost every start as much as a pause.
        # Unfrozen at stop, so a process that starts several apps (the tests) still collects the
        # cycles of the ones stopped.
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            await _stop(runtime)

    return lifespan


async def _open_runtime(wiring: _Wiring) -> Runtime:
    settings = wiring.settings
    engine = db.create_engine(settings.database_url, settings.database_echo, settings.database_pool_size,
                              settings.database_max_overflow, settings.database_pool_pre_ping)
    cipher = FieldCipher(settings.encryption_keys, settings.encryption_key_id)
    await db.migrate(settings.database_url, wiring.migrations, cipher)
    runtime = wiring.runtime_class(
        settings=settings,
        engine=engine,
        db_factory=db.session_factory(engine),
        tables=wiring.tables,
        outbox=Outbox(wiring.tables, source=f"/pacte/{settings.service_name}", bus=settings.bus),
        cipher=cipher,
        hasher=LookupHasher(settings.lookup_hash_key),
        registry=wiring.metrics.registry,
    )
    runtime.status_providers.append(_token_issuer_status)
    if schedule.TABLE in wiring.tables.outbox.metadata.tables:  # the service runs scheduled jobs
        runtime.status_providers.append(_scheduled_jobs_status)
    return runtime


def _start_background_tasks(runtime: Runtime, wiring: _Wiring) -> None:
    """The outbox relay, one consumer per subscription and the jobs, each a task until `stop`."""
    settings, metrics = wiring.settings, wiring.metrics
    runtime.relay = OutboxRelay(
        runtime.outbox, runtime.engine, runtime.db_factory, timedelta(hours=settings.bus.outbox_retention_hours),
        on_published=metrics.published.inc, on_resync=lambda reason: metrics.resyncs.labels("outbox-relay").inc(),
    )
    runtime.tasks.append(asyncio.create_task(_create_topics(settings, wiring.published_topics)))
    runtime.tasks.append(asyncio.create_task(runtime.relay.run(runtime.stop), name="outbox-relay"))
    for subscription in wiring.subscriptions:
        runner = ConsumerRunner(
            subscription,
            service=settings.service_name,
            bus=settings.bus,
            factory=runtime.db_factory,
            tables=runtime.tables,
            on_outcome=lambda t, o: metrics.consumed.labels(t, o).inc(),
            context=runtime,
            on_resync=lambda reason, name=subscription.name: metrics.resyncs.labels(f"consumer:{name}").inc(),
        )
        runtime.consumers.append(runner)
        runtime.tasks.append(asyncio.create_task(runner.run(runtime.stop), name=f"consumer-{subscription.name}"))
    for job in wiring.jobs:
        runtime.tasks.append(asyncio.create_task(_guarded(job, runtime), name=f"job-{job.__name__}"))


async def _stop(runtime: Runtime) -> None:
    runtime.stop.set()
    if runtime.tasks:
        done, pending = await asyncio.wait(runtime.tasks, timeout=10)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    if runtime.bus_probe is not None:
        await runtime.bus_probe.close()
    await runtime.engine.dispose()
    log.info("%s stopped", runtime.settings.service_name)


def _install_trace_context(app: FastAPI) -> None:
    """Every request runs in its trace (W3C traceparent, given or new) and is logged once."""
    app.add_middleware(_TraceContext, lock_settings=db.LockSettings())


class _TraceContext:
    """The trace context, the database access mode and the access log of every HTTP request.

    A plain ASGI middleware (Starlette's `@app.middleware("http")` ran each request in a task
    group with memory streams for its body, a fifth of a small request's CPU): the answer gets
    `traceparent`, reads take no write lock (SQLite) and a write waits for it a bounded time (503)."""

    def __init__(self, app, lock_settings: db.LockSettings):
        self.app = app
        self.lock_settings = lock_settings

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        traceparent = None
        for name, value in scope["headers"]:
            if name == b"traceparent":
                traceparent = parse_traceparent(value.decode("latin-1"))
                break
        traceparent = traceparent or new_traceparent()
        header = (b"traceparent", traceparent.encode())
        token = current_traceparent.set(traceparent)
        started = time.perf_counter()
        status_code = 500  # what the client gets if the handler raises past every handler

        async def send_with_trace(message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        settings = self.lock_settings
        try:
            with db.access_mode(read_only=scope["method"] in _READ_METHODS, queue_wait_s=settings.http_queue_wait_s,
                                lock_wait_s=settings.http_lock_wait_s):
                await self.app(scope, receive, send_with_trace)
        finally:
            _log_access(scope, status_code, time.perf_counter() - started)
            current_traceparent.reset(token)


def _operations_router(wiring: _Wiring) -> APIRouter:
    """Liveness, readiness, status, metrics and the AsyncAPI catalogue."""
    settings, metrics, health_settings = wiring.settings, wiring.metrics, HealthSettings()
    status_cache: dict[str, Any] = {}
    health = APIRouter(tags=["operations"])

    @health.get("/health/live", summary="The process is up (with its pid and instance id)")
    async def health_live() -> dict:
        return {"status": "ok", "service": settings.service_name, "pid": os.getpid(), "instance_id": INSTANCE_ID,
                "uptime_s": round(time.time() - wiring.started_at, 1)}

    @health.get("/health/ready", summary="The service can accept its own writes (its database answers)")
    async def health_ready(runtime: RuntimeDep):
        database = await _database_check(runtime)
        status = 200 if database == "ok" else 503
        return JSONResponse(
            {"status": "ok" if status == 200 else "not ready", "checks": {"database": database}},
            status_code=status,
        )

    async def current_status(runtime: Runtime) -> dict:
        cached = status_cache.get("report")
        if cached is not None and time.monotonic() - status_cache["at"] < health_settings.cache_s:
            return cached
        report = await _status_report(runtime, health_settings, wiring.started_at)
        metrics.gauges.update(report)
        status_cache.update(report=report, at=time.monotonic())
        return report

    @health.get(
        "/health/status",
        summary="Everything beyond readiness: broker, outbox, consumers, dead letters (ok or degraded, with reasons)",
    )
    async def health_status(runtime: RuntimeDep, _: ObservabilityReader) -> dict:
        return await current_status(runtime)

    @health.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def get_metrics(runtime: RuntimeDep, _: ObservabilityReader):
        metrics.outbox_pending.set(await pending_count(runtime.db_factory, runtime.tables))
        await current_status(runtime)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @health.get("/asyncapi.json", summary="AsyncAPI 3 catalogue of the events this service publishes")
    async def get_asyncapi() -> dict:
        from pacte_common.asyncapi import TOPIC_OWNERS, build_asyncapi

        owners = {TOPIC_OWNERS[t][0] for t in wiring.published_topics if t in TOPIC_OWNERS}
        return build_asyncapi(owners or {settings.service_name}, wiring.version)

    return health


def _log_access(scope, status_code: int, duration_s: float) -> None:
    """One line per request: the route template, never the raw path (ids, NIRs in paths)."""
    method = scope["method"]
    route = _route_template(scope) or "<unmatched>"
    access_log.log(
        logging.DEBUG if route in _PROBE_ROUTES else logging.INFO,
        "%s %s %d %.1fms",
        method,
        route,
        status_code,
        duration_s * 1000,
        extra={"method": method, "route": route, "status": status_code, "duration_ms": round(duration_s * 1000, 1)},
    )


def _route_template(scope) -> str | None:
    """The route template of a request (`/prescriptions/{prescription_id}`), as the metrics name
    it; the app's routes flattened once, not at every request."""
    app = scope.get("app")
    routes = getattr(app, "routes", None)
    if not routes:
        return None
    cached = getattr(app.state, "pacte_flat_routes", None)
    if cached is None or cached[0] != len(routes):
        cached = (len(routes), _effective_routes(routes))
        app.state.pacte_flat_routes = cached
    return _route_name(scope, cached[1])


async def _database_check(runtime: Runtime) -> str:
    try:
        await asyncio.wait_for(db.ping(runtime.engine), 3)
        return "ok"
    except Exception as exc:
        return f"down: {type(exc).__name__}"


class _StatusGauges:
    """The `/health/status` numbers as Prometheus gauges (refreshed when either is read)."""

    def __init__(self, registry: CollectorRegistry):
        self.degraded = Gauge("pacte_health_degraded", "1 when /health/status says degraded", registry=registry)
        self.broker_up = Gauge("pacte_broker_up", "1 when the broker answered the last status read", registry=registry)
        self.oldest_unsent = Gauge(
            "pacte_outbox_oldest_unsent_age_seconds", "Age of the oldest outbox row not yet sent", registry=registry
        )
        self.lag = Gauge(
            "pacte_consumer_lag", "Messages not yet handled, by consumer and partition", ["consumer", "topic", "partition"], registry=registry
        )
        self.dlq = Gauge("pacte_dlq_depth", "Messages in a dead-letter topic", ["topic"], registry=registry)
        self.failed = Gauge(
            "pacte_outbox_failed", "Outbox rows that failed to send and wait for an operator", registry=registry
        )

    def update(self, report: dict) -> None:
        self.degraded.set(1 if report["status"] == "degraded" else 0)
        broker = report["components"].get("broker", {})
        self.broker_up.set(1 if broker.get("reachable") else 0)
        self.oldest_unsent.set(report["components"]["outbox"].get("oldest_unsent_age_s") or 0)
        self.failed.set(report["components"]["outbox"].get("failed") or 0)
        for consumer in report["components"].get("consumers", []):
            for partition, lag in consumer.get("lag", {}).items():
                topic, _, number = partition.rpartition(":")
                self.lag.labels(consumer["name"], topic, number).set(lag)
        for topic, depth in report["components"].get("dead_letters", {}).items():
            self.dlq.labels(topic).set(depth)


class DeadLetterReplay(BaseModel):
    topic: str
    replayed: int
    failed_again: int
    unsettled: int


class DeadLetters(BaseModel):
    topic: str
    total: int
    not_replayed: int
    last: list[DeadLetter]


# Module level: with postponed annotations, FastAPI resolves a route's annotations here.
RegionOperator = Annotated[Principal, require_kind(OrgKind.REGION)]


def _dead_letter_admin() -> APIRouter:
    """The Region console's hold on this service's dead letters (Region only, own topics only):
    - `GET /admin/dead-letters/{topic}`: how many, and the last ones with their errors (no payload);
    - `POST /admin/dead-letters/{topic}/replay`: `pacte bus replay-dlq` over HTTP, all of them or
      the `limit` oldest not yet replayed. The wait for the consumers is short (`settle_s`);
      what is still on its way is reported as `unsettled`."""
    admin = APIRouter(tags=["operations"])

    def own_topic(runtime: Runtime, topic: str) -> str:
        own = {runner.dlq_topic(t) for runner in runtime.consumers for t in runner.topics}
        if topic not in own:
            raise NotFound(f"{topic!r} is not a dead-letter topic of {runtime.settings.service_name}")
        return topic

    @admin.get(
        "/admin/dead-letters/{topic}", response_model=DeadLetters,
        summary="A dead-letter topic of this service: its count and its last errors, newest first (Region only)",
    )
    async def read_dead_letter_topic(
        topic: str, principal: RegionOperator, runtime: RuntimeDep, last: Annotated[int, Query(ge=1, le=200)] = 20,
    ) -> DeadLetters:
        try:
            total, letters = await read_dead_letters(runtime.settings.bus, own_topic(runtime, topic), last=last)
        except LookupError as exc:
            raise NotFound(str(exc)) from None
        return DeadLetters(topic=topic, total=total, not_replayed=sum(not d.replayed for d in letters), last=letters)

    @admin.post(
        "/admin/dead-letters/{topic}/replay", response_model=DeadLetterReplay,
        summary="Replay a dead-letter topic of this service to its original topic, once each (Region only)",
    )
    async def replay_dead_letter_topic(
        topic: str, principal: RegionOperator, runtime: RuntimeDep,
        settle_s: Annotated[float, Query(gt=0, le=30)] = 5.0,
        limit: Annotated[int | None, Query(ge=1, description="Replay only the N oldest not yet replayed")] = None,
    ) -> DeadLetterReplay:
        try:
            report = await replay_dead_letters(
                runtime.settings.bus, own_topic(runtime, topic), limit=limit, settle_timeout_s=settle_s
            )
        except LookupError as exc:
            raise NotFound(str(exc)) from None
        log.info("dead letters of %s replayed by %s: %s", topic, principal.describe(), report)
        return DeadLetterReplay(topic=topic, replayed=report.replayed, failed_again=report.failed_again, unsettled=report.unsettled)

    return admin


async def _status_report(runtime: Runtime, health: HealthSettings, started_at: float) -> dict:
    components: dict[str, Any] = {}
    reasons: list[str] = []

    database = await _database_check(runtime)
    components["database"] = {"status": database}
    if database != "ok":
        reasons.append(f"database {database}")

    outbox = await _outbox_numbers(runtime)
    components["outbox"] = outbox
    if outbox.get("oldest_unsent_age_s") and outbox["oldest_unsent_age_s"] > health.outbox_age_alert_s:
        reasons.append(f"outbox: oldest unsent event is {outbox['oldest_unsent_age_s']:.0f}s old ({outbox['backlog']} waiting)")
    if outbox.get("failed"):
        reasons.append(f"outbox: {outbox['failed']} event(s) failed to send (`pacte bus outbox --failed`)")
    if runtime.settings.run_background_tasks:
        components["outbox"]["relay_connected"] = bool(runtime.relay and runtime.relay.connected)
    components["resyncs"] = (runtime.relay.resyncs if runtime.relay else 0) + sum(r.resyncs for r in runtime.consumers)

    bus = await _bus_numbers(runtime, health)
    components.update(bus)
    if not bus["broker"]["reachable"]:
        reasons.append(f"broker unreachable: {bus['broker'].get('error', '')}".rstrip(": "))
    for consumer in bus.get("consumers", []):
        if runtime.settings.run_background_tasks and not consumer["connected"]:
            reasons.append(f"consumer {consumer['name']} not connected")
        worst = max(consumer.get("lag", {}).values(), default=0)
        if worst > health.consumer_lag_alert:
            reasons.append(f"consumer {consumer['name']} is {worst} messages behind")
    for topic, depth in bus.get("dead_letters", {}).items():
        if depth:
            reasons.append(f"{depth} dead letter(s) in {topic}")

    for provider in runtime.status_providers:
        try:
            component = await provider(runtime)
        except Exception as exc:  # a broken provider is itself a problem, never a 500
            component = Component(getattr(provider, "__name__", "extra"), {}, [f"status unavailable: {type(exc).__name__}"])
        components[component.name] = component.details
        reasons.extend(component.problems)

    return {
        "status": "degraded" if reasons else "ok",
        "reasons": reasons,
        "service": runtime.settings.service_name,
        "pid": os.getpid(),
        "instance_id": INSTANCE_ID,
        "uptime_s": round(time.time() - started_at, 1),
        "components": components,
    }


async def _outbox_numbers(runtime: Runtime) -> dict:
    try:
        stats = await outbox_stats(runtime.db_factory, runtime.tables)
    except Exception as exc:
        return {"backlog": None, "oldest_unsent_age_s": None, "failed": None, "error": type(exc).__name__}
    numbers: dict[str, Any] = {
        "backlog": stats.backlog,
        "oldest_unsent_age_s": round(stats.oldest_unsent_age_s or 0.0, 1),
        "failed": stats.failed,
    }
    if runtime.relay is not None:
        numbers.update(cluster_id=runtime.relay.cluster_id, resyncs=runtime.relay.resyncs)
    return numbers


async def _bus_numbers(runtime: Runtime, health: HealthSettings) -> dict:
    """Broker, consumer lag per partition and dead letters per topic, read from the broker
    through clients kept between reads (pacte_common.bus_probe).

    Lag is the end offset minus the group's committed offset (earliest when it committed
    nothing); dead letters are a DLQ topic's end minus its beginning offset.
    """
    if runtime.bus_probe is None:
        runtime.bus_probe = BusProbe(runtime.settings.bus, health.broker_timeout_s)
    return await runtime.bus_probe.read(runtime.consumers)


async def _create_topics(settings: ServiceSettings, topics: Sequence[str]) -> None:
    wanted = [topic_name(settings.bus, t) for t in topics]
    if not wanted:
        return
    while True:
        try:
            await ensure_topics(settings.bus, wanted)
            return
        except Exception as exc:
            log.warning("cannot create topics yet: %s", exc)
            await asyncio.sleep(2)


async def _guarded(job: Job, runtime: Runtime) -> None:
    """A background job that fails is logged and restarted, never silently gone."""
    while not runtime.stop.is_set():
        try:
            await job(runtime, runtime.stop)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background job %s failed; restarting", job.__name__)
            try:
                await asyncio.wait_for(runtime.stop.wait(), 5)
            except TimeoutError:
                pass


__all__ = ["Component", "DbSession", "INSTANCE_ID", "Job", "StatusProvider", "Runtime", "RuntimeDep", "Topics", "build_app", "get_runtime"]
