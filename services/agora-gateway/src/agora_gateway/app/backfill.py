"""The back-fill use cases: start a job from an uploaded export, stream it to AGORA's bulk
endpoint, resumably (the job loop), and read back the lines not loaded.

The export is kept in the gateway's database, in sealed chunks (`backfill_chunks`: it carries
NIRs in clear), so whichever instance claims the job reads it. A job is claimed with a lease
that the running instance renews by a heartbeat (every quarter of `backfill_lease_s`): a job
whose instance died or stalled is taken over within about one lease. Each claim bumps the job's
`claims` count, and every write of a runner checks it still holds that count (fencing): a
runner that stalled past its lease cannot write after the take-over, and stops when its
heartbeat finds the lease gone.

Per batch of lines, two transactions bracket one bulk call:
1. *prepare*: classify each line (invalid, before the cut-off, excluded/delegated,
   without NIR, already followed by the gateway, or to send), record the files and their
   `bulk_load` flows, and move the checkpoint (byte offset, counters) past the batch; the
   batch's request is kept (encrypted) as the job's pending batch;
2. *complete*: record AGORA's answer per file and clear the pending batch.
A process killed between the two resends the pending batch with the same idempotency key
and the same body on restart, and AGORA answers with its first answer: nothing is loaded
twice, no line is read twice. The export is read line by line from the checkpoint's byte
offset, one chunk at a time, so memory stays flat whatever its size.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from pacte_common.aio import heartbeat, wait_any
from pacte_common.auth import Principal
from pacte_common.clock import utcnow
from pacte_common.contracts.agora import AgoraBulkFileAcknowledged
from pacte_common.contracts.people import PersonIdentity, seal_identity
from pacte_common.crypto import DecryptionError
from pacte_common.idempotency import Answer, create_once
from pacte_common.service import INSTANCE_ID, Component
from pacte_common.validators import nir_for_agora
from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from agora_gateway.app.flows import wake_dispatcher
from agora_gateway.clients.agora import AgoraClient, AgoraUnavailable
from agora_gateway.db.models import (
    BackfillChunk,
    BackfillJob,
    BackfillRejection,
    Dossier,
    Flow,
    FlowTransitionLog,
)
from agora_gateway.db.queries import SYSTEM, WAITING_FOR_NIR, flow_row, rejections_after
from agora_gateway.domain.agora_file import FileState, Operation
from agora_gateway.domain.backfill import (
    EXPORT_STATUS_TO_FILE_STATE,
    BackfillReport,
    LineOutcome,
    before_cutoff,
)
from agora_gateway.domain.export import BadLine, ExportLine, bulk_record, parse_line, seal_record
from agora_gateway.domain.flows import FLOW, FlowAction, FlowStatus, requeue_delay
from agora_gateway.domain.perimeter import PerimeterDecision, PerimeterStatus, decide_perimeter
from agora_gateway.events.publish import bulk_batch_acknowledged_events, rejected_event
from agora_gateway.runtime import GatewayRuntime

log = logging.getLogger(__name__)

BATCH_CONTEXT = "agora-gateway.backfill-batch.v1"
LINE_CONTEXT = "agora-gateway.backfill-line.v1"
CHUNK_CONTEXT = "agora-gateway.backfill-chunk.v1"


class JobStatus:
    RECEIVING = "receiving"  # the upload is being written to the database
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


def batch_key(job_id: uuid.UUID, batch: int) -> str:
    return f"pacte-backfill-{job_id}-b{batch}"


@dataclass(frozen=True)
class Claim:
    """A job as this instance holds it: the job's `claims` count its claim set (the lease's fence)."""

    job_id: uuid.UUID
    number: int


class LeaseLost(Exception):
    """The job was claimed by another instance since this one claimed it: stop, write nothing."""


class ExportUnreadable(Exception):
    """The export's chunks cannot be read back (one missing): the job fails."""


def chunk_context(job_id: uuid.UUID, number: int) -> str:
    # A chunk opens only as its own job's chunk at its own place: chunks cannot be swapped.
    return f"{CHUNK_CONTEXT}:{job_id}:{number}"


async def backfill_job(runtime: GatewayRuntime, stop: asyncio.Event) -> None:
    settings = runtime.settings
    wakeup = runtime.backfill_wakeup
    async with AgoraClient(settings) as client:
        while not stop.is_set():
            wakeup.clear()
            try:
                claim = await claim_job(runtime)
                if claim is not None:
                    await run_claimed(runtime, client, claim, stop)
                    continue
            except Exception:  # the database away, say: the job's lease runs out, and it is claimed again
                log.exception("back-fill: the job loop failed; it claims again after a poll")
            await wait_any(stop, wakeup, timeout=settings.backfill_poll_interval_s)


