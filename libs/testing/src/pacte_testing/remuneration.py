"""Test helpers: a stand-in for the sessions service publishing real CloudEvents to the bus,
and a client wrapper for remuneration's API. Used by this service's tests and the journeys."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from pacte_common.auth import OrgKind
from pacte_common.bus import ensure_topics, new_producer, topic_name
from pacte_common.clock import utcnow
from pacte_common.contracts.people import PersonIdentity, PersonProfile, seal_identity
from pacte_common.contracts.sessions import (
    AttendanceCorrected,
    AttendanceRecorded,
    AttendanceVoided,
    DossierSnapshot,
    DossierStatus,
    ExitKind,
    InterruptionReason,
    Pillar,
    ProgrammeInfo,
    RecruitmentState,
    SessionSnapshot,
    TraineeCancelled,
    TraineeEnrolled,
    TraineeEntered,
    TraineeExited,
    TraineeIdentityUpdated,
    TraineeInterrupted,
    TraineeResumed,
)
from pacte_common.crypto import FieldCipher
from pacte_common.events import Envelope, Topics
from pacte_common.settings import ServiceSettings

from pacte_testing import auth_header, eventually

ORG_SIRET = "73282932000074"
OTHER_SIRET = "35600000000048"
NIR = "255081416802538"
IBAN = "FR7630006000011234567890189"


def nir_of(index: int) -> str:
    first_13 = f"1850675{index:06d}"
    return first_13 + f"{97 - int(first_13) % 97:02d}"


@dataclass
class FileSpec:
    birth_date: date = date(1998, 6, 10)
    single_parent: bool = False
    first_time_jobseeker: bool = False
    unemployment_benefit: bool = False
    unemployment_daily_amount: Decimal | None = None
    remuneration_approved: bool = True
    tension_sector: bool = False
    weekly_hours: Decimal | None = Decimal("35")
    programme_code: str = "VISA_METIERS"
    siret: str = ORG_SIRET
    nir: str | None = NIR
    birth_name: str = "MARTIN"
    first_names: str = "Alex"
    session_end: date = date(2029, 12, 31)  # a long session: the tests choose their months freely


class SessionsStandIn:
    """Publishes what the sessions service would, to the namespaced topics (real broker)."""

    def __init__(self, settings: ServiceSettings, deliver=None):
        """`deliver(envelope)`: hand events straight to the consumer's handlers instead of the broker
        (the property tests' fast path); None publishes to the real broker."""
        self.settings = settings
        self.cipher = FieldCipher(settings.encryption_keys, settings.encryption_key_id)
        self.deliver = deliver
        self.producer = new_producer(settings.bus) if deliver is None else None
        self.versions: dict[uuid.UUID, int] = {}
        self.specs: dict[uuid.UUID, FileSpec] = {}
        self.people: dict[uuid.UUID, uuid.UUID] = {}
        self.entry: dict[uuid.UUID, date] = {}
        self.traceparent: str | None = None  # the W3C traceparent header the next events carry, if any

    async def start(self):
        await ensure_topics(self.settings.bus, [topic_name(self.settings.bus, t) for t in (Topics.TRAINEES, Topics.ATTENDANCE)])
        await self.producer.start()

    async def stop(self):
        await self.producer.stop()

    async def publish(self, event, key: uuid.UUID):
        envelope = Envelope.wrap(event, source="/pacte/sessions", subject=str(key), traceparent=self.traceparent)
        if self.deliver is not None:
            await self.deliver(envelope)
            return
        await self.producer.send_and_wait(
            topic_name(self.settings.bus, event.topic), value=envelope.body(), key=str(key).encode(),
            headers=envelope.headers(),
        )

    def snapshot(self, dossier_id: uuid.UUID, status: DossierStatus, exit_date: date | None = None) -> DossierSnapshot:
        spec = self.specs[dossier_id]
        self.versions[dossier_id] = self.versions.get(dossier_id, 0) + 1
        identity = PersonIdentity(birth_name=spec.birth_name, first_names=spec.first_names, nir=spec.nir)
        return DossierSnapshot(
            dossier_id=dossier_id, person_id=self.people[dossier_id],
            profile=PersonProfile(
                sex="F", birth_date=spec.birth_date, single_parent=spec.single_parent,
                first_time_jobseeker=spec.first_time_jobseeker, unemployment_benefit=spec.unemployment_benefit,
                unemployment_daily_amount=spec.unemployment_daily_amount, education_level="v",
            ),
            identity_encrypted=seal_identity(self.cipher, identity), has_nir=spec.nir is not None,
            session=SessionSnapshot(
                session_id=uuid.uuid5(uuid.NAMESPACE_URL, spec.programme_code), action_id=uuid.uuid4(),
                programme=ProgrammeInfo(code=spec.programme_code, name=spec.programme_code, pillar=Pillar.VISA,
                                        remuneration_approved=spec.remuneration_approved,
                                        tension_sector=spec.tension_sector),
                organisation_siret=spec.siret, action_title="Soudeur", hours_in_centre=Decimal("600"),
                weekly_hours=spec.weekly_hours, hourly_price=Decimal("12"), departement="44",
                start_date=date(2021, 1, 4), end_date=spec.session_end, places=12,
                recruitment_state=RecruitmentState.OPEN,
            ),
            status=status, entry_date=self.entry.get(dossier_id), exit_date=exit_date,
            version=self.versions[dossier_id],
        )

    def _common(self, dossier_id, status, exit_date=None):
        return dict(dossier=self.snapshot(dossier_id, status, exit_date), occurred_at=utcnow(),
                    actor=f"training_org:{self.specs[dossier_id].siret}")

    async def enrol(self, spec: FileSpec | None = None, dossier_id: uuid.UUID | None = None) -> uuid.UUID:
        dossier_id = dossier_id or uuid.uuid4()
        self.specs[dossier_id], self.people[dossier_id] = spec or FileSpec(), uuid.uuid4()
        await self.publish(TraineeEnrolled(**self._common(dossier_id, DossierStatus.ENROLLED)), dossier_id)
        return dossier_id

    async def enter(self, dossier_id: uuid.UUID, entry_date: date):
        self.entry[dossier_id] = entry_date
        await self.publish(TraineeEntered(**self._common(dossier_id, DossierStatus.IN_TRAINING), entry_date=entry_date),
                           dossier_id)

    async def interrupt(self, dossier_id, start: date) -> uuid.UUID:
        interruption_id = uuid.uuid4()
        await self.publish(TraineeInterrupted(**self._common(dossier_id, DossierStatus.INTERRUPTED),
                                              interruption_id=interruption_id, start_date=start,
                                              reason=InterruptionReason.HEALTH), dossier_id)
        return interruption_id

    async def resume(self, dossier_id, interruption_id, on: date):
        await self.publish(TraineeResumed(**self._common(dossier_id, DossierStatus.IN_TRAINING),
                                          interruption_id=interruption_id, resumption_date=on), dossier_id)

    async def rename(self, dossier_id, birth_name: str):
        """The trainee's identity corrected in sessions (a new sealed identity, a new dossier version)."""
        self.specs[dossier_id].birth_name = birth_name
        await self.publish(TraineeIdentityUpdated(**self._common(dossier_id, DossierStatus.IN_TRAINING)), dossier_id)

    async def exit(self, dossier_id, on: date):
        await self.publish(TraineeExited(**self._common(dossier_id, DossierStatus.EXITED, on), exit_date=on,
                                         exit_kind=ExitKind.COMPLETED, realised_hours=Decimal("300"),
                                         hourly_price=Decimal("12"), cost=Decimal("3600")), dossier_id)

    async def cancel(self, dossier_id):
        await self.publish(TraineeCancelled(**self._common(dossier_id, DossierStatus.CANCELLED)), dossier_id)

    async def attendance(self, dossier_id, month: str, planned, unjustified, version: int = 1, justified=0):
        planned, unjustified, justified = Decimal(str(planned)), Decimal(str(unjustified)), Decimal(str(justified))
        cls = AttendanceRecorded if version == 1 else AttendanceCorrected
        await self.publish(cls(
            dossier_id=dossier_id, person_id=self.people[dossier_id], month=month, version=version,
            planned_hours=planned, attended_hours=planned - unjustified - justified,
            justified_absence_hours=justified, unjustified_absence_hours=unjustified,
            recorded_at=utcnow(),
        ), dossier_id)


    async def void_attendance(self, dossier_id, month: str, reason: str, version: int = 1):
        await self.publish(AttendanceVoided(dossier_id=dossier_id, person_id=self.people[dossier_id], month=month,
                                            version=version, reason=reason, voided_at=utcnow()), dossier_id)


class Remuneration:
    """The running app with the helpers the tests share."""

    def __init__(self, client, settings: ServiceSettings, sessions: SessionsStandIn):
        self.client, self.settings, self.sessions = client, settings, sessions
        self.region = auth_header(settings, OrgKind.REGION, "region")
        self.agency = auth_header(settings, OrgKind.PAYING_AGENCY, "ASP")
        self.org = auth_header(settings, OrgKind.TRAINING_ORG, ORG_SIRET)
        self.other_org = auth_header(settings, OrgKind.TRAINING_ORG, OTHER_SIRET)

    async def file(self, dossier_id):
        response = await self.client.get(f"/files/{dossier_id}", headers=self.region)
        return response.json() if response.status_code == 200 else None

    async def wait_file(self, dossier_id, check, what="file state"):
        async def ok():
            file = await self.file(dossier_id)
            return file if file and check(file) else None

        return await eventually(ok, message=what)

    async def wait_attendance(self, dossier_id, month, version=1):
        return await self.wait_file(dossier_id, lambda f: f["attendance_versions"].get(month) == version,
                                    f"attendance {month} v{version}")

    async def request(self, dossier_id, **facts):
        body = {"dossier_id": str(dossier_id), "iban": IBAN, **facts}
        return await self.client.post("/requests", json=body, headers=self.org)

    async def run(self, month):
        response = await self.client.post("/runs", json={"month": month}, headers=self.region)
        assert response.status_code == 201, response.text
        return response.json()

    async def validate(self, month):
        response = await self.client.post(f"/runs/{month}/validate", headers=self.region)
        assert response.status_code == 200, response.text
        return response.json()

    async def statement(self, month, dossier_id):
        response = await self.client.get("/statements", params={"month": month, "dossier_id": str(dossier_id)},
                                         headers=self.region)
        items = response.json()["items"]
        assert len(items) == 1, items
        return items[0]


