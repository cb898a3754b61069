"""The back-fill use cases: start a job from an uploaded export, stream it to AGORA's bulk
endpoint, resumably (the job loop), and read back the lines not loaded.

Per batch of lines, two transactions bracket one bulk call:
1. *prepare*: classify each line (invalid, before the cut-off, excluded/delegated,
   without NIR, already followed by the gateway, or to send), record the files and their
   `bulk_load` flows, and move the checkpoint (byte offset, counters) past the batch; the
   batch's request is kept (encrypted) as the job's pending batch;
2. *complete*: record AGORA's answer per file and clear the pending batch.
A process killed between the two resends the pending batch with the same idempotency key
and the same body on restart, and AGORA answers with its first answer: nothing is loaded
twice, no line is read twice. The file is read line by line from the checkpoint's byte
offset, so memory stays flat whatever its size.
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
from pathlib import Path
from typing import Any, Protocol

from pacte_common.aio import wait_any
from pacte_common.auth import Principal
from pacte_common.clock import utcnow
from pacte_common.contracts.people import PersonIdentity, seal_identity
from pacte_common.idempotency import Answer, create_once
from pacte_common.validators import nir_for_agora
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agora_gateway.app.flows import wake_dispatcher
from agora_gateway.clients.agora import AgoraClient, AgoraUnavailable
from agora_gateway.db.models import BackfillJob, BackfillRejection, Dossier, Flow, FlowTransitionLog
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
from agora_gateway.events.publish import acknowledged_event, rejected_event
from agora_gateway.runtime import GatewayRuntime

log = logging.getLogger(__name__)

BATCH_CONTEXT = "agora-gateway.backfill-batch.v1"
LINE_CONTEXT = "agora-gateway.backfill-line.v1"


class JobStatus:
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


def batch_key(job_id: uuid.UUID, batch: int) -> str:
    return f"pacte-backfill-{job_id}-b{batch}"


async def backfill_job(runtime: GatewayRuntime, stop: asyncio.Event) -> None:
    settings = runtime.settings
    wakeup = runtime.backfill_wakeup
    async with AgoraClient(settings) as client:
        while not stop.is_set():
            wakeup.clear()
            job_id = await claim_job(runtime)
            if job_id is None:
                await wait_any(stop, wakeup, timeout=settings.backfill_poll_interval_s)
                continue
            try:
                await run_job(runtime, client, job_id, stop)
            except (OSError, UnicodeError) as exc:
                await fail_job(runtime, job_id, f"{type(exc).__name__}: {exc}")


async def claim_job(runtime: GatewayRuntime) -> uuid.UUID | None:
    settings = runtime.settings
    async with runtime.db_factory() as db, db.begin():
        now = utcnow()
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
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or now
        job.lease_until = now + timedelta(seconds=settings.backfill_lease_s)
        return job.id


async def run_job(runtime: GatewayRuntime, client: AgoraClient, job_id: uuid.UUID, stop: asyncio.Event) -> None:
    settings = runtime.settings
    async with runtime.db_factory() as db:
        job = await db.get(BackfillJob, job_id)
        assert job is not None
        path, offset, line_no, pending = Path(job.file_path), job.byte_offset, job.line_no, job.pending_batch
    if pending is not None and not await send_pending(runtime, client, job_id, stop):
        return
    export = await asyncio.to_thread(path.open, "rb")
    try:
        await asyncio.to_thread(export.seek, offset)
        while not stop.is_set():
            lines, line_no, end_offset = await asyncio.to_thread(_read_batch, export, line_no, settings.backfill_batch_size)
            if not lines:
                await finish_job(runtime, job_id)
                return
            for _attempt in range(3):
                try:
                    has_request = await prepare(runtime, job_id, lines, end_offset, line_no)
                    break
                except IntegrityError:
                    # the live flow created one of these files meanwhile: classify again
                    log.info("back-fill %s: a file appeared meanwhile, preparing the batch again", job_id)
            else:
                raise RuntimeError("back-fill batch could not be prepared")
            if has_request and not await send_pending(runtime, client, job_id, stop):
                return
    finally:
        await asyncio.to_thread(export.close)


def _read_batch(export, line_no: int, size: int) -> tuple[list[tuple[int, str]], int, int]:
    """Up to `size` non-blank lines from the current position: (lines, last line number, offset after)."""
    lines: list[tuple[int, str]] = []
    while len(lines) < size:
        raw = export.readline()
        if not raw:
            break
        line_no += 1
        text = raw.decode("utf-8", errors="replace").strip()
        if text:
            lines.append((line_no, text))
    return lines, line_no, export.tell()


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
        snapshot=json.loads(line.model_dump_json(exclude={"person"})),
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


async def prepare(runtime: GatewayRuntime, job_id: uuid.UUID, lines: list[tuple[int, str]], end_offset: int, line_no: int) -> bool:
    settings = runtime.settings
    # Parsing, checks and encryption first: the write transaction below stays short.
    readable: list[_Candidate] = []
    unreadable: list[tuple[int, str, BadLine]] = []
    for number, text in lines:
        try:
            readable.append(_classify(runtime, number, text, parse_line(text)))
        except BadLine as bad:
            unreadable.append((number, text, bad))
    async with runtime.db_factory() as db, db.begin():
        job = (await db.execute(select(BackfillJob).where(BackfillJob.id == job_id).with_for_update())).scalar_one()
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
        now = utcnow()
        job.report = report.as_dict()
        job.byte_offset, job.line_no = end_offset, line_no
        job.next_batch = batch + 1
        job.lease_until = now + timedelta(seconds=settings.backfill_lease_s)
        if records:
            job.pending_batch = batch
            job.pending_request_encrypted = runtime.cipher.encrypt(
                json.dumps({"request": {"files": records}, "lines": sources}), context=BATCH_CONTEXT
            )
        return bool(records)


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
                await db.execute(insert(model), rows)


async def send_pending(runtime: GatewayRuntime, client: AgoraClient, job_id: uuid.UUID, stop: asyncio.Event) -> bool:
    """Sends the job's pending batch until AGORA answers; False if stopped first."""
    settings = runtime.settings
    async with runtime.db_factory() as db:
        job = await db.get(BackfillJob, job_id)
        assert job is not None and job.pending_batch is not None and job.pending_request_encrypted
        batch = job.pending_batch
        pending = json.loads(runtime.cipher.decrypt(job.pending_request_encrypted, context=BATCH_CONTEXT))
    failures = 0
    while True:
        if stop.is_set():
            return False
        try:
            answer = await client.bulk(pending["request"], batch_key(job_id, batch))
            break
        except AgoraUnavailable as exc:
            failures += 1
            delay = requeue_delay(failures, settings.send_backoff_initial_s, settings.requeue_delay_max_s)
            log.warning("back-fill %s batch %d: AGORA unavailable (%s); again in %.1fs", job_id, batch, exc, delay)
            await _renew_lease(runtime, job_id)
            await wait_any(stop, timeout=delay)
    if answer.acknowledged:
        results = {str(r.get("funder_ref")): r for r in answer.body.get("results", [])}
    else:  # the whole call was refused: every file of the batch carries that code
        results = {ref: {"status": "rejected", "code": answer.code, "message": answer.message} for ref in pending["lines"]}
    await complete(runtime, job_id, batch, results, pending["lines"])
    wake_dispatcher(runtime)  # live flows queued behind these files may go now
    return True