async def run_claimed(runtime: GatewayRuntime, client: AgoraClient, claim: Claim, stop: asyncio.Event) -> None:
    """Runs a claimed job under its heartbeat until it ends, the service stops or the lease is lost."""
    lease_s = runtime.settings.backfill_lease_s
    halt = asyncio.Event()  # the service stops, or the lease was lost: the job stops

    async def follow_stop() -> None:
        await stop.wait()
        halt.set()

    follower = asyncio.create_task(follow_stop())
    beat = asyncio.create_task(heartbeat(lambda: renew_lease(runtime, claim), every_s=lease_s / 4, stop=halt, lost=halt,
                                         lease_s=lease_s, name=f"back-fill {claim.job_id}"))
    runtime.backfill_held[claim.job_id] = utcnow()
    try:
        await run_job(runtime, client, claim, halt)
    except LeaseLost:
        log.warning("back-fill %s: taken over by another instance; this one stops it", claim.job_id)
    except (ExportUnreadable, DecryptionError) as exc:
        await fail_job(runtime, claim, f"{type(exc).__name__}: {exc}")
    finally:
        runtime.backfill_held.pop(claim.job_id, None)
        lost = halt.is_set() and not stop.is_set()
        halt.set()
        follower.cancel()
        await asyncio.gather(beat, follower, return_exceptions=True)
    if stop.is_set() and not lost:
        await release_lease(runtime, claim)


async def claim_job(runtime: GatewayRuntime) -> Claim | None:
    settings = runtime.settings
    async with runtime.db_factory() as db, db.begin():
        now = utcnow()
        await _fail_interrupted_uploads(db, settings, now)
        query = (
            select(BackfillJob)
            .where(
                BackfillJob.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
                or_(BackfillJob.lease_until.is_(None), BackfillJob.lease_until < now),
            )
            .order_by(BackfillJob.created_at)
            .limit(1)
        )
        if db.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        job = (await db.execute(query)).scalar_one_or_none()
        if job is None:
            return None
        if job.held_by is not None:
            log.warning("back-fill %s: its lease held by %s ran out; taken over by %s", job.id, job.held_by, INSTANCE_ID)
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or now
        job.lease_until = now + timedelta(seconds=settings.backfill_lease_s)
        job.held_by = INSTANCE_ID
        job.claims += 1
        return Claim(job.id, job.claims)


async def renew_lease(runtime: GatewayRuntime, claim: Claim) -> bool:
    """The heartbeat's beat: True while the lease is still this claim's."""
    async with runtime.db_factory() as db, db.begin():
        renewed = await db.execute(
            update(BackfillJob)
            .where(BackfillJob.id == claim.job_id, BackfillJob.claims == claim.number, BackfillJob.status == JobStatus.RUNNING)
            .values(lease_until=utcnow() + timedelta(seconds=runtime.settings.backfill_lease_s))
            .execution_options(synchronize_session=False)
        )
        return renewed.rowcount == 1


async def release_lease(runtime: GatewayRuntime, claim: Claim) -> None:
    """At shutdown: the job is left for another instance (or this one's restart) at once."""
    try:
        async with runtime.db_factory() as db, db.begin():
            await db.execute(
                update(BackfillJob)
                .where(BackfillJob.id == claim.job_id, BackfillJob.claims == claim.number)
                .values(lease_until=None, held_by=None)
                .execution_options(synchronize_session=False)
            )
    except Exception as exc:  # the lease then simply runs out
        log.warning("back-fill %s: cannot release its lease: %r", claim.job_id, exc)


async def _held(db: AsyncSession, claim: Claim, *, lock: bool = True) -> BackfillJob:
    """The job as this claim's runner reads it (locked for a short write); LeaseLost if another
    claimed it since."""
    query = select(BackfillJob).where(BackfillJob.id == claim.job_id)
    job = (await db.execute(query.with_for_update() if lock else query)).scalar_one()
    if job.claims != claim.number:
        raise LeaseLost(claim.job_id)
    return job


async def _write_checkpoint(db: AsyncSession, runtime: GatewayRuntime, claim: Claim, *conditions, **values) -> None:
    """The job's checkpoint moved by this claim's runner only, as the transaction's last write:
    the job's row is locked for a moment, not for the batch's writes (the heartbeat renews the
    lease meanwhile), and the lease is renewed with it. LeaseLost (the transaction rolls back:
    nothing of the batch is written) if another instance claimed the job since."""
    values["lease_until"] = utcnow() + timedelta(seconds=runtime.settings.backfill_lease_s)
    written = await db.execute(
        update(BackfillJob).where(BackfillJob.id == claim.job_id, BackfillJob.claims == claim.number, *conditions)
        .values(**values).execution_options(synchronize_session=False)
    )
    if written.rowcount != 1:
        raise LeaseLost(claim.job_id)


async def _fail_interrupted_uploads(db: AsyncSession, settings, now) -> None:
    """Uploads whose instance stopped while writing them: failed, their chunks deleted."""
    stale = list((await db.execute(
        select(BackfillJob.id).where(BackfillJob.status == JobStatus.RECEIVING, BackfillJob.lease_until < now)
    )).scalars())
    for job_id in stale:
        await db.execute(delete(BackfillChunk).where(BackfillChunk.job_id == job_id))
        await db.execute(
            update(BackfillJob).where(BackfillJob.id == job_id, BackfillJob.status == JobStatus.RECEIVING)
            .values(status=JobStatus.FAILED, finished_at=now, lease_until=None, held_by=None,
                    error="the upload was interrupted (the instance receiving it stopped): upload the export again")
            .execution_options(synchronize_session=False)
        )
        log.error("back-fill %s: upload interrupted; failed", job_id)


