"""Attendance's tables. Its own MetaData: no other service reads them.

Evidence is append-only: signatures, absences, countersignatures, schedule changes and fraud
flags are only ever inserted (a correction is a new row naming the one it corrects, its
author and its reason). Half-days are planned in local time (settings.timezone); instants
are aware UTC. IP addresses and user agents are kept as salted hashes only.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from decimal import Decimal

from pacte_common.clock import utcnow
from pacte_common.db import UTCDateTime, new_metadata
from pacte_common.messaging import MessagingTables
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    Time,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Hours = Numeric(8, 2)


class Base(DeclarativeBase):
    metadata = new_metadata()


messaging = MessagingTables(Base.metadata)


class TrainingSession(Base):
    """A session as the sheets know it: from sessions' trainee events, or from the organisation's schedule."""

    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    organisation_siret: Mapped[str] = mapped_column(String(14), index=True)
    action_title: Mapped[str] = mapped_column(String(300), default="")
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)


class Trainee(Base):
    """One training file (dossier) as the sheets need it: who, in which session, from when to when."""

    __tablename__ = "trainees"

    dossier_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    status: Mapped[str] = mapped_column(String(32))
    entry_date: Mapped[date | None] = mapped_column(Date)
    exit_date: Mapped[date | None] = mapped_column(Date)
    dossier_version: Mapped[int] = mapped_column(Integer)
    # The trainee's name as the sheet shows it, encrypted with the service's key (never the NIR).
    name_encrypted: Mapped[str | None] = mapped_column(Text)


class HalfDay(Base):
    """A planned half-day of a session."""

    __tablename__ = "half_days"
    __table_args__ = (UniqueConstraint("session_id", "day", "period"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    period: Mapped[str] = mapped_column(String(9))  # morning | afternoon
    starts_at: Mapped[time] = mapped_column(Time)
    ends_at: Mapped[time] = mapped_column(Time)
    hours: Mapped[Decimal] = mapped_column(Hours)
    place: Mapped[str | None] = mapped_column(String(300))
    distance: Mapped[bool] = mapped_column(Boolean, default=False)
    trainer: Mapped[str | None] = mapped_column(String(200))
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    origin: Mapped[str] = mapped_column(String(16))  # pattern | ical | csv | manual
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HalfDayChange(Base):
    """A change of a planned half-day: what it was, what it became, who, why, how many signatures it kept."""

    __tablename__ = "half_day_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    half_day_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("half_days.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(500))
    before: Mapped[dict] = mapped_column(JSON)
    after: Mapped[dict] = mapped_column(JSON)
    signatures_kept: Mapped[int] = mapped_column(Integer, default=0)


class Signature(Base):
    """A simple electronic signature of a trainee for a half-day, or a correction of one (seq > 1).

    The latest row (highest seq) of a trainee's half-day says whether the trainee was there."""

    __tablename__ = "signatures"
    __table_args__ = (UniqueConstraint("half_day_id", "dossier_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    half_day_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("half_days.id"), index=True)
    dossier_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    seq: Mapped[int] = mapped_column(Integer)
    present: Mapped[bool] = mapped_column(Boolean, default=True)
    method: Mapped[str] = mapped_column(String(16))  # link | qr | trainer | correction
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    consent: Mapped[str] = mapped_column(String(300))
    drawn_sha256: Mapped[str | None] = mapped_column(String(64))
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    user_agent_hash: Mapped[str | None] = mapped_column(String(64))
    device_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    token_id: Mapped[str | None] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(500))
    corrects_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class Absence(Base):
    """What the organisation declares of a trainee's half-day: an absence (justified with a coded
    reason and a proof reference, or not), a late arrival, an early departure. Append-only: the
    latest row of a trainee's half-day counts."""

    __tablename__ = "absences"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    half_day_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("half_days.id"), index=True)
    dossier_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    absent: Mapped[bool] = mapped_column(Boolean)
    justified: Mapped[bool] = mapped_column(Boolean, default=False)
    reason_code: Mapped[str | None] = mapped_column(String(32))
    proof_reference: Mapped[str | None] = mapped_column(String(200))
    late_minutes: Mapped[int] = mapped_column(Integer, default=0)
    early_departure_minutes: Mapped[int] = mapped_column(Integer, default=0)
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Countersignature(Base):
    """The trainer's signature of a half-day's sheet."""

    __tablename__ = "countersignatures"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    half_day_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("half_days.id"), unique=True)
    trainer: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    author: Mapped[str] = mapped_column(String(128))
    ip_hash: Mapped[str | None] = mapped_column(String(64))


class FraudFlag(Base):
    """Something the Region should look at: one device signing for several trainees in a
    half-day, a QR code used after its window."""

    __tablename__ = "fraud_flags"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    organisation_siret: Mapped[str] = mapped_column(String(14), index=True)
    half_day_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    dossier_ids: Mapped[list] = mapped_column(JSON)
    device_hash: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MonthClosure(Base):
    """A session's month validated by the organisation, with the statements built from the sheets."""

    __tablename__ = "month_closures"
    __table_args__ = (UniqueConstraint("session_id", "month"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    month: Mapped[str] = mapped_column(String(7))
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_by: Mapped[str] = mapped_column(String(128))
    statements: Mapped[list] = mapped_column(JSON)
