"""Orientation's tables. Its own MetaData: no other service reads them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pacte_common.clock import utcnow
from pacte_common.db import TransitionLogColumns, UTCDateTime, new_metadata
from pacte_common.messaging import MessagingTables
from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = new_metadata()


messaging = MessagingTables(Base.metadata)


class CatalogueSession(Base):
    """Read model of the sessions service's catalogue, fed by pacte.sessions.catalogue.v1 only."""

    __tablename__ = "catalogue_sessions"

    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    action_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    organisation_siret: Mapped[str] = mapped_column(String(14), index=True)
    action_title: Mapped[str] = mapped_column(String(500))
    programme_code: Mapped[str] = mapped_column(String(100), index=True)
    programme_name: Mapped[str] = mapped_column(String(255))
    pillar: Mapped[str] = mapped_column(String(20))
    rncp_code: Mapped[str | None] = mapped_column(String(50), index=True)
    formacode: Mapped[str | None] = mapped_column(String(20))
    departement: Mapped[str] = mapped_column(String(3), index=True)
    start_date: Mapped[date] = mapped_column(Date, index=True)
    end_date: Mapped[date] = mapped_column(Date)
    places: Mapped[int] = mapped_column(Integer)
    places_taken: Mapped[int] = mapped_column(Integer)
    recruitment_state: Mapped[str] = mapped_column(String(20))
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)  # the whole SessionSnapshot as last received
    last_event_type: Mapped[str] = mapped_column(String(255))
    # The sessions row's version in the last snapshot applied: an older one is never applied.
    snapshot_version: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Person(Base):
    """A beneficiary behind a pseudonymous id; NIR and identity only as keyed hashes or sealed."""

    __tablename__ = "persons"

    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    nir_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    identity_hash: Mapped[str] = mapped_column(String(64), index=True)
    # PersonIdentity sealed with the suite's key (pacte_common.contracts.people.seal_identity)
    identity_sealed: Mapped[str] = mapped_column(Text)
    has_nir: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PersonSearch(Base):
    """The audit of the Region's searches of a person (docs/security.md, "Finding a person"): who,
    when, the criteria as typed, sealed (a name and a birth date, encrypted with the service's key;
    never a NIR: app/search.py) and how many were found."""

    __tablename__ = "person_searches"
    __table_args__ = (Index("ix_person_searches_at_id", "at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    criteria_sealed: Mapped[str] = mapped_column(Text)
    found: Mapped[int] = mapped_column(Integer)


class Prescription(Base):
    __tablename__ = "prescriptions"
    __table_args__ = (
        Index("ix_prescriptions_created_at_id", "created_at", "id"),
        Index("ix_prescriptions_status_changed", "status", "status_changed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(30), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.person_id"), index=True)
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    organisation_siret: Mapped[str] = mapped_column(String(14), index=True)
    prescriber_kind: Mapped[str] = mapped_column(String(30))
    prescriber_code: Mapped[str] = mapped_column(String(100), index=True)
    # "person_id:session_id" while the prescription is active, else NULL: the unique
    # constraint makes "one active prescription per person and session" hold under races.
    active_slot: Mapped[str | None] = mapped_column(String(80), unique=True)
    professional_project: Mapped[str] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)  # PersonProfile snapshot at submission
    positioning_date: Mapped[date | None] = mapped_column(Date)
    positioning_kind: Mapped[str | None] = mapped_column(String(30))
    refusal_reason: Mapped[str | None] = mapped_column(String(50))
    refusal_comment: Mapped[str | None] = mapped_column(Text)
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    answer_comment: Mapped[str | None] = mapped_column(Text)  # the organisation's comment on admit/waitlist
    waitlisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    previous_prescription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    next_prescription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    dossier_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # W3C traceparent of the call that started the journey (a reorientation keeps its first's):
    # every event of this prescription continues that trace (pacte_common.tracing.adopt_trace).
    traceparent: Mapped[str | None] = mapped_column(String(55))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Optimistic concurrency: every UPDATE checks the version it read (two actions cannot both win).
    __mapper_args__ = {"version_id_col": version}


class PrescriptionTransition(TransitionLogColumns, Base):
    """Who did what, when, from which state to which, why, in which trace (docs/rules.md §3.1)."""

    __tablename__ = "prescription_transitions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    prescription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prescriptions.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)  # 1, 2, … within the prescription