@dataclass(frozen=True)
class Pending:
    """A prepared batch not answered yet: its number, its bulk request and its source lines
    (dossier id → [line number, line]); kept in the job row too, sealed, for a restart."""

    batch: int
    request: dict
    lines: dict[str, list]


@dataclass
class _Prepared:
    """A batch read and classified (no database yet): what `prepare` writes."""

    lines: list[tuple[int, str]]
    line_no: int
    end_offset: int
    readable: list[_Candidate]
    unreadable: list[tuple[int, str, BadLine]]


async def run_job(runtime: GatewayRuntime, client: AgoraClient, claim: Claim, stop: asyncio.Event) -> None:
    """Reads, prepares and sends the job's batches from its checkpoint: while AGORA answers one
    batch, the next one is read and classified (the CPU work), so the call's wait and the
    preparation overlap; its rows are written once the answer is recorded (one batch pending
    at a time: the checkpoint stays one byte offset and one pending batch)."""
    settings = runtime.settings
    job_id = claim.job_id
    async with runtime.db_factory() as db:
        job = await db.get(BackfillJob, job_id)
        assert job is not None
        offset, line_no = job.byte_offset, job.line_no
        pending = _open_pending(runtime, job)
        export = ExportReader(runtime, job_id, job.chunk_bytes, job.size_bytes, offset)
    upcoming: _Prepared | None = None
    while not stop.is_set():
        if pending is not None:
            call = asyncio.create_task(call_agora(runtime, client, claim, pending, stop))
            try:
                if upcoming is None:
                    upcoming = await _read_and_classify(runtime, export, line_no, settings.backfill_batch_size)
                    line_no = upcoming.line_no
                answer = await call
            finally:
                if not call.done():
                    call.cancel()
                    await asyncio.gather(call, return_exceptions=True)
            if answer is None:  # stopped while AGORA was unavailable
                return
            await complete(runtime, claim, pending, answer)
            wake_dispatcher(runtime)  # live flows queued behind these files may go now
            pending = None
        if upcoming is None:
            upcoming = await _read_and_classify(runtime, export, line_no, settings.backfill_batch_size)
            line_no = upcoming.line_no
        if not upcoming.lines:
            await finish_job(runtime, claim)
            return
        for _attempt in range(3):
            try:
                pending = await prepare(runtime, claim, upcoming.lines, upcoming.end_offset, upcoming.line_no, upcoming)
                break
            except IntegrityError:
                # the live flow created one of these files meanwhile: classify again
                log.info("back-fill %s: a file appeared meanwhile, preparing the batch again", job_id)
        else:
            raise RuntimeError("back-fill batch could not be prepared")
        upcoming = None


async def _read_and_classify(runtime: GatewayRuntime, export: ExportReader, line_no: int, size: int) -> _Prepared:
    lines, line_no, end_offset = await export.read_batch(line_no, size)
    readable, unreadable = await classify_lines(runtime, lines)
    return _Prepared(lines, line_no, end_offset, readable, unreadable)


def _open_pending(runtime: GatewayRuntime, job: BackfillJob) -> Pending | None:
    if job.pending_batch is None:
        return None
    assert job.pending_request_encrypted
    sealed = json.loads(runtime.cipher.decrypt(job.pending_request_encrypted, context=BATCH_CONTEXT))
    return Pending(job.pending_batch, sealed["request"], sealed["lines"])


class ExportReader:
    """The export read back from its sealed chunks, line by line from a byte offset: one chunk
    in memory at a time (with the end of the line begun in the one before)."""

    def __init__(self, runtime: GatewayRuntime, job_id: uuid.UUID, chunk_bytes: int, size: int, offset: int):
        self.runtime, self.job_id, self.chunk_bytes, self.size = runtime, job_id, chunk_bytes, size
        self.next_chunk = offset // chunk_bytes
        self.start = self.next_chunk * chunk_bytes  # the export's offset of buffer[0]
        self.buffer = b""
        self.pos = offset - self.start  # the reading position in buffer (or in the next chunk while it is empty)

    @property
    def offset(self) -> int:
        return self.start + self.pos

    async def _load(self) -> bool:
        if self.start + len(self.buffer) >= self.size:
            return False
        number = self.next_chunk
        async with self.runtime.readers()() as reader:
            sealed = (await reader.execute(
                select(BackfillChunk.sealed).where(BackfillChunk.job_id == self.job_id, BackfillChunk.number == number)
            )).scalar_one_or_none()
        if sealed is None:
            raise ExportUnreadable(f"chunk {number} of the export is missing")
        data = self.runtime.cipher.decrypt_bytes(sealed, context=chunk_context(self.job_id, number))
        if self.buffer:
            self.buffer, self.start, self.pos = self.buffer[self.pos:] + data, self.start + self.pos, 0
        else:
            self.buffer = data
        self.next_chunk += 1
        return True

    async def readline(self) -> bytes:
        """The next line with its newline (the last one may have none); b"" at the end."""
        while True:
            end = self.buffer.find(b"\n", self.pos)
            if end >= 0:
                line, self.pos = self.buffer[self.pos:end + 1], end + 1
                return line
            if not await self._load():
                line, self.pos = self.buffer[self.pos:], len(self.buffer)
                return line

    async def read_batch(self, line_no: int, size: int) -> tuple[list[tuple[int, str]], int, int]:
        """Up to `size` non-blank lines from the current position: (lines, last line number, offset after)."""
        lines: list[tuple[int, str]] = []
        while len(lines) < size:
            raw = await self.readline()
            if not raw:
                break
            line_no += 1
            text = raw.decode("utf-8", errors="replace").strip()
            if text:
                lines.append((line_no, text))
        return lines, line_no, self.offset


