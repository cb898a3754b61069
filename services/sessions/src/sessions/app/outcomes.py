"""Use cases of post-training outcomes: import, declaration, purge (docs/outcomes.md). The result
indicators are insights', built from the events published here (docs/insights.md).

The only place that commits outcomes. An import is validated whole before anything is
written: a malformed line, or two lines that contradict each other, refuse the whole file
(422 with the per-line report); otherwise every matched line is written in one transaction
with its `trainee.outcome-recorded.v1` event, and unmatched or duplicate lines are reported.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from pacte_common.clock import business_today, utcnow
from pacte_common.contracts.outcomes import (
    Horizon,
    OutcomeSituation,
    OutcomeSource,
)
from pacte_common.errors import Conflict
from pacte_common.schedule import run_on_schedule
from pacte_common.service import INSTANCE_ID, Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.db.models import Dossier, scheduled_jobs
from sessions.db.outcomes import (
    Outcome,
    OutcomeImport,
    delete_outcomes_before,
    delete_reads_before,
    dossiers_by_ids,
    files_for_matching,
    outcomes_of,
)
from sessions.domain.outcomes import (
    ImportLine,
    ImportPlan,
    LineError,
    OutcomeRefused,
    check_declaration,
    parse_line,
    plan_import,
    retention_cutoff,
)
from sessions.events.publish import publish_outcomes

log = logging.getLogger(__name__)


@dataclass
class LineReport:
    line: int
    status: str  # created, updated, unchanged, unmatched, duplicate, malformed, inconsistent
    dossier_id: uuid.UUID | None = None
    horizon_months: int | None = None
    reason: str | None = None


@dataclass
class ImportReport:
    import_id: uuid.UUID | None
    source: str
    dry_run: bool
    lines: list[LineReport] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        statuses = ("created", "updated", "unchanged", "unmatched", "duplicate", "malformed", "inconsistent")
        counts = {status: sum(1 for line in self.lines if line.status == status) for status in statuses}
        counts["matched"] = counts["created"] + counts["updated"] + counts["unchanged"]
        counts["lines"] = len(self.lines)
        return counts


def _report_body(report: ImportReport) -> dict:
    return {
        "counts": report.counts,
        "lines": [{k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in vars(line).items()} for line in report.lines],
    }


def _errors_body(errors: list[LineError]) -> list[dict]:
    return [{"field": f"line[{e.number}].{e.field}" if e.number else e.field, "message": e.message} for e in errors]


class ImportRefused(Conflict):
    """409: lines whose content cannot be imported — a CSV cell that does not read, a NIR whose
    key is wrong, a day observed after today, two lines that contradict each other. The body
    passed its published schema (a JSON schema, or any text for CSV): it is the content that
    is refused, and nothing was written."""

    slug, title = "outcome-import-refused", "The outcome file was refused; nothing was imported"

    def __init__(self, errors: list[LineError], report: ImportReport):
        super().__init__("; ".join(f"line {e.number}: {e.field} {e.message}" for e in errors[:20]),
                         errors=_errors_body(errors), report=_report_body(report))


# ---------------------------------------------------------------- recording one outcome


def apply_outcome(
    db: AsyncSession, dossier: Dossier, existing: Outcome | None, line: ImportLine,
    source: OutcomeSource, actor: str, now: datetime, import_id: uuid.UUID | None = None,
) -> tuple[str, Outcome | None]:
    """Creates or corrects the outcome of a file at a horizon from a source; returns created,
    updated or unchanged (the same facts again change nothing) and the outcome written, whose
    event is built once flushed (the flush sets its version: version_id_col)."""
    if existing is not None and _same(existing, line):
        return "unchanged", None
    if existing is None:
        existing = Outcome(
            id=uuid.uuid4(), dossier_id=dossier.id, person_id=dossier.person_id, horizon_months=int(line.horizon),
            source=source.value,
        )
        db.add(existing)
        status = "created"
    else:
        status = "updated"
    existing.situation = line.situation.value
    existing.observed_on = line.observed_on
    existing.job_related_to_training = line.job_related_to_training
    existing.recorded_by, existing.recorded_at, existing.import_id = actor, now, import_id
    return status, existing


# ---------------------------------------------------------------- import


async def import_outcomes(
    db: AsyncSession, runtime: Runtime, *, raw_lines: list, source: OutcomeSource, media_type: str,
    fingerprint: str, actor: str, today: date, dry_run: bool = False,
) -> ImportReport:
    if not raw_lines:  # an empty CSV (a JSON body has at least one line by its schema)
        raise ImportRefused([LineError(0, "body", "the file has no outcome lines")], ImportReport(None, source.value, dry_run))
    report = ImportReport(import_id=None, source=source.value, dry_run=dry_run)
    parsed = [parse_line(number, raw, lambda nir: runtime.hasher.hash("nir", nir)) for number, raw in enumerate(raw_lines, start=1)]
    lines = [p for p in parsed if isinstance(p, ImportLine)]
    errors = [e for p in parsed if not isinstance(p, ImportLine) for e in p]
    by_id, by_nir = await files_for_matching(db, {x.dossier_id for x in lines if x.dossier_id}, {x.nir_hash for x in lines if x.nir_hash})
    plan = plan_import(lines, by_id, by_nir, today)
    statuses = _skipped_lines(errors, plan)
    if errors or plan.inconsistent:
        report.lines = sorted(statuses.values(), key=lambda r: r.line)
        raise ImportRefused(sorted(errors + plan.inconsistent, key=lambda e: e.number), report)

    dossiers = await dossiers_by_ids(db, [m.file.dossier_id for m in plan.matched])
    existing = await outcomes_of(db, list(dossiers), source.value)
    now = utcnow()
    if not dry_run:
        imported = OutcomeImport(
            id=uuid.uuid4(), source=source.value, media_type=media_type, fingerprint=fingerprint, counts={},
            received_by=actor, received_at=now,
        )
        db.add(imported)
        await db.flush()
        report.import_id = imported.id
    written: list[tuple[Dossier, Outcome]] = []
    for m in plan.matched:
        dossier = dossiers[m.file.dossier_id]
        current = existing.get((dossier.id, int(m.line.horizon), source.value))
        if dry_run:
            status = "created" if current is None else ("unchanged" if _same(current, m.line) else "updated")
        else:
            status, outcome = apply_outcome(db, dossier, current, m.line, source, actor, now, report.import_id)
            if outcome is not None:
                written.append((dossier, outcome))
        statuses[m.line.number] = LineReport(m.line.number, status, dossier.id, int(m.line.horizon))
    report.lines = sorted(statuses.values(), key=lambda r: r.line)
    if not dry_run:
        imported.counts = report.counts
        await _publish(db, runtime, written)
        await db.commit()
    return report


async def _publish(db: AsyncSession, runtime: Runtime, written: list[tuple[Dossier, Outcome]]) -> None:
    """The events of the outcomes written, once flushed (their versions are then set)."""
    if not written:
        return
    await db.flush()
    await publish_outcomes(db, runtime, written)


def _skipped_lines(errors: list[LineError], plan: ImportPlan) -> dict[int, LineReport]:
    """The report of the lines that will not be written: malformed, inconsistent, unmatched, duplicate."""
    statuses: dict[int, LineReport] = {}
    for e in errors:
        statuses.setdefault(e.number, LineReport(e.number, "malformed", reason=f"{e.field}: {e.message}"))
    for e in plan.inconsistent:
        statuses.setdefault(e.number, LineReport(e.number, "inconsistent", reason=f"{e.field}: {e.message}"))
    for m in plan.unmatched:
        statuses[m.line.number] = LineReport(m.line.number, "unmatched", horizon_months=int(m.line.horizon), reason=m.reason)
    for number, first in plan.duplicates:
        statuses[number] = LineReport(number, "duplicate", reason=f"same as line {first}")
    return statuses


def _same(outcome: Outcome, line: ImportLine) -> bool:
    return (OutcomeSituation(outcome.situation), outcome.observed_on, outcome.job_related_to_training) == line.facts()


# ---------------------------------------------------------------- declaration by a training organisation


async def declare_outcome(
    db: AsyncSession, runtime: Runtime, dossier: Dossier, *, horizon: Horizon, situation: OutcomeSituation,
    observed_on: date, job_related_to_training: bool | None, actor: str, today: date,
) -> tuple[str, Outcome]:
    """What a training organisation knows of its own trainee (source: training organisation)."""
    try:
        check_declaration(dossier.exit_date, observed_on, today)
    except OutcomeRefused as refused:  # a well-formed request the file's dates refuse: 409 naming the field
        raise Conflict(refused.message, slug="outcome-date-refused", field=refused.field) from None
    line = ImportLine(0, horizon, situation, observed_on, job_related_to_training, dossier.id)
    source = OutcomeSource.TRAINING_ORGANISATION
    existing = (await outcomes_of(db, [dossier.id], source.value)).get((dossier.id, int(horizon), source.value))
    status, outcome = apply_outcome(db, dossier, existing, line, source, actor, utcnow())
    await _publish(db, runtime, [(dossier, outcome)] if outcome is not None else [])
    await db.commit()
    outcome = (await outcomes_of(db, [dossier.id], source.value))[(dossier.id, int(horizon), source.value)]
    return status, outcome


# ---------------------------------------------------------------- retention


@dataclass(frozen=True)
class PurgeReport:
    cutoff: date
    outcomes_deleted: int
    trajectory_reads_deleted: int


async def purge_expired(db: AsyncSession, runtime: Runtime, today: date) -> PurgeReport:
    """Deletes the outcomes observed before the retention cutoff (insights purges its copy the
    same way) and the archived trajectory reads older than their own period."""
    settings = runtime.settings
    cutoff = retention_cutoff(today, settings.outcome_retention_months)
    audit_cutoff = datetime.combine(retention_cutoff(today, settings.trajectory_audit_retention_months), time.min, tzinfo=UTC)
    report = PurgeReport(cutoff=cutoff, outcomes_deleted=await delete_outcomes_before(db, cutoff),
                         trajectory_reads_deleted=await delete_reads_before(db, audit_cutoff))
    await db.commit()
    return report


async def purge_periodically(runtime: Runtime, stop: asyncio.Event) -> None:
    """Background job: the retention purge every `outcome_purge_interval_hours`, run by one
    instance per interval (the first start runs it at once; a restart does not run it again early)."""

    async def purge() -> str:
        async with runtime.db_factory() as db:
            report = await purge_expired(db, runtime, business_today(runtime.settings.business_timezone))
        return (f"{report.outcomes_deleted} outcomes, {report.trajectory_reads_deleted} archived trajectory reads "
                f"deleted (cutoff {report.cutoff})")

    await run_on_schedule(runtime.db_factory, stop, scheduled_jobs, "retention-purge",
                          runtime.settings.outcome_purge_interval_hours * 3600, purge, instance=INSTANCE_ID)
