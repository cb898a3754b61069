"""AgoraGateway's tables. Its own MetaData: no other service reads them.

- `agora_dossiers`: per training file, the perimeter decision, the latest snapshot (no
  identity in clear: the sealed identity, NIR inside, is kept encrypted), what AGORA
  has been told (`told_state`: once the queue is drained; `agora_state`: acknowledged)
  and the journey's trace (`traceparent`).
- `agora_flows`: the ordered queue of operations per file — the database is the queue, so
  a restart loses nothing.
- `agora_flow_transitions`: who/when/from/to/why of every flow status change.
- `ft_files`, `ft_flows`, `ft_flow_transitions`: the same engine's queue for France Travail
  (docs/france-travail.md); the person's France Travail identifier only sealed and masked.
- `backfill_jobs`, `backfill_chunks`, `backfill_rejections`: the back-fill's checkpoint, lease
  and report, the uploaded export itself (sealed chunks: every instance reads it, and it
  carries NIRs) and the lines it could not send (kept encrypted: an export line carries the NIR).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pacte_common.clock import utcnow
from pacte_common.db import TransitionLogColumns, UTCDateTime, new_metadata
from pacte_common.messaging import MessagingTables
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

_BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    metadata = new_metadata()


messaging = MessagingTables(Base.metadata)


class Dossier(Base):
    __tablename__ = "agora_dossiers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    origin: Mapped[str] = mapped_column(String(16))  # live | backfill
    perimeter_status: Mapped[str] = mapped_column(String(20), index=True)
    perimeter_reason_code: Mapped[str | None] = mapped_column(String(64))
    perimeter_reason: Mapped[str | None] = mapped_column(String(255))
    programme_code: Mapped[str | None] = mapped_column(String(64))
    agora_category: Mapped[str | None] = mapped_column(String(32))
    organisation_siret: Mapped[str | None] = mapped_column(String(32))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)  # DossierSnapshot without identity
    snapshot_version: Mapped[int] = mapped_column(Integer, default=0)
    identity_encrypted: Mapped[str | None] = mapped_column(Text)
    # A back-filled file kept until its NIR comes: its export line as AGORA's bulk record,
    # sealed (names inside); sent with the NIR filled in from `identity_encrypted`.
    backfill_record_encrypted: Mapped[str | None] = mapped_column(Text)
    has_nir: Mapped[bool] = mapped_column(Boolean, default=False)
    nir_told: Mapped[bool] = mapped_column(Boolean, default=False)
    told_state: Mapped[str] = mapped_column(String(20))
    agora_state: Mapped[str] = mapped_column(String(20))
    agora_file_id: Mapped[str | None] = mapped_column(String(64))
    next_sequence: Mapped[int] = mapped_column(Integer, default=1)
    last_event_type: Mapped[str | None] = mapped_column(String(255))
    # The journey's W3C traceparent (from the first trainee event that carried one; null for
    # a back-filled file until a live event brings one): every call to AGORA and every flow
    # event about the file continues this trace.
    traceparent: Mapped[str | None] = mapped_column(String(55))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Flow(Base):
    __tablename__ = "agora_flows"
    __table_args__ = (
        UniqueConstraint("dossier_id", "sequence"),
        Index("ix_agora_flows_backfill", "backfill_job_id", "backfill_batch"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agora_dossiers.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    origin: Mapped[str] = mapped_column(String(16))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # The operation's own data (dates, reason, cost): no identity, no NIR.
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The request as first sent for this revision (NIR inside, so encrypted): a resend after
    # a timeout carries exactly the same body under the same idempotency key.
    request_encrypted: Mapped[str | None] = mapped_column(Text)
    event_type: Mapped[str | None] = mapped_column(String(255))
    backfill_job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    backfill_batch: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failed_claims: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    rejection_code: Mapped[str | None] = mapped_column(String(64))
    rejection_message: Mapped[str | None] = mapped_column(Text)
    agora_answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    first_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Optimistic concurrency: every ORM update bumps it (and checks it); the set-based claim
    # and the back-fill's bulk updates bump it themselves.
    __mapper_args__ = {"version_id_col": version}


class FlowTransitionLog(TransitionLogColumns, Base):
    """Who/when/from/to/why (and the trace) of every flow status change (pacte_common.state_machine)."""

    __tablename__ = "agora_flow_transitions"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    flow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agora_flows.id"), index=True)


class FtFile(Base):
    """A training file as France Travail is told of it: the person's identifier (sealed, and
    masked for display; absent: the file's flows wait), the snapshot (no identity), the
    certificates planned, and the journey's trace."""

    __tablename__ = "ft_files"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # the dossier id
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    identifier_encrypted: Mapped[str | None] = mapped_column(Text)
    identifier_masked: Mapped[str | None] = mapped_column(String(16))
    has_identifier: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    snapshot_version: Mapped[int] = mapped_column(Integer, default=0)
    planned: Mapped[list[str]] = mapped_column(JSON)  # operations queued so far
    next_sequence: Mapped[int] = mapped_column(Integer, default=1)
    traceparent: Mapped[str | None] = mapped_column(String(55))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FtFlow(Base):
    """France Travail's queue: one certificate for one file, on the outbound engine."""

    __tablename__ = "ft_flows"
    __table_args__ = (UniqueConstraint("dossier_id", "sequence"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ft_files.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # the certificate's own data: no identifier
    # The body as first sent for this revision (the identifier inside, so encrypted).
    request_encrypted: Mapped[str | None] = mapped_column(Text)
    event_type: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failed_claims: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    rejection_code: Mapped[str | None] = mapped_column(String(64))
    rejection_message: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    first_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __mapper_args__ = {"version_id_col": version}


class FtFlowTransitionLog(TransitionLogColumns, Base):
    __tablename__ = "ft_flow_transitions"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    flow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ft_flows.id"), index=True)


class BackfillJob(Base):
    __tablename__ = "backfill_jobs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    status: Mapped[str] = mapped_column(String(20), index=True)  # receiving, queued, running, completed, failed
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(_BigId)
    # The export is `backfill_chunks`: chunks of this many bytes (the last one shorter).
    chunk_bytes: Mapped[int] = mapped_column(Integer)
    # Checkpoint: where the next batch starts in the file, and the batch not yet answered.
    byte_offset: Mapped[int] = mapped_column(_BigId, default=0)
    line_no: Mapped[int] = mapped_column(Integer, default=0)
    next_batch: Mapped[int] = mapped_column(Integer, default=1)
    pending_batch: Mapped[int | None] = mapped_column(Integer)
    # The pending batch's bulk request and source lines (NIR inside, so encrypted): a resend
    # after a crash carries exactly the same body under the same idempotency key.
    pending_request_encrypted: Mapped[str | None] = mapped_column(Text)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The lease of the instance running the job (renewed by its heartbeat), which instance
    # holds it (its instance id) and how many times the job was claimed: a runner writes only
    # while the count is still the one its claim set (a stalled runner cannot write after a take-over).
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    held_by: Mapped[str | None] = mapped_column(String(64))
    claims: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class BackfillChunk(Base):
    """A chunk of an uploaded export, sealed (the export carries NIRs in clear): the file kept
    where every instance of the gateway reads it. Deleted when its job ends."""

    __tablename__ = "backfill_chunks"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("backfill_jobs.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)  # from 0: bytes number × chunk_bytes onwards
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class BackfillRejection(Base):
    __tablename__ = "backfill_rejections"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("backfill_jobs.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    dossier_id: Mapped[str | None] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(16))  # line (unreadable / not sendable) | agora (AGORA's answer)
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    line_encrypted: Mapped[str] = mapped_column(Text)