@dataclass
class _Candidate:
    """A readable line, classified and made ready outside the database transaction."""

    number: int
    text: str
    line: ExportLine
    outcome: LineOutcome
    decision: PerimeterDecision | None = None
    dossier: dict | None = None
    record: dict | None = None


def _classify(runtime: GatewayRuntime, number: int, text: str, line: ExportLine) -> _Candidate:
    settings = runtime.settings
    if before_cutoff(line.entry_date, line.session_start_date, settings.backfill_cutoff):
        return _Candidate(number, text, line, LineOutcome.SKIPPED_BY_DATE)
    decision = decide_perimeter(line.agora_category, line.delegated_to_france_travail, settings.excluded_categories)
    # A file to send without its NIR is kept, visibly waiting, and sent when the NIR comes.
    waiting = decision.sendable and line.person.nir is None and not settings.create_without_nir
    outcome = LineOutcome.WAITING_NIR if waiting else {
        PerimeterStatus.IN_PERIMETER: LineOutcome.SENT,
        PerimeterStatus.EXCLUDED: LineOutcome.EXCLUDED,
        PerimeterStatus.DELEGATED: LineOutcome.DELEGATED,
    }[decision.status]
    target = EXPORT_STATUS_TO_FILE_STATE[line.status]
    dossier = dict(
        id=line.dossier_id,
        person_id=None,
        origin="backfill",
        perimeter_status=decision.status.value,
        perimeter_reason_code=decision.reason_code,
        perimeter_reason=decision.reason,
        programme_code=line.programme_code,
        agora_category=line.agora_category,
        organisation_siret=line.organisation_siret[:32],
        snapshot=line.model_dump(mode="json", exclude={"person"}),
        snapshot_version=0,
        identity_encrypted=seal_identity(
            runtime.cipher,
            PersonIdentity(birth_name=line.person.birth_name, first_names=line.person.first_names, nir=line.person.nir),
        ),
        has_nir=line.person.nir is not None,
        # a waiting record goes with the NIR in it: no separate add_nir is planned for it
        nir_told=(line.person.nir is not None or waiting) and decision.sendable,
        told_state=target.value,
        agora_state=FileState.NONE.value,
        next_sequence=1,
    )
    record = None
    if decision.sendable:
        nir = nir_for_agora(line.person.nir) if line.person.nir else None
        record = bulk_record(line, nir, settings.trainee_status)
    if waiting:
        dossier["backfill_record_encrypted"] = seal_record(runtime.cipher, record)
        record = None  # not in this batch's bulk call
    return _Candidate(number, text, line, outcome, decision, dossier, record)


async def classify_lines(runtime: GatewayRuntime, lines: list[tuple[int, str]]) -> tuple[list[_Candidate], list[tuple[int, str, BadLine]]]:
    """Parsing, checks and encryption of a batch (CPU only, outside any transaction); it lets
    the event loop run every few lines (an AGORA call in flight meanwhile gets its answer read)."""
    readable: list[_Candidate] = []
    unreadable: list[tuple[int, str, BadLine]] = []
    for i, (number, text) in enumerate(lines):
        if i % 50 == 49:
            await asyncio.sleep(0)
        try:
            readable.append(_classify(runtime, number, text, parse_line(text)))
        except BadLine as bad:
            unreadable.append((number, text, bad))
    return readable, unreadable


