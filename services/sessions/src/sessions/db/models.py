"""Sessions's tables. Its own MetaData: no other service reads them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from pacte_common.db import TransitionLogColumns, UTCDateTime, new_metadata, utcnow
from pacte_common.messaging import MessagingTables
from pacte_common.schedule import scheduled_jobs_table
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

Hours = Numeric(10, 2)
Money = Numeric(12, 2)


class Base(DeclarativeBase):
    metadata = new_metadata()


messaging = MessagingTables(Base.metadata)
scheduled_jobs = scheduled_jobs_table(Base.metadata)  # the purge (and pulls) run once per interval


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class Programme(Timestamps, Base):
    """*Dispositif*: PRÉPA, VISA, ACCÈS… with what remuneration and AGORA need to know."""

    __tablename__ = "programmes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    pillar: Mapped[str] = mapped_column(String(16))
    funder: Mapped[str] = mapped_column(String(64))
    remuneration_approved: Mapped[bool] = mapped_column(Boolean)
    tension_sector: Mapped[bool] = mapped_column(Boolean)
    agora_category: Mapped[str] = mapped_column(String(32))
    delegated_to_france_travail: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}  # optimistic concurrency: every UPDATE bumps it


class Action(Timestamps, Base):
    """LHEO `action`: what an organisation delivers, at which hourly price."""

    __tablename__ = "actions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    lheo_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    programme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programmes.id"), index=True)
    organisation_siret: Mapped[str] = mapped_column(String(14), index=True)
    # LHEO organisme-formateur: the organisation that delivers the training, the one trainees
    # and prescribers see (the responsible one is `organisation_siret`). None: the responsible one.
    delivering_siret: Mapped[str | None] = mapped_column(String(14), index=True)
    delivering_name: Mapped[str | None] = mapped_column(String(500))
    title: Mapped[str] = mapped_column(String(500))
    rncp_code: Mapped[str | None] = mapped_column(String(32))
    formacode: Mapped[str | None] = mapped_column(String(16))
    certifying: Mapped[bool] = mapped_column(Boolean, default=False)
    hours_in_centre: Mapped[Decimal] = mapped_column(Hours)
    hours_in_company: Mapped[Decimal] = mapped_column(Hours)
    weekly_hours: Mapped[Decimal | None] = mapped_column(Hours)
    hourly_price: Mapped[Decimal] = mapped_column(Money)
    part_time: Mapped[bool] = mapped_column(Boolean, default=False)
    distance_learning: Mapped[bool] = mapped_column(Boolean, default=False)
    modules: Mapped[list[str]] = mapped_column(JSON, default=list)
    skill_blocks: Mapped[list[str]] = mapped_column(JSON, default=list)
    departement: Mapped[str] = mapped_column(String(3), index=True)
    territory_code: Mapped[str | None] = mapped_column(String(32))
    # What an LHEO import read beside the Pacte's own fields (organisation name, training place,
    # descriptive texts): public offer data, written back by the LHEO export (docs/lheo.md).
    lheo_details: Mapped[dict | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}  # optimistic concurrency: every UPDATE bumps it

    programme: Mapped[Programme] = relationship(lazy="joined")


class TrainingSession(Timestamps, Base):
    """LHEO `session`: a period, places, and whether entries are permanent."""

    __tablename__ = "training_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    lheo_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    action_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("actions.id"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    places: Mapped[int] = mapped_column(Integer)
    places_taken: Mapped[int] = mapped_column(Integer, default=0)
    # Imported without any places information: `places` is 0 and recruitment closed until the
    # Region sets its places (docs/lheo.md).
    places_unknown: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The LHEO feed URL the session came from (docs/lheo.md: pulled feeds close what leaves them).
    lheo_feed: Mapped[str | None] = mapped_column(String(1000))
    permanent_entries: Mapped[bool] = mapped_column(Boolean, default=False)
    recruitment_state: Mapped[str] = mapped_column(String(16))
    information_meetings: Mapped[list[str]] = mapped_column(JSON, default=list)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    # The Region's employment-training territory of the training place (db/territories.py).
    territory_code: Mapped[str | None] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}  # optimistic concurrency: every UPDATE bumps it

    action: Mapped[Action] = relationship(lazy="joined")


class Dossier(Timestamps, Base):
    """*Dossier de formation*: one person in one session, from enrolment to exit."""

    __tablename__ = "dossiers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("training_sessions.id"), index=True)
    prescription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    prescriber_kind: Mapped[str | None] = mapped_column(String(32))
    prescriber_code: Mapped[str | None] = mapped_column(String(64), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    profile: Mapped[dict] = mapped_column(JSON)
    # The profile's fields the indicators count (domain.indicators.PROFILE_FACTS), copied from
    # `profile` when it is written (app/dossiers.py) so the aggregates read plain columns.
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[date] = mapped_column(Date)
    education_level: Mapped[str | None] = mapped_column(String(16))
    jobseeker_registration_date: Mapped[date | None] = mapped_column(Date)
    disabled_worker: Mapped[bool] = mapped_column(Boolean, default=False)
    qpv: Mapped[bool] = mapped_column(Boolean, default=False)
    # PersonIdentity sealed with the suite's key; only its keyed hash and a mask are kept beside it.
    identity_encrypted: Mapped[str | None] = mapped_column(Text)
    has_nir: Mapped[bool] = mapped_column(Boolean, default=False)
    nir_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    entry_date: Mapped[date | None] = mapped_column(Date)
    entry_declared_late: Mapped[bool] = mapped_column(Boolean, default=False)
    exit_date: Mapped[date | None] = mapped_column(Date)
    exit_kind: Mapped[str | None] = mapped_column(String(16))
    dropout_reason: Mapped[str | None] = mapped_column(String(16))
    exit_comment: Mapped[str | None] = mapped_column(Text)
    certification_result: Mapped[str | None] = mapped_column(String(16))
    skill_blocks_obtained: Mapped[list[str]] = mapped_column(JSON, default=list)
    realised_hours: Mapped[Decimal | None] = mapped_column(Hours)
    cost: Mapped[Decimal | None] = mapped_column(Money)
    exit_declared_late: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    # W3C traceparent current when the file opened (the admitted event's, or the enrolment
    # request's): every trainee and attendance event of the file continues that trace.
    traceparent: Mapped[str | None] = mapped_column(String(55))
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}  # optimistic concurrency: every UPDATE bumps it

    session: Mapped[TrainingSession] = relationship(lazy="joined")
    interruptions: Mapped[list[Interruption]] = relationship(
        lazy="selectin", order_by="Interruption.start_date", back_populates="dossier"
    )


class Interruption(Base):
    __tablename__ = "interruptions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    expected_return_date: Mapped[date | None] = mapped_column(Date)
    resumption_date: Mapped[date | None] = mapped_column(Date)
    declared_late: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    dossier: Mapped[Dossier] = relationship(back_populates="interruptions")


class DossierTransition(TransitionLogColumns, Base):
    """Who moved the file, when, from which state to which, why, and in which trace.

    The shared columns come from `TransitionLogColumns`; the file's own: the date the move took
    effect (entry, interruption, resumption, exit) and whether it was declared late.
    """

    __tablename__ = "dossier_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id"), index=True)
    effective_date: Mapped[date | None] = mapped_column(Date)
    declared_late: Mapped[bool] = mapped_column(Boolean, default=False)


class AttendanceStatement(Base):
    """A monthly attendance statement; a correction adds a version and supersedes the last; an
    exit or a cancellation declared after it voids it (`voided_at`, `voided_reason`)."""

    __tablename__ = "attendance_statements"
    __table_args__ = (UniqueConstraint("dossier_id", "month", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))
    version: Mapped[int] = mapped_column(Integer)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    planned_hours: Mapped[Decimal] = mapped_column(Hours)
    attended_hours: Mapped[Decimal] = mapped_column(Hours)
    justified_absence_hours: Mapped[Decimal] = mapped_column(Hours)
    unjustified_absence_hours: Mapped[Decimal] = mapped_column(Hours)
    in_company_hours: Mapped[Decimal] = mapped_column(Hours)
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A statement of a month the file no longer covers (an exit or a cancellation declared
    # later): kept in the history, counted nowhere.
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_reason: Mapped[str | None] = mapped_column(String(200))
    # How the statement came: typed by the organisation (manual) or built from the signed sheets
    # of the attendance service (sheets, docs/attendance.md).
    source: Mapped[str] = mapped_column(String(16), default="manual", server_default="manual")


class LheoProgrammeMapping(Base):
    """The Region's table: an LHEO financer code or code-dispositif -> one of its programmes."""

    __tablename__ = "lheo_programme_mappings"
    __table_args__ = (UniqueConstraint("kind", "code"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(16))  # "financeur" | "dispositif"
    code: Mapped[str] = mapped_column(String(64))
    programme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programmes.id"), index=True)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    programme: Mapped[Programme] = relationship(lazy="joined")


class LheoPullRun(Base):
    """One pull of an LHEO feed: what came back and what the import did (its report)."""

    __tablename__ = "lheo_pull_runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    feed_url: Mapped[str] = mapped_column(String(1000), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "imported", "not-modified" (304, nothing read) or "failed" (nothing changed)
    outcome: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(Integer)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
    closed_sessions: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict | None] = mapped_column(JSON)