async def complete(runtime: GatewayRuntime, job_id: uuid.UUID, batch: int, results: dict[str, dict], sources: dict[str, list]) -> None:
    settings = runtime.settings
    async with runtime.db_factory() as db, db.begin():
        job = (await db.execute(select(BackfillJob).where(BackfillJob.id == job_id).with_for_update())).scalar_one()
        if job.pending_batch != batch:
            return  # already completed by an earlier run
        report = BackfillReport.from_dict(job.report)
        flows = (await db.execute(
            select(Flow.id, Flow.dossier_id, Flow.operation, Flow.sequence, Flow.revision, Flow.origin, Flow.version,
                   Flow.status, Flow.data, Dossier.told_state, Dossier.traceparent)
            .join(Dossier, Dossier.id == Flow.dossier_id)
            .where(Flow.backfill_job_id == job_id, Flow.backfill_batch == batch, Flow.status == FlowStatus.SENT.value)
        )).all()
        answers = _Answers(runtime, job_id, batch, utcnow())
        for flow in flows:
            result = results.get(str(flow.dossier_id)) or {"status": "rejected", "code": "no_answer", "message": "AGORA gave no result for this file"}
            answers.record(flow, result, report, sources)
        await answers.write(db)  # set-based: one statement per table
        await runtime.outbox.publish_many(db, answers.events)
        job.report = report.as_dict()
        job.pending_batch = None
        job.pending_request_encrypted = None
        job.lease_until = answers.now + timedelta(seconds=settings.backfill_lease_s)