async def prepare(runtime: GatewayRuntime, claim: Claim, lines: list[tuple[int, str]], end_offset: int, line_no: int,
                  classified: _Prepared | None = None) -> Pending | None:
    """Writes a batch's files and flows and moves the checkpoint past it: the batch's bulk call
    (None when no line of it goes to AGORA) is pending."""
    job_id = claim.job_id
    if classified is not None:
        readable, unreadable = classified.readable, classified.unreadable
    else:
        readable, unreadable = await classify_lines(runtime, lines)
    async with runtime.db_factory() as db, db.begin():
        job = await _held(db, claim, lock=False)
        report = BackfillReport.from_dict(job.report)
        batch = job.next_batch
        report.read += len(lines)
        rows = _BatchRows(runtime, job_id, batch)
        for number, text, bad in unreadable:
            report.count(LineOutcome.INVALID)
            rows.reject(number, text, "line", bad.code, bad.message, _dossier_ref(text))
        ids = [c.line.dossier_id for c in readable]
        known = set((await db.execute(select(Dossier.id).where(Dossier.id.in_(ids)))).scalars()) if ids else set()
        records: list[dict] = []
        sources: dict[str, list] = {}
        for candidate in readable:
            if candidate.line.dossier_id in known:
                report.count(LineOutcome.ALREADY_KNOWN)
                continue
            if candidate.dossier is not None:
                known.add(candidate.line.dossier_id)
            if _plan_line(rows, candidate, report):
                records.append(candidate.record)
                sources[str(candidate.line.dossier_id)] = [candidate.number, candidate.text]
        await rows.insert(db)  # set-based: one multi-row statement per table
        checkpoint: dict[str, Any] = dict(report=report.as_dict(), byte_offset=end_offset, line_no=line_no, next_batch=batch + 1)
        pending = Pending(batch, {"files": records}, sources) if records else None
        if pending is not None:
            checkpoint.update(pending_batch=batch, pending_request_encrypted=runtime.cipher.encrypt(
                json.dumps({"request": pending.request, "lines": pending.lines}), context=BATCH_CONTEXT
            ))
        await _write_checkpoint(db, runtime, claim, BackfillJob.next_batch == batch, **checkpoint)
        return pending


def _plan_line(rows: _BatchRows, candidate: _Candidate, report: BackfillReport) -> bool:
    """Adds the line's rows (file, its bulk_load flow, rejections); True if it goes in the bulk call."""
    number, text, line = candidate.number, candidate.text, candidate.line
    if candidate.outcome is LineOutcome.WAITING_NIR:
        # Listed with the lines to fix (the operator may chase the NIR); the file is kept.
        rows.reject(number, text, "line", "missing_nir", "no NIR: the file is kept and sent when its NIR comes",
                    str(line.dossier_id))
    if candidate.dossier is None:
        report.count(candidate.outcome)
        return False
    decision = candidate.decision
    assert decision is not None
    report.count(candidate.outcome, decision.reason_code)
    data = {"line_no": number, "state": candidate.dossier["told_state"]}
    if candidate.outcome is LineOutcome.WAITING_NIR:
        rows.file(candidate.dossier, FlowStatus.PENDING, data, f"{WAITING_FOR_NIR}: no NIR in the export; sent when it comes")
        return False
    if candidate.record is None:
        rows.file(candidate.dossier, FlowStatus(decision.status.value), data, decision.reason)
        return False
    rows.file(candidate.dossier, FlowStatus.SENT, data, f"back-fill job {rows.job_id}, batch {rows.batch}", sent=True)
    return True


class _BatchRows:
    """The rows one prepared batch inserts, as plain dicts (no ORM object per line)."""

    def __init__(self, runtime: GatewayRuntime, job_id: uuid.UUID, batch: int):
        self.runtime, self.job_id, self.batch = runtime, job_id, batch
        self.now = utcnow()
        self.dossiers: list[dict] = []
        self.flows: list[dict] = []
        self.logs: list[dict] = []
        self.rejections: list[dict] = []

    def file(self, dossier: dict, status: FlowStatus, data: dict, reason: str | None, *, sent: bool = False) -> None:
        """The file and its first flow (bulk_load, sequence 1), queued with its log line."""
        flow_id = uuid.uuid4()
        self.dossiers.append({"backfill_record_encrypted": None, **dossier, "next_sequence": 2,
                              "created_at": self.now, "updated_at": self.now})
        self.flows.append(flow_row(flow_id, dossier["id"], 1, Operation.BULK_LOAD, status, data, "backfill", self.now,
                                   backfill_job_id=self.job_id, backfill_batch=self.batch,
                                   first_sent_at=self.now if sent else None))
        self.logs.append(FLOW.creation_row(status.value, actor=SYSTEM, action="queue", at=self.now, reason=reason,
                                           flow_id=flow_id))

    def reject(self, number: int, text: str, stage: str, code: str, message: str, dossier_ref: str | None) -> None:
        self.rejections.append(_rejection(self.runtime, self.job_id, number, text, stage, code, message, dossier_ref))

    async def insert(self, db) -> None:
        # Files first, then their flows and logs (foreign keys).
        for model, rows in ((Dossier, self.dossiers), (Flow, self.flows), (FlowTransitionLog, self.logs),
                            (BackfillRejection, self.rejections)):
            if rows:
                await db.execute(insert(model.__table__), rows)  # Core executemany: no ORM bookkeeping per row


