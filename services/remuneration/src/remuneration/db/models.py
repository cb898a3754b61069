"""Remuneration's tables. Its own MetaData: no other service reads them.

Money is Numeric(14, 2) (Decimal in Python), dates are Date, instants are aware UTC.
IBAN and identity (NIR) are stored encrypted only; their masked forms are kept for display.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from pacte_common.clock import utcnow
from pacte_common.db import TransitionLogColumns, UTCDateTime, new_metadata
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
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

Money = Numeric(14, 2)
Hours = Numeric(8, 2)


class Base(DeclarativeBase):
    metadata = new_metadata()


messaging = MessagingTables(Base.metadata)


class RemunerationFile(Base):
    """One training file (dossier) as remuneration knows it: snapshot, request, entitlement."""

    __tablename__ = "remuneration_files"

    dossier_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    organisation_siret: Mapped[str] = mapped_column(String(14), index=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    dossier_status: Mapped[str] = mapped_column(String(32))
    dossier_version: Mapped[int] = mapped_column(Integer)
    profile: Mapped[dict] = mapped_column(JSON)
    programme_code: Mapped[str] = mapped_column(String(64))
    remuneration_approved: Mapped[bool] = mapped_column(Boolean)
    tension_sector: Mapped[bool] = mapped_column(Boolean)
    weekly_hours: Mapped[Decimal | None] = mapped_column(Hours, nullable=True)
    training_hours: Mapped[Decimal] = mapped_column(Hours)
    identity_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    entry_date: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    exit_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    # The session's planned end (from sessions): no day after it is paid, exit declared or not.
    session_end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    # When remuneration learnt of the exit and of the cancellation: named when a paid month is recomputed.
    exit_declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    # The trainee's request (RS1): facts in clear, IBAN and NIR encrypted.
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, unique=True)
    request_facts: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    iban_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    iban_masked: Mapped[str | None] = mapped_column(String(40), nullable=True)
    nir_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    request_filed_by: Mapped[str | None] = mapped_column(String(255), nullable=True)

    # France Travail's answer to the entry certificate (AES), from the gateway's event: whether the
    # person receives unemployment benefit (and its daily amount, its end). It overrides what the
    # request declared (docs/france-travail.md); the latest answer (by `answered_at`) wins.
    france_travail_answer: Mapped[dict | None] = mapped_column(JSON, nullable=True)

    # Entitlement, decided when both the entry and the request are known.
    regime: Mapped[str | None] = mapped_column(String(32), nullable=True)
    regime_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    differential_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    entitlement_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    # The journey's W3C traceparent: the one current when the first trainee event about the file was
    # handled. Every event remuneration publishes about the file continues this trace (adopt_trace).
    traceparent: Mapped[str | None] = mapped_column(String(55), nullable=True)

    version: Mapped[int] = mapped_column(Integer)  # optimistic concurrency: SQLAlchemy counts it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


class EarlyFranceTravailAnswer(Base):
    """France Travail's answer for a file not created yet (its topic and sessions' are not ordered
    together): kept by dossier id, the latest only, and moved onto the file when it is created."""

    __tablename__ = "early_france_travail_answers"

    dossier_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    answer: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InterruptionRow(Base):
    __tablename__ = "interruptions"

    interruption_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remuneration_files.dossier_id"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    resumption_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    reason: Mapped[str] = mapped_column(String(32))
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resumption_declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AttendanceStatementRow(Base):
    """Every version of a month's attendance statement; the highest version is the one that counts."""

    __tablename__ = "attendance_statements"
    __table_args__ = (UniqueConstraint("dossier_id", "month", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)  # may precede the trainee events
    month: Mapped[str] = mapped_column(String(7))
    version: Mapped[int] = mapped_column(Integer)
    planned_hours: Mapped[Decimal] = mapped_column(Hours)
    attended_hours: Mapped[Decimal] = mapped_column(Hours)
    justified_absence_hours: Mapped[Decimal] = mapped_column(Hours)
    unjustified_absence_hours: Mapped[Decimal] = mapped_column(Hours)
    in_company_hours: Mapped[Decimal] = mapped_column(Hours)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Voided by sessions when a late exit or a cancellation left the month outside the training (kept, never deleted).
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    voided_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Run(Base):
    __tablename__ = "runs"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)  # optimistic concurrency: SQLAlchemy counts it
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    computed_by: Mapped[str] = mapped_column(String(255))
    validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    validated_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    statements_computed: Mapped[int] = mapped_column(Integer, default=0)
    statements_waiting: Mapped[int] = mapped_column(Integer, default=0)
    payment_lines: Mapped[int] = mapped_column(Integer, default=0)
    total_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    component_totals: Mapped[dict] = mapped_column(JSON, default=dict)
    # The latest validated run before this one when this draft was computed: a draft computed
    # before an earlier month was validated must be recomputed before it is validated.
    based_on_month: Mapped[str | None] = mapped_column(String(7), nullable=True)
    # Earlier months recomputed by this run over all its files (months whose facts had not changed are not).
    months_reviewed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __mapper_args__ = {"version_id_col": version}


