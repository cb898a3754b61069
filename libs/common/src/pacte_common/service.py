"""What every service shares at run time: the app factory's common half.

`build_app(...)` gives a FastAPI app with problem+json errors, trace context, health,
metrics, migrations at start, the outbox relay, the consumers and the service's own
background jobs, all stopped cleanly at shutdown. A service's `create_app(settings)`
passes its routers, subscriptions and jobs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pacte_common import db
from pacte_common.bus import broker_reachable, ensure_topics, topic_name
from pacte_common.consumer import ConsumerRunner, Subscription
from pacte_common.crypto import FieldCipher, LookupHasher
from pacte_common.errors import install_error_handlers
from pacte_common.events import Topics
from pacte_common.http import install_http_conventions
from pacte_common.logs import configure_logging, install_redaction
from pacte_common.messaging import MessagingTables, Outbox, OutboxRelay, pending_count
from pacte_common.settings import ServiceSettings
from pacte_common.tracing import current_traceparent, new_traceparent, parse_traceparent

log = logging.getLogger(__name__)

Job = Callable[["Runtime", asyncio.Event], Awaitable[None]]


@dataclass
class Runtime:
    """Everything a request handler or a job needs, built once per app."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tables: MessagingTables
    outbox: Outbox
    cipher: FieldCipher
    hasher: LookupHasher
    registry: CollectorRegistry
    relay: OutboxRelay | None = None
    consumers: list[ConsumerRunner] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_session(request: Request):
    async with request.app.state.runtime.sessions() as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
DbSession = Annotated[AsyncSession, Depends(get_session)]


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
    version: str = "0.1.0",
) -> FastAPI:
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    install_redaction()
    registry = CollectorRegistry()
    consumed = Counter("pacte_events_consumed", "Events seen by consumers, by outcome", ["event_type", "outcome"], registry=registry)
    published = Counter("pacte_outbox_published", "Events published by the outbox relay", registry=registry)
    outbox_pending = Gauge("pacte_outbox_pending", "Outbox rows waiting for the broker", registry=registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = db.create_engine(settings.database_url, settings.database_echo)
        await db.migrate(settings.database_url, migrations)
        factory = db.session_factory(engine)
        outbox = Outbox(tables, source=f"/pacte/{settings.service_name}", bus=settings.bus)
        runtime = Runtime(
            settings=settings,
            engine=engine,
            sessions=factory,
            tables=tables,
            outbox=outbox,
            cipher=FieldCipher(settings.encryption_keys, settings.encryption_key_id),
            hasher=LookupHasher(settings.lookup_hash_key),
            registry=registry,
        )
        app.state.runtime = runtime
        if on_startup:
            await on_startup(runtime)
        if settings.run_background_tasks:
            runtime.relay = OutboxRelay(
                outbox, engine, factory, timedelta(hours=settings.bus.outbox_retention_hours), on_published=published.inc
            )
            runtime.tasks.append(asyncio.create_task(_create_topics(settings, published_topics)))
            runtime.tasks.append(asyncio.create_task(runtime.relay.run(runtime.stop), name="outbox-relay"))
            for subscription in subscriptions:
                runner = ConsumerRunner(
                    subscription,
                    service=settings.service_name,
                    bus=settings.bus,
                    factory=factory,
                    tables=tables,
                    on_outcome=lambda t, o: consumed.labels(t, o).inc(),
                    context=runtime,
                )
                runtime.consumers.append(runner)
                runtime.tasks.append(asyncio.create_task(runner.run(runtime.stop), name=f"consumer-{subscription.name}"))
            for job in jobs:
                runtime.tasks.append(asyncio.create_task(_guarded(job, runtime), name=f"job-{job.__name__}"))
        log.info("%s started", settings.service_name)
        try:
            yield
        finally:
            runtime.stop.set()
            if runtime.tasks:
                done, pending = await asyncio.wait(runtime.tasks, timeout=10)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            await engine.dispose()
            log.info("%s stopped", settings.service_name)

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    install_error_handlers(app)
    install_http_conventions(app, settings)

    @app.middleware("http")
    async def trace_context(request: Request, call_next):
        traceparent = parse_traceparent(request.headers.get("traceparent")) or new_traceparent()
        token = current_traceparent.set(traceparent)
        try:
            response = await call_next(request)
        finally:
            current_traceparent.reset(token)
        response.headers["traceparent"] = traceparent
        return response

    health = APIRouter(tags=["operations"])

    @health.get("/health/live", summary="The process is up")
    async def live() -> dict:
        return {"status": "ok", "service": settings.service_name}

    @health.get("/health/ready", summary="Database and broker reachable, consumers running")
    async def ready(runtime: RuntimeDep):
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(db.ping(runtime.engine), 3)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"down: {type(exc).__name__}"
        checks["broker"] = "ok" if await broker_reachable(settings.bus) else "down"
        if settings.run_background_tasks:
            checks["outbox_relay"] = "ok" if runtime.relay and runtime.relay.connected else "connecting"
            for runner in runtime.consumers:
                checks[f"consumer:{runner.subscription.name}"] = "ok" if runner.connected else "connecting"
        status = 200 if all(v == "ok" for v in checks.values()) else 503
        return JSONResponse({"status": "ok" if status == 200 else "not ready", "checks": checks}, status_code=status)

    @health.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(runtime: RuntimeDep):
        outbox_pending.set(await pending_count(runtime.sessions, runtime.tables))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @health.get("/asyncapi.json", summary="AsyncAPI 3 catalogue of the events this service publishes")
    async def asyncapi() -> dict:
        from pacte_common.asyncapi import TOPIC_OWNERS, build_asyncapi

        owners = {TOPIC_OWNERS[t][0] for t in published_topics if t in TOPIC_OWNERS}
        return build_asyncapi(owners or {settings.service_name}, version)

    app.include_router(health)
    for router in routers:
        app.include_router(router)
    return app


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


__all__ = ["DbSession", "Job", "Runtime", "RuntimeDep", "Topics", "build_app", "get_runtime"]