async def call_agora(runtime: GatewayRuntime, client: AgoraClient, claim: Claim, pending: Pending,
                     stop: asyncio.Event) -> dict[str, dict] | None:
    """Sends the pending batch until AGORA answers: its result per file (dossier id → result);
    None if stopped first. A runner that lost its lease meanwhile may have sent it too: same
    key, same body, AGORA's first answer."""
    settings = runtime.settings
    failures = 0
    while True:
        if stop.is_set():
            return None
        try:
            answer = await client.bulk(pending.request, batch_key(claim.job_id, pending.batch))
            break
        except AgoraUnavailable as exc:
            failures += 1
            delay = requeue_delay(failures, settings.send_backoff_initial_s, settings.requeue_delay_max_s)
            log.warning("back-fill %s batch %d: AGORA unavailable (%s); again in %.1fs", claim.job_id, pending.batch, exc, delay)
            await wait_any(stop, timeout=delay)
    if answer.acknowledged:
        return {str(r.get("funder_ref")): r for r in answer.body.get("results", [])}
    # the whole call was refused: every file of the batch carries that code
    return {ref: {"status": "rejected", "code": answer.code, "message": answer.message} for ref in pending.lines}


async def complete(runtime: GatewayRuntime, claim: Claim, pending: Pending, results: dict[str, dict]) -> None:
    """Records AGORA's answer to the pending batch and clears it (one transaction)."""
    job_id, batch, sources = claim.job_id, pending.batch, pending.lines
    async with runtime.db_factory() as db, db.begin():
        job = await _held(db, claim, lock=False)
        if job.pending_batch != batch:
            return  # already completed by an earlier run
        report = BackfillReport.from_dict(job.report)
        flows = (await db.execute(
            select(Flow.id, Flow.dossier_id, Flow.operation, Flow.sequence, Flow.revision, Flow.origin, Flow.version,
                   Flow.status, Dossier.told_state, Dossier.traceparent)
            .join(Dossier, Dossier.id == Flow.dossier_id)
            .where(Flow.backfill_job_id == job_id, Flow.backfill_batch == batch, Flow.status == FlowStatus.SENT.value)
        )).all()
        answers = _Answers(runtime, job_id, batch, utcnow())
        for flow in flows:
            result = results.get(str(flow.dossier_id)) or {"status": "rejected", "code": "no_answer", "message": "AGORA gave no result for this file"}
            answers.record(flow, result, report, sources)
        await answers.write(db)  # set-based: one statement per table
        await runtime.outbox.publish_many(db, answers.all_events())
        await _write_checkpoint(db, runtime, claim, BackfillJob.pending_batch == batch,
                                report=report.as_dict(), pending_batch=None, pending_request_encrypted=None)


class _Answers:
    """AGORA's answers to one bulk call as rows to update and insert, and events to publish."""

    def __init__(self, runtime: GatewayRuntime, job_id: uuid.UUID, batch: int, now):
        self.runtime, self.job_id, self.batch, self.now = runtime, job_id, batch, now
        self.flows: list[dict] = []
        self.logs: list[dict] = []
        self.acknowledged: list[dict] = []
        self.rejected: list[dict] = []
        self.rejections: list[dict] = []
        self.events: list[tuple] = []  # a rejected file's event (key: the file), in the file's trace
        self.loaded: list[AgoraBulkFileAcknowledged] = []  # told in the batch's event(s)

    def all_events(self) -> list[tuple]:
        """The rejections' events, then the batch's acknowledgement (key: the job; no file's trace)."""
        key = batch_key(self.job_id, self.batch)
        batch_events = bulk_batch_acknowledged_events(self.job_id, self.batch, key, self.loaded,
                                                      self.runtime.settings.backfill_event_max_files)
        return self.events + [(event, str(self.job_id), None) for event in batch_events]

    def record(self, flow, result: dict, report: BackfillReport, sources: dict[str, list]) -> None:
        acknowledged = result.get("status") == "acknowledged"
        action = FlowAction.ACKNOWLEDGE if acknowledged else FlowAction.REJECT
        code, message = str(result.get("code") or "rejected"), str(result.get("message") or "")
        reason = f"bulk batch {self.batch}" if acknowledged else f"{code}: {message}"
        log = FLOW.checked_row(flow.status, action, actor=SYSTEM, at=self.now, reason=reason, flow_id=flow.id)
        target = log["to_status"]
        # ORM bulk UPDATE by primary key: `version` is the one read (checked), bumped by the mapper
        self.flows.append(dict(b_id=flow.id, b_status=target, b_version=flow.version, b_answer=result, b_now=self.now,
                               b_code=None if acknowledged else code, b_message=None if acknowledged else message))
        self.logs.append(log)
        if acknowledged:
            file_id, state = result.get("agora_file_id"), result.get("file_state") or flow.told_state
            self.acknowledged.append(dict(b_id=flow.dossier_id, b_file_id=file_id, b_state=state, b_now=self.now))
            report.acknowledged += 1
            self.loaded.append(AgoraBulkFileAcknowledged(flow_id=flow.id, dossier_id=flow.dossier_id, agora_file_id=file_id,
                                                         agora_file_state=state))
            return
        # AGORA holds nothing: live events for this file plan from scratch
        self.rejected.append(dict(b_id=flow.dossier_id, b_now=self.now))
        report.reject(code)
        self.events.append((rejected_event(flow, code, message), str(flow.dossier_id), flow.traceparent))
        number, text = sources.get(str(flow.dossier_id), [0, ""])  # every file of the batch has its line there
        self.rejections.append(_rejection(self.runtime, self.job_id, number, text, "agora", code, message, str(flow.dossier_id)))

    async def write(self, db) -> None:
        # Core executemany (one driver call per statement): the flows' version is checked in
        # the WHERE and bumped in the SET, as the mapper would, without one UPDATE per row.
        if self.flows:
            updated = await db.execute(_ANSWER_FLOW, self.flows)
            if db.bind.dialect.supports_sane_multi_rowcount and updated.rowcount != len(self.flows):
                raise StaleDataError(f"back-fill batch {self.batch}: a flow changed while its answer was recorded")
        if self.acknowledged:
            await db.execute(_ACKNOWLEDGE_FILE, self.acknowledged)
        if self.rejected:
            await db.execute(_REJECT_FILE, self.rejected)
        for table, rows in ((FlowTransitionLog.__table__, self.logs), (BackfillRejection.__table__, self.rejections)):
            if rows:
                await db.execute(insert(table), rows)


