"""Insights' read models, built from the other services' events (docs/insights.md). Its own
MetaData: no other service reads them, and every row can be rebuilt from the topics.

The tables keep the names and columns the indicators read (programmes, actions, sessions,
files, monthly statements) so the SQL reads like the business terms. A file holds only what the
indicators count: no identity, no NIR, no birth date (its age at entry instead), no address.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy.dialects.postgresql  # noqa: F401 - registers func.to_tsvector's types before the index below uses it
from pacte_common.db import UTCDateTime, new_metadata
from pacte_common.messaging import MessagingTables
from pacte_common.schedule import scheduled_jobs_table
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    func,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Hours = Numeric(10, 2)
Money = Numeric(12, 2)
Mark = Numeric(3, 2)


class Base(DeclarativeBase):
    metadata = new_metadata()


messaging = MessagingTables(Base.metadata)
scheduled_jobs = scheduled_jobs_table(Base.metadata)  # the purge (and pulls) run once per interval


class Programme(Base):
    """A programme as the catalogue events name it: its code is its key here."""

    __tablename__ = "programmes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the programme's code
    name: Mapped[str] = mapped_column(String(255))
    pillar: Mapped[str] = mapped_column(String(16))

    @property
    def code(self) -> str:
        return self.id


class Action(Base):
    __tablename__ = "actions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    lheo_id: Mapped[str | None] = mapped_column(String(128), index=True)
    programme_id: Mapped[str] = mapped_column(String(64), index=True)
    organisation_siret: Mapped[str] = mapped_column(String(14), index=True)
    delivering_siret: Mapped[str | None] = mapped_column(String(14))
    delivering_name: Mapped[str | None] = mapped_column(String(500))
    title: Mapped[str] = mapped_column(String(500))
    rncp_code: Mapped[str | None] = mapped_column(String(32))
    formacode: Mapped[str | None] = mapped_column(String(16))
    certifying: Mapped[bool] = mapped_column(Boolean, default=False)
    hours_in_centre: Mapped[Decimal] = mapped_column(Hours)
    hours_in_company: Mapped[Decimal] = mapped_column(Hours)
    hourly_price: Mapped[Decimal] = mapped_column(Money)
    departement: Mapped[str] = mapped_column(String(3), index=True)
    territory_code: Mapped[str | None] = mapped_column(String(32))
    # The RNCP skill blocks the action prepares (the skills passport: docs/satisfaction.md).
    skill_blocks: Mapped[list[str]] = mapped_column(JSON, default=list)
    distance_learning: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # the public search
    version: Mapped[int | None] = mapped_column(Integer)  # sessions' action version (None: unversioned)


class TrainingSession(Base):
    __tablename__ = "training_sessions"
    # The public search's order (start date, id): read in index order, a page stops after `limit` rows.
    __table_args__ = (Index("ix_training_sessions_start_date_id", "start_date", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    lheo_id: Mapped[str | None] = mapped_column(String(128), index=True)
    action_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    places: Mapped[int] = mapped_column(Integer)
    places_taken: Mapped[int] = mapped_column(Integer, default=0)
    recruitment_state: Mapped[str] = mapped_column(String(16))
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The public search's (docs/public-search.md): places not known yet, permanent entries, information meetings.
    places_unknown: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    permanent_entries: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    information_meetings: Mapped[list[str] | None] = mapped_column(JSON, default=list)
    # The employment-training territory of the training place (docs/territories.md).
    territory_code: Mapped[str | None] = mapped_column(String(32), index=True)
    # The snapshot's version: an older or replayed snapshot never rolls the row back.
    version: Mapped[int | None] = mapped_column(Integer)


class Dossier(Base):
    """A training file as the indicators count it (docs/insights.md: what is kept, what is not)."""

    __tablename__ = "dossiers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    # sessions' pseudonymous person id: a PRÉPA exit followed by a VISA entry is one person's
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    # The prescriber the file came from (none for a direct enrolment) and when it was enrolled:
    # the skills passport's current prescriber is the one of the latest file (docs/satisfaction.md).
    prescriber_code: Mapped[str | None] = mapped_column(String(64), index=True)
    prescription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the prescription that opened it (trajectories)
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sex: Mapped[str] = mapped_column(String(1))
    education_level: Mapped[str | None] = mapped_column(String(16))
    disabled_worker: Mapped[bool] = mapped_column(Boolean, default=False)
    qpv: Mapped[bool] = mapped_column(Boolean, default=False)
    # Whole years of age and whole months of job-seeker registration on the entry date
    # (domain.indicators.entry_facts); None before the entry or without a registration.
    age_at_entry: Mapped[int | None] = mapped_column(Integer)
    registration_months_at_entry: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    entry_date: Mapped[date | None] = mapped_column(Date)
    exit_date: Mapped[date | None] = mapped_column(Date)
    exit_kind: Mapped[str | None] = mapped_column(String(16))
    dropout_reason: Mapped[str | None] = mapped_column(String(16))
    certification_result: Mapped[str | None] = mapped_column(String(16))
    skill_blocks_obtained: Mapped[list[str]] = mapped_column(JSON, default=list)
    realised_hours: Mapped[Decimal | None] = mapped_column(Hours)
    # When the file was cancelled (the trajectory's "cancelled" step), from `trainee.cancelled.v1`.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


class Interruption(Base):
    """An interruption of a file and its resumption (`trainee.interrupted/resumed.v1`), for trajectories."""

    __tablename__ = "interruptions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # sessions' interruption id
    dossier_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    start_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(32))
    resumption_date: Mapped[date | None] = mapped_column(Date)


class Outcome(Base):
    """What became of a trainee at a horizon after the exit, as one source told sessions
    (`trainee.outcome-recorded.v1`): the result indicators and the trajectories read it."""

    __tablename__ = "outcomes"
    __table_args__ = (UniqueConstraint("dossier_id", "horizon_months", "source"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # sessions' outcome id
    dossier_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    horizon_months: Mapped[int] = mapped_column(Integer)
    situation: Mapped[str] = mapped_column(String(32))
    observed_on: Mapped[date] = mapped_column(Date, index=True)
    source: Mapped[str] = mapped_column(String(32))
    job_related_to_training: Mapped[bool | None] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)


class PrescriptionView(Base):
    """A prescription as orientation's events tell it (`prescription.*.v1`), for trajectories."""

    __tablename__ = "trajectory_prescriptions"

    prescription_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    prescriber_kind: Mapped[str] = mapped_column(String(32))
    prescriber_code: Mapped[str] = mapped_column(String(64))
    organisation_siret: Mapped[str] = mapped_column(String(14))
    status: Mapped[str] = mapped_column(String(32))
    previous_prescription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class PrescriptionStep(Base):
    """One transition of a prescription (submitted, admitted, refused with its reason code…)."""

    __tablename__ = "trajectory_steps"
    __table_args__ = (UniqueConstraint("prescription_id", "status", "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prescription_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    status: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason_code: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)


class TrajectoryRead(Base):
    """Audit: who read which person's trajectory, when (the person id only, never an identity).
    Not built from events: a rebuild keeps it (docs/insights.md §4)."""

    __tablename__ = "trajectory_reads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    reader: Mapped[str] = mapped_column(String(128))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    items_shown: Mapped[int] = mapped_column(Integer)


class AttendanceStatement(Base):
    """A month's statement of a file, as sessions' attendance events give it: the latest version
    is current; a voided one is counted nowhere."""

    __tablename__ = "attendance_statements"
    __table_args__ = (UniqueConstraint("dossier_id", "month", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    month: Mapped[str] = mapped_column(String(7))
    version: Mapped[int] = mapped_column(Integer)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    attended_hours: Mapped[Decimal] = mapped_column(Hours)
    in_company_hours: Mapped[Decimal] = mapped_column(Hours)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SatisfactionReview(Base):
    """A trainee review imported from ANOTEA (docs/satisfaction.md), as sessions' review events
    give it: one row per review id."""

    __tablename__ = "satisfaction_reviews"
    __table_args__ = (
        # Covers the public search's marks of an organisation, per training (docs/public-search.md, "Speed").
        Index("ix_satisfaction_reviews_organisation_marks", "organisation_siret", "action_id", "overall", "accueil", "contenu",
              "equipe_formateurs", "moyens_materiels", "accompagnement"),
    )

    review_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    action_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    organisation_siret: Mapped[str] = mapped_column(String(14), index=True)
    review_date: Mapped[date] = mapped_column(Date, index=True)
    overall: Mapped[Decimal] = mapped_column(Mark)
    accueil: Mapped[Decimal] = mapped_column(Mark)
    contenu: Mapped[Decimal] = mapped_column(Mark)
    equipe_formateurs: Mapped[Decimal] = mapped_column(Mark)
    moyens_materiels: Mapped[Decimal] = mapped_column(Mark)
    accompagnement: Mapped[Decimal] = mapped_column(Mark)
    # ANOTEA's published comment (after its moderation): the public training page shows it.
    comment: Mapped[str | None] = mapped_column(Text)


class PublicOffer(Base):
    """The public search's row of an action (docs/public-search.md): the text the keyword search
    reads (title and objectives) and its French stems, the training place, what the training's
    page shows besides the catalogue fields. Derived from the action's snapshot and rewritten
    with it (`insights.app.read_models`). Full text: on PostgreSQL a GIN index on
    `to_tsvector('french', words)`; on SQLite the FTS5 table `public_offers_fts` (rowid = id)."""

    __tablename__ = "public_offers"
    __table_args__ = (
        Index("ix_public_offers_words_fts", func.to_tsvector(literal_column("'french'::regconfig"), text("words")),
              postgresql_using="gin").ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    words: Mapped[str] = mapped_column(Text)
    stems: Mapped[str] = mapped_column(Text)
    postcode: Mapped[str | None] = mapped_column(String(10), index=True)
    insee: Mapped[str | None] = mapped_column(String(5), index=True)
    city: Mapped[str | None] = mapped_column(String(255))
    latitude: Mapped[float | None] = mapped_column(Float, index=True)
    longitude: Mapped[float | None] = mapped_column(Float)
    objectives: Mapped[str | None] = mapped_column(Text)
    expected_results: Mapped[str | None] = mapped_column(Text)
    content: Mapped[str | None] = mapped_column(Text)
    organisation_name: Mapped[str | None] = mapped_column(String(500))
    # kind -> codes, in the file's order, the action's FORMACODE first (the training's page)
    codes: Mapped[dict] = mapped_column(JSON, default=dict)


class PublicOfferCode(Base):
    """One FORMACODE, NSF or ROME code of an action, for the search's code filters."""

    __tablename__ = "public_offer_codes"
    __table_args__ = (PrimaryKeyConstraint("kind", "code", "action_id"),)

    kind: Mapped[str] = mapped_column(String(10))  # formacode | nsf | rome
    code: Mapped[str] = mapped_column(String(16))
    action_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)


# The public search's SQLite full-text table, made by the migration (FTS5 and its shadow tables): no model declares it.
PUBLIC_OFFERS_FTS = "public_offers_fts"
Base.metadata.info.setdefault("virtual_tables", set()).add(PUBLIC_OFFERS_FTS)


# What `pacte insights rebuild` empties before replaying the topics (docs/insights.md).
# The audit of trajectory reads is insights' own record, not a read model: it is kept.
READ_MODELS = (Programme, Action, TrainingSession, Dossier, Interruption, Outcome, AttendanceStatement, SatisfactionReview,
               PrescriptionStep, PrescriptionView, PublicOffer, PublicOfferCode)