class Statement(Base):
    """One file's statement in one monthly run: inputs, scale version, components, total."""

    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("run_month", "dossier_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    run_month: Mapped[str] = mapped_column(ForeignKey("runs.month"), index=True)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remuneration_files.dossier_id"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    organisation_siret: Mapped[str] = mapped_column(String(14), index=True)
    status: Mapped[str] = mapped_column(String(16))
    waiting_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    regime: Mapped[str] = mapped_column(String(32))
    regime_reason: Mapped[str] = mapped_column(Text)
    scale_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    inputs: Mapped[dict] = mapped_column(JSON)
    components: Mapped[list] = mapped_column(JSON)
    earned_amount: Mapped[Decimal] = mapped_column(Money)
    amount: Mapped[Decimal] = mapped_column(Money)
    advance_paid: Mapped[Decimal] = mapped_column(Money)
    advance_outstanding_after: Mapped[Decimal] = mapped_column(Money)
    overpayment_outstanding_after: Mapped[Decimal] = mapped_column(Money)
    attendance_version: Mapped[int] = mapped_column(Integer)
    # What the file still owed when its training was over: the debt this statement opens once validated.
    debt_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    debt_origin_months: Mapped[list | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    debt_explanation: Mapped[str | None] = mapped_column(Text, nullable=True)
    trace_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the file's trace when computed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The facts this statement was computed from (db/facts.py): the digest of the file's own facts, each
    # month's attendance version (months without one: 0) and the rules' digest; the earlier months it
    # recomputed. Null: computed before these were remembered (every month is then reviewed).
    facts_digest: Mapped[str | None] = mapped_column(String(32), nullable=True)
    month_facts: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    rules_digest: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reviewed_months: Mapped[list | None] = mapped_column(JSON, nullable=True)


class AdjustmentRow(Base):
    """A month already paid (or never paid), recomputed in a later run because a fact changed."""

    __tablename__ = "adjustments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_month: Mapped[str] = mapped_column(ForeignKey("runs.month"), index=True)
    statement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("statements.id"))
    statement: Mapped[Statement] = relationship()  # lets the unit of work insert the statement first
    dossier_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    concerned_month: Mapped[str] = mapped_column(String(7))
    attendance_version: Mapped[int] = mapped_column(Integer)
    recomputed_amount: Mapped[Decimal] = mapped_column(Money)
    delta: Mapped[Decimal] = mapped_column(Money)
    explanation: Mapped[str] = mapped_column(Text)
    inputs: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # the facts the month was recomputed with


class EmergencyAid(Base):
    __tablename__ = "emergency_aids"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remuneration_files.dossier_id"), index=True)
    # Set only when granted: the unique constraint makes "once per file" hold under races.
    granted_dossier_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, unique=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    reason_code: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal] = mapped_column(Money)
    household_size: Mapped[int] = mapped_column(Integer)
    monthly_resources: Mapped[Decimal] = mapped_column(Money)
    requested_by: Mapped[str] = mapped_column(String(255))
    paid_in_run: Mapped[str | None] = mapped_column(String(7), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Debt(Base):
    """Money a trainee owes back (trop-perçu, advance not recovered) once no later pay can offset it.

    Opened by the validation of the run whose statement found it (one debt per statement); the
    paying agency demands it and records repayments; the Region may write it off with a reason.
    """

    __tablename__ = "debts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remuneration_files.dossier_id"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    organisation_siret: Mapped[str] = mapped_column(String(14))
    statement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("statements.id"), unique=True)
    run_month: Mapped[str] = mapped_column(String(7), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    repaid_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    written_off_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    origin_months: Mapped[list] = mapped_column(JSON)
    explanation: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    demanded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    demand_reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    write_off_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer)  # optimistic concurrency: SQLAlchemy counts it

    __mapper_args__ = {"version_id_col": version}

    @property
    def balance(self) -> Decimal:
        return self.amount - self.repaid_amount - self.written_off_amount


class DebtRepayment(Base):
    """A repayment the paying agency received; its reference makes recording it again a no-op."""

    __tablename__ = "debt_repayments"
    __table_args__ = (UniqueConstraint("debt_id", "reference"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    debt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("debts.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    received_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(255))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TransitionLog(TransitionLogColumns, Base):
    """Who moved which file or run from which state to which, when, why and in which trace.

    One log for the three machines: `aggregate` names which ("file", "run" or "debt"), `aggregate_id` its id.
    """

    __tablename__ = "transition_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    aggregate: Mapped[str] = mapped_column(String(16))
    aggregate_id: Mapped[str] = mapped_column(String(64), index=True)