class _Answers:
    """AGORA's answers to one bulk call as rows to update and insert, and events to publish."""

    def __init__(self, runtime: GatewayRuntime, job_id: uuid.UUID, batch: int, now):
        self.runtime, self.job_id, self.batch, self.now = runtime, job_id, batch, now
        self.flows: list[dict] = []
        self.logs: list[dict] = []
        self.acknowledged: list[dict] = []
        self.rejected: list[dict] = []
        self.rejections: list[dict] = []
        self.events: list[tuple] = []

    def record(self, flow, result: dict, report: BackfillReport, sources: dict[str, list]) -> None:
        acknowledged = result.get("status") == "acknowledged"
        action = FlowAction.ACKNOWLEDGE if acknowledged else FlowAction.REJECT
        code, message = str(result.get("code") or "rejected"), str(result.get("message") or "")
        reason = f"bulk batch {self.batch}" if acknowledged else f"{code}: {message}"
        log = FLOW.checked_row(flow.status, action, actor=SYSTEM, at=self.now, reason=reason, flow_id=flow.id)
        target = log["to_status"]
        # ORM bulk UPDATE by primary key: `version` is the one read (checked), bumped by the mapper
        self.flows.append(dict(id=flow.id, status=target, version=flow.version, agora_answer=result, answered_at=self.now,
                               claimed_until=None, updated_at=self.now, rejection_code=None if acknowledged else code,
                               rejection_message=None if acknowledged else message))
        self.logs.append(log)
        if acknowledged:
            file_id, state = result.get("agora_file_id"), result.get("file_state") or flow.told_state
            self.acknowledged.append(dict(id=flow.dossier_id, agora_file_id=file_id, agora_state=state, updated_at=self.now))
            report.acknowledged += 1
            self.events.append((acknowledged_event(flow, file_id, state), str(flow.dossier_id), flow.traceparent))
            return
        # AGORA holds nothing: live events for this file plan from scratch
        self.rejected.append(dict(id=flow.dossier_id, told_state=FileState.NONE.value, nir_told=False, updated_at=self.now))
        report.reject(code)
        self.events.append((rejected_event(flow, code, message), str(flow.dossier_id), flow.traceparent))
        number, text = sources.get(str(flow.dossier_id), [flow.data.get("line_no", 0), ""])
        self.rejections.append(_rejection(self.runtime, self.job_id, number, text, "agora", code, message, str(flow.dossier_id)))

    async def write(self, db) -> None:
        for model, rows in ((Flow, self.flows), (Dossier, self.acknowledged), (Dossier, self.rejected)):
            if rows:
                await db.execute(update(model), rows)  # by primary key, executemany
        for model, rows in ((FlowTransitionLog, self.logs), (BackfillRejection, self.rejections)):
            if rows:
                await db.execute(insert(model), rows)