_FLOWS, _FILES = Flow.__table__, Dossier.__table__
# AGORA's answer to one back-filled file's flow (executemany; the `b_` names are the rows' keys).
_ANSWER_FLOW = (
    update(_FLOWS)
    .where(_FLOWS.c.id == bindparam("b_id"), _FLOWS.c.version == bindparam("b_version"))
    .values(status=bindparam("b_status"), version=_FLOWS.c.version + 1, agora_answer=bindparam("b_answer"),
            answered_at=bindparam("b_now"), claimed_until=None, updated_at=bindparam("b_now"),
            rejection_code=bindparam("b_code"), rejection_message=bindparam("b_message"))
)
_ACKNOWLEDGE_FILE = (
    update(_FILES).where(_FILES.c.id == bindparam("b_id"))
    .values(agora_file_id=bindparam("b_file_id"), agora_state=bindparam("b_state"), updated_at=bindparam("b_now"))
)
_REJECT_FILE = (
    update(_FILES).where(_FILES.c.id == bindparam("b_id"))
    .values(told_state=FileState.NONE.value, nir_told=False, updated_at=bindparam("b_now"))
)


async def finish_job(runtime: GatewayRuntime, claim: Claim) -> None:
    async with runtime.db_factory() as db, db.begin():
        job = await _held(db, claim)
        job.status, job.finished_at, job.lease_until, job.held_by = JobStatus.COMPLETED, utcnow(), None, None
        await _drop_export(db, runtime, claim.job_id)
    log.info("back-fill %s completed", claim.job_id)


async def fail_job(runtime: GatewayRuntime, claim: Claim, error: str) -> None:
    async with runtime.db_factory() as db, db.begin():
        job = await _held(db, claim)
        job.status, job.error, job.finished_at, job.lease_until, job.held_by = JobStatus.FAILED, error, utcnow(), None, None
        await _drop_export(db, runtime, claim.job_id)
    log.error("back-fill %s failed: %s", claim.job_id, error)


async def _drop_export(db: AsyncSession, runtime: GatewayRuntime, job_id: uuid.UUID) -> None:
    # The export carries NIRs (sealed here); what operators still need (rejected lines) is kept encrypted.
    if not runtime.settings.backfill_keep_exports:
        await db.execute(delete(BackfillChunk).where(BackfillChunk.job_id == job_id))


def _rejection(runtime, job_id, number, text, stage, code, message, dossier_ref) -> dict:
    return dict(
        job_id=job_id,
        line_no=number,
        dossier_id=dossier_ref,
        stage=stage,
        code=code,
        message=message[:2000],
        line_encrypted=runtime.cipher.encrypt(text, context=LINE_CONTEXT),
    )


def _dossier_ref(text: str) -> str | None:
    try:
        value = json.loads(text).get("dossier_id")
        return str(value)[:64] if value is not None else None
    except Exception:
        return None


# ------------------------------------------------------------------ start a job (HTTP)


class ExportFile(Protocol):
    """The export as the HTTP edge receives it (an upload): read chunk by chunk."""

    filename: str | None

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class Upload:
    """An export as received: its job (status receiving), digest and size."""

    job_id: uuid.UUID
    filename: str
    sha256: str
    size: int


