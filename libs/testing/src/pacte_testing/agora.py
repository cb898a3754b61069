"""Test support for the AGORA gateway, the AGORA sandbox and the journey tests: a live sandbox,
trainee events, exports, the gateway as a child process.

- `running_sandbox(...)`: the AGORA sandbox (agora_sandbox) over real HTTP, with a client that
  carries its bearer token (`Sandbox`);
- `serving(app)`: runs an ASGI app with uvicorn on a free local port (real HTTP) and gives
  its base URL;
- `TraineeStory`: builds the sessions service's trainee events for one file, each with its
  full snapshot (identity sealed with the suite's key);
- `publish(bus, events, traceparent=)`: publishes events as real CloudEvents with an aiokafka
  producer;
- `export_line(...)`: one back-fill export line (docs/agora-contract.md §Back-fill export format).
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import uvicorn
from pacte_common.bus import ensure_topics, new_producer, topic_name
from pacte_common.clock import utcnow
from pacte_common.contracts.people import PersonIdentity, PersonProfile, seal_identity
from pacte_common.contracts.sessions import (
    AttendanceCorrected,
    AttendanceEvent,
    AttendanceRecorded,
    CatalogueEvent,
    DossierSnapshot,
    DossierStatus,
    ExitKind,
    InterruptionReason,
    ProgrammeInfo,
    RecruitmentState,
    SessionSnapshot,
    TraineeCancelled,
    TraineeEnrolled,
    TraineeEntered,
    TraineeEvent,
    TraineeExited,
    TraineeIdentityUpdated,
    TraineeInterrupted,
    TraineeResumed,
)
from pacte_common.crypto import FieldCipher
from pacte_common.events import Envelope
from pacte_common.settings import BusSettings, ServiceSettings
from pacte_tools.broker import free_port

VALID_SIRET = "73282932000074"


def make_nir(seed: int) -> str:
    """A valid 15-character NIR (key included) derived from a number."""
    body = f"1{85 + seed % 10:02d}{1 + seed % 12:02d}44{seed % 1000:03d}{seed // 1000 % 1000:03d}"
    return body + f"{97 - int(body) % 97:02d}"


VALID_NIRS = tuple(make_nir(seed) for seed in (1, 2, 3))


@asynccontextmanager
async def serving(app, port: int | None = None) -> AsyncIterator[str]:
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Sandbox:
    """A running AGORA sandbox: its URL, its in-memory store, an authorised client."""

    url: str
    store: Any  # agora_sandbox.store.SandboxStore
    client: httpx.AsyncClient

    async def faults(self, **faults) -> None:
        response = await self.client.put("/v1/faults", json=faults)
        assert response.status_code == 200, response.text

    async def holdings(self, **params) -> dict:
        response = await self.client.get("/v1/holdings", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def file(self, dossier_id) -> dict | None:
        agora_id = self.store.by_ref.get(str(dossier_id))
        return self.store.files[agora_id].view() if agora_id else None


@asynccontextmanager
async def running_sandbox(**settings: Any) -> AsyncIterator[Sandbox]:
    """The AGORA sandbox served over real HTTP (settings: AgoraSandboxSettings fields)."""
    from agora_sandbox.main import create_app
    from agora_sandbox.settings import DEV_SANDBOX_TOKEN, AgoraSandboxSettings

    app = create_app(AgoraSandboxSettings(**settings))
    async with serving(app) as url:
        # The tests' own reads of the sandbox (holdings, faults): httpx's 5 s default once ran out
        # on a CI machine loaded by three test processes while the sandbox served a gateway.
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {DEV_SANDBOX_TOKEN}"},
                                     timeout=30) as client:
            yield Sandbox(url, app.state.store, client)


def suite_cipher() -> FieldCipher:
    defaults = ServiceSettings()
    return FieldCipher(defaults.encryption_keys, defaults.encryption_key_id)


def programme(code: str = "VISA-METIERS", category: str = "standard", delegated: bool = False) -> ProgrammeInfo:
    return ProgrammeInfo(
        code=code, name=code, pillar="visa", agora_category=category, delegated_to_france_travail=delegated
    )


@dataclass
class TraineeStory:
    """The life of one training file, as the sessions service tells it."""

    programme: ProgrammeInfo = field(default_factory=programme)
    nir: str | None = field(default_factory=lambda: make_nir(random.randrange(10**6)))
    france_travail_id: str | None = None
    siret: str = VALID_SIRET
    dossier_id: uuid.UUID = field(default_factory=uuid.uuid4)
    person_id: uuid.UUID = field(default_factory=uuid.uuid4)
    session_start: date = date(2026, 1, 5)
    session_end: date = date(2026, 6, 30)
    hourly_price: Decimal = Decimal("12.50")
    version: int = 0
    status: DossierStatus = DossierStatus.ENROLLED
    entry_date: date | None = None
    exit_date: date | None = None
    cipher: FieldCipher = field(default_factory=suite_cipher)

    def snapshot(self) -> DossierSnapshot:
        self.version += 1
        identity = PersonIdentity(birth_name="MARTIN", first_names="Léa", nir=self.nir,
                                  france_travail_id=self.france_travail_id)
        return DossierSnapshot(
            dossier_id=self.dossier_id,
            person_id=self.person_id,
            profile=PersonProfile(sex="F", birth_date=date(1990, 4, 2)),
            identity_encrypted=seal_identity(self.cipher, identity),
            has_nir=self.nir is not None,
            session=SessionSnapshot(
                session_id=uuid.uuid5(uuid.NAMESPACE_URL, self.programme.code),
                action_id=uuid.uuid5(uuid.NAMESPACE_URL, "action" + self.programme.code),
                programme=self.programme,
                organisation_siret=self.siret,
                action_title="Soudeur",
                hours_in_centre=Decimal("400"),
                hourly_price=self.hourly_price,
                departement="44",
                start_date=self.session_start,
                end_date=self.session_end,
                places=12,
                recruitment_state=RecruitmentState.OPEN,
            ),
            status=self.status,
            entry_date=self.entry_date,
            exit_date=self.exit_date,
            version=self.version,
        )

    def _common(self) -> dict[str, Any]:
        return {"dossier": self.snapshot(), "occurred_at": utcnow(), "actor": "training_org:" + self.siret}

    def enrolled(self) -> TraineeEvent:
        return TraineeEnrolled(**self._common())

    def entered(self, on: date = date(2026, 1, 5)) -> TraineeEvent:
        self.status, self.entry_date = DossierStatus.IN_TRAINING, on
        return TraineeEntered(**self._common(), entry_date=on)

    def interrupted(self, on: date = date(2026, 2, 2)) -> TraineeEvent:
        self.status = DossierStatus.INTERRUPTED
        return TraineeInterrupted(**self._common(), interruption_id=uuid.uuid4(), start_date=on, reason=InterruptionReason.EMPLOYMENT)

    def resumed(self, on: date = date(2026, 2, 16)) -> TraineeEvent:
        self.status = DossierStatus.IN_TRAINING
        return TraineeResumed(**self._common(), interruption_id=uuid.uuid4(), resumption_date=on)

    def exited(self, on: date = date(2026, 6, 30), hours: Decimal = Decimal("380")) -> TraineeEvent:
        self.status, self.exit_date = DossierStatus.EXITED, on
        return TraineeExited(
            **self._common(),
            exit_date=on,
            exit_kind=ExitKind.COMPLETED,
            realised_hours=hours,
            hourly_price=self.hourly_price,
            cost=(hours * self.hourly_price).quantize(Decimal("0.01")),
        )

    def cancelled(self) -> TraineeEvent:
        self.status = DossierStatus.CANCELLED
        return TraineeCancelled(**self._common(), reason="declared by mistake")

    def identity_updated(self, nir: str | None = None, france_travail_id: str | None = None) -> TraineeEvent:
        self.nir = nir or self.nir
        self.france_travail_id = france_travail_id or self.france_travail_id
        return TraineeIdentityUpdated(**self._common())

    def attendance(self, month: str = "2026-01", *, version: int = 1, source: str = "sheets",
                   attended: Decimal = Decimal("140"), planned: Decimal = Decimal("147")) -> AttendanceEvent:
        """The month's statement as sessions publishes it (`source: sheets` from the signed sheets)."""
        kind = AttendanceRecorded if version == 1 else AttendanceCorrected
        return kind(dossier_id=self.dossier_id, person_id=self.person_id, month=month, version=version,
                    planned_hours=planned, attended_hours=attended, justified_absence_hours=planned - attended,
                    unjustified_absence_hours=Decimal("0"), recorded_at=utcnow(), source=source)

    def full_journey(self) -> list[TraineeEvent]:
        return [self.enrolled(), self.entered(), self.interrupted(), self.resumed(), self.exited()]


