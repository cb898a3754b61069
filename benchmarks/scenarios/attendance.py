"""Attendance sheets at the morning peak, and a month's close.

A fresh attendance process (single uvicorn worker, its own database, a Tansu broker) is loaded
through its real interfaces only: a stand-in for sessions publishes each trainee's entry (the
events attendance consumes), the organisation plans the half-days and sends each trainee a
personal link over HTTP. Server time is the development clock file, set inside the half-day.

- Signatures: 1,000 trainees (50 sessions of 20) sign their personal link within 10 s, sent
  at a steady pace (open loop, as phones arrive between 8:55 and 9:10); figure: p99 latency.
  Target ≤ 300 ms on each database.
- Month close: a 20-trainee session's month (every weekday of November 2026 but 11 November,
  mornings and afternoons: 40 half-days, 800 signatures on the trainer's device, 40
  countersignatures), then `POST /sessions/{id}/months/2026-11/close`, wall clock. Target ≤ 1 s.

Quick: 40 signatures in 2 s, a 3-trainee session over one week. No baseline app: the target is the goal."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
from attendance.settings import AttendanceSettings
from pacte_common.auth import OrgKind
from pacte_common.bus import ensure_topics, new_producer, topic_name
from pacte_common.contracts.people import PersonProfile
from pacte_common.contracts.sessions import (
    DossierSnapshot,
    DossierStatus,
    Pillar,
    ProgrammeInfo,
    RecruitmentState,
    SessionSnapshot,
    TraineeEntered,
)
from pacte_common.events import Envelope, Topics
from pacte_common.settings import BusSettings
from pacte_tools.broker import free_port, start_tansu, stop_process
from pacte_tools.dev_issuer import mint_token

from benchmarks.core import Context, Row, Scenario, uvicorn_process
from benchmarks.scenarios.payrun import consumed

SIRET = "73282932000074"
PARIS = ZoneInfo("Europe/Paris")


def _entered(session_id: uuid.UUID, dossier_id: uuid.UUID) -> TraineeEntered:
    snapshot = SessionSnapshot(
        session_id=session_id, action_id=uuid.uuid4(), organisation_siret=SIRET, action_title="Agent de propreté",
        programme=ProgrammeInfo(code="VISA", name="VISA Métiers", pillar=Pillar.VISA), hours_in_centre=Decimal("420"),
        hourly_price=Decimal("12.5"), departement="44", start_date=date(2026, 11, 2), end_date=date(2027, 3, 31), places=20,
        recruitment_state=RecruitmentState.OPEN)
    dossier = DossierSnapshot(dossier_id=dossier_id, person_id=uuid.uuid4(), profile=PersonProfile(sex="F", birth_date=date(1995, 3, 10)),
                              session=snapshot, status=DossierStatus.IN_TRAINING, entry_date=date(2026, 11, 2), version=2)
    return TraineeEntered(dossier=dossier, occurred_at=datetime.now(UTC), actor="bench", entry_date=date(2026, 11, 2))


async def _publish_trainees(bus: BusSettings, sessions: dict[uuid.UUID, list[uuid.UUID]]) -> int:
    producer = new_producer(bus)
    await producer.start()
    try:
        pending = []
        for session_id, dossiers in sessions.items():
            for dossier_id in dossiers:
                event = _entered(session_id, dossier_id)
                envelope = Envelope.wrap(event, source="/pacte/sessions", subject=str(dossier_id))
                pending.append(await producer.send(topic_name(bus, event.topic), envelope.body(), key=str(dossier_id).encode(),
                                                   headers=envelope.headers()))
        await asyncio.gather(*pending)
        return len(pending)
    finally:
        await producer.stop()


async def _wait_consumed(client: httpx.AsyncClient, expected: int, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    done = 0
    for _ in range(int(timeout_s * 2)):
        done = (await consumed(client))[0]
        if done >= expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    if done < expected:
        raise RuntimeError(f"attendance consumed {done} of {expected} trainee events")


def _set_clock(path, local: str) -> None:
    path.write_text(datetime.fromisoformat(local).replace(tzinfo=PARIS).astimezone(UTC).isoformat())


async def _gather(limit: int, coroutines) -> list:
    semaphore = asyncio.Semaphore(limit)

    async def bounded(coroutine):
        async with semaphore:
            return await coroutine

    return await asyncio.gather(*(bounded(c) for c in coroutines))


async def _signatures(client: httpx.AsyncClient, org: dict, clock, sessions: dict, trainees: int, seconds: float) -> dict:
    half_days = {}
    for session_id in sessions:
        response = await client.post(f"/sessions/{session_id}/schedule/pattern", headers=org, json={
            "first_day": "2026-11-16", "last_day": "2026-11-16", "weekdays": {"mon": ["morning"]}})
        half_days[session_id] = response.json()["created"][0]["id"]
    _set_clock(clock, "2026-11-16T08:00:00")
    pairs = [(half_days[s], d) for s, dossiers in sessions.items() for d in dossiers][:trainees]
    links = await _gather(16, (client.post(f"/half-days/{h}/links", headers=org, json={"dossier_id": str(d)}) for h, d in pairs))
    bodies = [{"token": link.json()["token"], "half_day_id": h, "dossier_id": str(d), "consent": True} for link, (h, d) in zip(links, pairs, strict=True)]
    _set_clock(clock, "2026-11-16T08:58:00")
    latencies, errors = [], 0
    started = time.perf_counter()

    async def sign(i: int, body: dict) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, started + i * seconds / len(bodies) - time.perf_counter()))
        sent = time.perf_counter()
        response = await client.post("/signatures/link", json=body, headers={"User-Agent": f"phone-{i}"})
        if response.status_code == 201:
            latencies.append(time.perf_counter() - sent)
        else:
            errors += 1

    await asyncio.gather(*(sign(i, body) for i, body in enumerate(bodies)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]
    return {"signatures": len(latencies), "errors": errors, "seconds": elapsed, "p50_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]}


async def _month_close(client: httpx.AsyncClient, org: dict, clock, session_id: uuid.UUID, dossiers: list[uuid.UUID], last_day: str) -> dict:
    planned = await client.post(f"/sessions/{session_id}/schedule/pattern", headers=org, json={
        "first_day": "2026-11-02", "last_day": last_day, "weekdays": {d: ["morning", "afternoon"] for d in ("mon", "tue", "wed", "thu", "fri")}})
    half_days = planned.json()["created"]
    for half_day in half_days:
        _set_clock(clock, f"{half_day['day']}T{half_day['starts_at']}")
        await _gather(20, (client.post(f"/half-days/{half_day['id']}/signatures", headers=org, json={"dossier_id": str(d), "consent": True})
                           for d in dossiers))
        await client.post(f"/half-days/{half_day['id']}/countersignature", headers=org, json={"trainer": "Claire Martin"})
    _set_clock(clock, "2026-12-01T10:00:00")
    started = time.perf_counter()
    closed = await client.post(f"/sessions/{session_id}/months/2026-11/close", headers=org)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "status": closed.status_code, "half_days": len(half_days), "trainees": len(dossiers),
            "errors": 0 if closed.status_code == 201 else 1}


async def run(context: Context) -> list[Row]:
    trainees, seconds = context.size(40, 1000), (2.0 if context.quick else 10.0)
    close_trainees, last_day = context.size(3, 20), ("2026-11-06" if context.quick else "2026-11-30")
    port, broker_port = free_port(), free_port()
    broker = start_tansu("127.0.0.1", broker_port, context.workdir / f"tansu-attendance-{context.database}.log")
    clock = context.workdir / f"attendance-clock-{context.database}"
    try:
        bus = BusSettings(bootstrap_servers=f"127.0.0.1:{broker_port}", topic_namespace=f"b{uuid.uuid4().hex[:8]}.", topic_partitions=2)
        await ensure_topics(bus, [bus.topic_namespace + t for t in Topics.ALL], 2)
        settings = AttendanceSettings(database_url=await context.database_url("attendance"), bus=bus, log_json=False)
        env = {"PACTE_ATTENDANCE_DATABASE_URL": settings.database_url, "PACTE_ATTENDANCE_LOG_JSON": "false",
               "PACTE_ATTENDANCE_BUS__BOOTSTRAP_SERVERS": bus.bootstrap_servers, "PACTE_ATTENDANCE_BUS__TOPIC_NAMESPACE": bus.topic_namespace,
               "PACTE_ATTENDANCE_CLOCK_FILE": str(clock),
               # the 1,000 phones all come from this one address here; each has its own in a morning
               # rush, so the per-client signing budget is lifted for the bench only
               "PACTE_ATTENDANCE_RATE_LIMITS": '{"reports": "60/minute", "public": "300/minute", "signing": "100000/minute"}'}
        org = {"Authorization": f"Bearer {mint_token(settings, OrgKind.TRAINING_ORG, SIRET)}"}
        log = context.workdir / f"attendance-{context.database}.log"
        async with uvicorn_process("attendance.main:create_app", port, env, log):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120,
                                         limits=httpx.Limits(max_connections=200, max_keepalive_connections=200)) as client:
                sign_sessions = {uuid.uuid4(): [uuid.uuid4() for _ in range(20)] for _ in range(max(1, trainees // 20))}
                close_session = {uuid.uuid4(): [uuid.uuid4() for _ in range(close_trainees)]}
                expected = await _publish_trainees(bus, sign_sessions | close_session)
                await _wait_consumed(client, expected)
                signing = await _signatures(client, org, clock, sign_sessions, trainees, seconds)
                (session_id, dossiers), = close_session.items()
                closing = await _month_close(client, org, clock, session_id, dossiers, last_day)
    finally:
        stop_process(broker)
    return [
        Row(f"attendance: {signing['signatures']:,} signatures in {seconds:.0f} s, p99", context.database, signing["p99_ms"], "ms",
            "≤ 300 ms", signing["p99_ms"] <= 300 and not signing["errors"], details=signing),
        Row(f"attendance: month close, {closing['trainees']} trainees × {closing['half_days']} half-days", context.database,
            closing["seconds"], "s", "≤ 1 s", closing["seconds"] <= 1 and closing["status"] == 201, details=closing),
    ]


SCENARIO = Scenario("attendance", "trainees' signatures at the morning peak (p99) and a 20-trainee month close", run)