async def receive_export(runtime: GatewayRuntime, job_id: uuid.UUID, file: ExportFile, created_by: str) -> Upload:
    """Writes the upload to the database in sealed chunks of `backfill_upload_chunk_bytes`, each
    in a transaction of its own (memory holds one chunk), under a job in status `receiving`
    whose lease each chunk renews: an upload whose instance stopped is failed by the next
    claim (`_fail_interrupted_uploads`), its chunks deleted."""
    settings = runtime.settings
    chunk_bytes = settings.backfill_upload_chunk_bytes
    filename = (file.filename or "export.ndjson")[:255]
    upload_lease = timedelta(seconds=settings.backfill_upload_lease_s)
    async with runtime.db_factory() as db, db.begin():
        now = utcnow()
        db.add(BackfillJob(
            id=job_id, status=JobStatus.RECEIVING, filename=filename, sha256="", size_bytes=0, chunk_bytes=chunk_bytes,
            byte_offset=0, line_no=0, next_batch=1, report=BackfillReport().as_dict(), created_by=created_by,
            created_at=now, lease_until=now + upload_lease, held_by=INSTANCE_ID, claims=0,
        ))
    digest, size, number = hashlib.sha256(), 0, 0
    try:
        while chunk := await _read_chunk(file, chunk_bytes):
            digest.update(chunk)
            sealed = runtime.cipher.encrypt_bytes(chunk, context=chunk_context(job_id, number))
            async with runtime.db_factory() as db, db.begin():
                await db.execute(insert(BackfillChunk).values(job_id=job_id, number=number, sealed=sealed))
                await db.execute(update(BackfillJob).where(BackfillJob.id == job_id)
                                 .values(lease_until=utcnow() + upload_lease).execution_options(synchronize_session=False))
            size += len(chunk)
            number += 1
    except BaseException:
        await asyncio.shield(discard_upload(runtime, job_id))  # the export holds NIRs: never left behind
        raise
    return Upload(job_id, filename, digest.hexdigest(), size)


async def _read_chunk(file: ExportFile, size: int) -> bytes:
    """Exactly `size` bytes (fewer at the end): every chunk but the last has the same size."""
    chunk = await file.read(size)
    while chunk and len(chunk) < size:
        more = await file.read(size - len(chunk))
        if not more:
            break
        chunk += more
    return chunk


async def discard_upload(runtime: GatewayRuntime, job_id: uuid.UUID) -> None:
    """An upload that starts no job (a replay, a refusal, an error): its chunks and job row go."""
    async with runtime.db_factory() as db, db.begin():
        await db.execute(delete(BackfillChunk).where(BackfillChunk.job_id == job_id))
        await db.execute(delete(BackfillJob).where(BackfillJob.id == job_id, BackfillJob.status == JobStatus.RECEIVING))


async def start(
    db: AsyncSession,
    runtime: GatewayRuntime,
    principal: Principal,
    file: ExportFile,
    idempotency_key: str | None,
    render: Callable[[BackfillJob], Any],
) -> Answer:
    """A back-fill job queued for an uploaded export (HTTP use case: commits); the answer is
    the job rendered, or the first upload's answer for a replayed Idempotency-Key (this
    upload's copy is then deleted)."""
    job_id = uuid.uuid4()
    upload = await receive_export(runtime, job_id, file, principal.describe())

    async def create():
        job = await db.get(BackfillJob, job_id)
        assert job is not None
        job.status, job.sha256, job.size_bytes = JobStatus.QUEUED, upload.sha256, upload.size
        job.lease_until = job.held_by = None
        return 202, render(job)

    try:
        answer = await create_once(
            db,
            runtime.tables,
            hasher=runtime.hasher,
            principal=principal,
            operation="start-backfill",
            key=idempotency_key,
            payload={"sha256": upload.sha256, "size": upload.size, "filename": upload.filename},
            create=create,
        )
    except BaseException:
        await db.rollback()
        await asyncio.shield(discard_upload(runtime, job_id))
        raise
    await db.rollback()  # a replay ends its read of the stored answer here (SQLite: the write lock)
    if answer.replayed:
        await discard_upload(runtime, job_id)  # the first upload's job runs; this copy is not needed
    else:
        runtime.backfill_wakeup.set()
    return answer


# ------------------------------------------------------------------ the lines not loaded (a read)


async def rejected_lines(runtime: GatewayRuntime, job_id: uuid.UUID, page: int = 1000) -> AsyncIterator[str]:
    """The job's rejected lines as NDJSON, decrypted, page by page (each page its own read)."""
    last_id = 0
    while True:
        async with runtime.readers()() as reader:
            rows = await rejections_after(reader, job_id, last_id, page)
        for row in rows:
            yield json.dumps(
                {
                    "line_no": row.line_no,
                    "dossier_id": row.dossier_id,
                    "stage": row.stage,
                    "code": row.code,
                    "message": row.message,
                    "line": runtime.cipher.decrypt(row.line_encrypted, context=LINE_CONTEXT),
                },
                ensure_ascii=False,
            ) + "\n"
        if len(rows) < page:
            return
        last_id = rows[-1].id


# ------------------------------------------------------------------ /health/status


async def backfill_status(runtime: GatewayRuntime) -> Component:
    """The jobs this instance runs now, and every job receiving or running with the instance holding it."""
    async with runtime.readers()() as reader:
        running = (await reader.execute(
            select(BackfillJob.id, BackfillJob.held_by, BackfillJob.lease_until, BackfillJob.line_no)
            .where(BackfillJob.status.in_([JobStatus.RECEIVING, JobStatus.RUNNING])).order_by(BackfillJob.created_at)
        )).all()
    details = {
        "jobs_held": [{"job_id": str(job_id), "since": since.isoformat()} for job_id, since in runtime.backfill_held.items()],
        "active": [{"job_id": str(row.id), "held_by": row.held_by, "lease_until": row.lease_until.isoformat() if row.lease_until else None,
                     "lines_read": row.line_no} for row in running],
    }
    return Component("backfill", details, [])