async def finish_job(runtime: GatewayRuntime, job_id: uuid.UUID) -> None:
    settings = runtime.settings
    async with runtime.db_factory() as db, db.begin():
        job = await db.get(BackfillJob, job_id)
        assert job is not None
        job.status, job.finished_at, job.lease_until = JobStatus.COMPLETED, utcnow(), None
        path = Path(job.file_path)
    if not settings.backfill_keep_files:
        # The export carries NIRs in clear; what operators still need (rejected lines) is kept encrypted.
        await asyncio.to_thread(path.unlink, True)
    log.info("back-fill %s completed", job_id)


async def fail_job(runtime: GatewayRuntime, job_id: uuid.UUID, error: str) -> None:
    settings = runtime.settings
    path = None
    async with runtime.db_factory() as db, db.begin():
        job = await db.get(BackfillJob, job_id)
        if job is not None:
            job.status, job.error, job.finished_at, job.lease_until = JobStatus.FAILED, error, utcnow(), None
            path = Path(job.file_path)
    if path is not None and not settings.backfill_keep_files:
        await asyncio.to_thread(path.unlink, True)  # NIRs in clear: a failed job keeps no copy
    log.error("back-fill %s failed: %s", job_id, error)


async def _renew_lease(runtime: GatewayRuntime, job_id: uuid.UUID) -> None:
    settings = runtime.settings
    async with runtime.db_factory() as db, db.begin():
        job = await db.get(BackfillJob, job_id)
        if job is not None:
            job.lease_until = utcnow() + timedelta(seconds=settings.backfill_lease_s)


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
    """An export as received: where it was written, its digest and size."""

    path: Path
    filename: str
    sha256: str
    size: int


async def receive_export(runtime: GatewayRuntime, job_id: uuid.UUID, file: ExportFile) -> Upload:
    """Streams the upload to disk chunk by chunk: memory stays flat whatever the file's size."""
    settings = runtime.settings
    folder = Path(settings.data_dir) / settings.backfill_dir_name
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    path = folder / f"{job_id}.ndjson"
    digest, size = hashlib.sha256(), 0
    target = await asyncio.to_thread(path.open, "wb")
    try:
        while chunk := await file.read(settings.backfill_upload_chunk_bytes):
            digest.update(chunk)
            await asyncio.to_thread(target.write, chunk)
            size += len(chunk)
    finally:
        await asyncio.to_thread(target.close)
    return Upload(path, (file.filename or "export.ndjson")[:255], digest.hexdigest(), size)


async def start(
    db: AsyncSession,
    runtime: GatewayRuntime,
    principal: Principal,
    file: ExportFile,
    idempotency_key: str | None,
    render: Callable[[BackfillJob], Any],
) -> Answer:
    """A back-fill job queued for an uploaded export (HTTP use case: commits); the answer is
    the job rendered, or the first upload's answer for a replayed Idempotency-Key."""
    job_id = uuid.uuid4()
    upload = await receive_export(runtime, job_id, file)

    async def create():
        job = _new_job(job_id, upload, principal.describe())
        db.add(job)
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
    except Exception:
        await asyncio.to_thread(upload.path.unlink, True)  # the export holds NIRs in clear: never left behind
        raise
    if answer.replayed:
        await asyncio.to_thread(upload.path.unlink, True)  # the first upload's job runs; this copy is not needed
    else:
        runtime.backfill_wakeup.set()
    return answer


def _new_job(job_id: uuid.UUID, upload: Upload, created_by: str) -> BackfillJob:
    return BackfillJob(
        id=job_id,
        status=JobStatus.QUEUED,
        filename=upload.filename,
        file_path=str(upload.path.resolve()),
        sha256=upload.sha256,
        size_bytes=upload.size,
        byte_offset=0,
        line_no=0,
        next_batch=1,
        report=BackfillReport().as_dict(),
        created_by=created_by,
        created_at=utcnow(),
    )


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