async def publish(bus: BusSettings, events: Iterable[TraineeEvent | AttendanceEvent | CatalogueEvent], *,
                  traceparent: str | None = None) -> None:
    """Publishes sessions' events (trainee steps, attendance statements, catalogue snapshots) to
    their (namespaced) topics, keyed by dossier id (a catalogue event by session id), each
    carrying `traceparent` when given (as sessions does: the file's journey trace)."""
    events = list(events)
    await ensure_topics(bus, sorted({topic_name(bus, event.topic) for event in events}))
    producer = new_producer(bus)
    await producer.start()
    try:
        futures = []
        for event in events:
            if isinstance(event, CatalogueEvent):
                dossier_id = str(event.session.session_id)  # the key: a session's, for its snapshot
            else:
                dossier_id = str(event.dossier.dossier_id if isinstance(event, TraineeEvent) else event.dossier_id)
            envelope = Envelope.wrap(event, source="/pacte/sessions", subject=dossier_id, traceparent=traceparent)
            futures.append(await producer.send(topic_name(bus, event.topic), value=envelope.body(), key=dossier_id.encode(),
                                               headers=envelope.headers()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def export_line(
    dossier_id: uuid.UUID | None = None,
    *,
    nir: str | None = VALID_NIRS[1],
    status: str = "settled",
    entry: date = date(2018, 3, 5),
    category: str = "standard",
    delegated: bool = False,
    siret: str = VALID_SIRET,
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "dossier_id": str(dossier_id or uuid.uuid4()),
        "person": {"birth_name": "DURAND", "first_names": "Paul", "birth_date": "1985-07-14", "sex": "M", "nir": nir},
        "organisation_siret": siret,
        "programme_code": "VISA-METIERS",
        "agora_category": category,
        "delegated_to_france_travail": delegated,
        "action_title": "Maçon",
        "session_start_date": entry.isoformat(),
        "session_end_date": entry.replace(year=entry.year + 1).isoformat(),
        "status": status,
        "entry_date": entry.isoformat() if status != "enrolled" else None,
    }
    if status in ("exited", "settled"):
        line["exit"] = {"exit_date": (entry + timedelta(days=90)).isoformat(), "exit_kind": "completed"}
    if status == "settled":
        line["settlement"] = {"realised_hours": "400", "hourly_price": "12.50", "cost": "5000.00"}
    return line


def ndjson(lines: Iterable[dict[str, Any] | str]) -> str:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


def gateway_environment(settings: ServiceSettings, **extra: Any) -> dict[str, str]:
    """PACTE_AGORA_GATEWAY_* variables reproducing `settings` (plus `extra`) for a child process."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PACTE_AGORA_GATEWAY_")}
    prefix = "PACTE_AGORA_GATEWAY_"
    values = settings.model_dump(mode="json", exclude={"bus", "encryption_keys", "jwt_secret", "lookup_hash_key", "agora_token", "excluded_categories"})
    for name, value in {**values, **extra}.items():
        if value is not None:
            env[prefix + name.upper()] = value if isinstance(value, str) else json.dumps(value)
    for name, value in settings.bus.model_dump(mode="json").items():  # type: ignore[attr-defined]
        env[f"{prefix}BUS__{name.upper()}"] = str(value)
    return env


@asynccontextmanager
async def gateway_process(env: dict[str, str], log_path, port: int | None = None) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """The gateway as a real child process (uvicorn), so a test can kill it with SIGKILL."""
    import sys

    port = port or free_port()
    log_file = await asyncio.to_thread(open, log_path, "ab")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "--factory", "agora_gateway.main:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        env=env, stdout=log_file, stderr=log_file,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=2) as client:
            for _ in range(600):
                if process.returncode is not None:
                    raise RuntimeError(f"gateway exited with {process.returncode}; see {log_path}")
                try:
                    if (await client.get("/health/live")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        yield url, process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        log_file.close()
