"""Monthly runs: compute (a draft, recomputable), validate (frozen, payments issued), the batch file.

The only place that commits a run. Months are paid in order: a month is computed and validated
only once the previous run with statements is validated, and never before a later validated
run; every file's earlier months are reviewed against the facts known now (domain.ledger).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from pacte_common.clock import utcnow
from pacte_common.contracts.people import open_identity
from pacte_common.errors import Conflict, NotFound
from pacte_common.http import check_if_match, etag
from pacte_common.service import Runtime
from pacte_common.state_machine import TransitionRefused
from pacte_common.tracing import trace_id_of
from pacte_common.validators import mask_iban, mask_nir
from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.app import debts
from remuneration.app.files import IBAN_CONTEXT, NIR_CONTEXT
from remuneration.db import debts as debt_queries
from remuneration.db import runs as queries
from remuneration.db.facts import file_facts_digest
from remuneration.db.files import (
    attendance_of,
    decision_of,
    interruptions_by_file,
    latest_attendance,
    trainee_of,
    training_of,
)
from remuneration.db.models import (
    AdjustmentRow,
    AttendanceStatementRow,
    EmergencyAid,
    InterruptionRow,
    RemunerationFile,
    Run,
    Statement,
    TransitionLog,
)
from remuneration.domain.batch import BatchLine, DemandLine, render_batch, render_demands
from remuneration.domain.formula import Attendance, ComponentCode, MonthStatement
from remuneration.domain.ledger import Facts, History, Settlement, settle
from remuneration.domain.money import ZERO, Month, cents
from remuneration.domain.policy import Policy
from remuneration.domain.rates import RATE_LABELS, MissingRate
from remuneration.domain.states import RUN, RunAction, RunState
from remuneration.events import publish

log = logging.getLogger(__name__)

__all__ = ["IBAN_CONTEXT", "NIR_CONTEXT", "MonthsOutOfOrder", "RateMissing", "batch_csv", "compute", "demands_csv",
           "validate"]


class MonthsOutOfOrder(Conflict):
    slug, title = "months-out-of-order", "Months are paid in order"

    def __init__(self, detail: str, **months: str):
        super().__init__(detail, **months)


class RateMissing(Conflict):
    slug, title = "missing-rate", "A rate is missing for this month"

    def __init__(self, month: str, missing: MissingRate):
        super().__init__(
            f"The run of {month} cannot be computed: no {RATE_LABELS.get(missing.rate, missing.rate)} is in force on "
            f"{missing.day.isoformat()}. Add its version (effective dates and source) to the settings; "
            "no other period's figure is used.",
            missing_rate=missing.rate, missing_on=missing.day.isoformat(), month=month,
        )


async def _check_order(db: AsyncSession, month: str, action: str) -> None:
    later = await queries.later_validated_run(db, month)
    if later:
        raise MonthsOutOfOrder(
            f"The run of {later} is already validated: the run of {month} cannot be {action} (months are paid in "
            f"order; facts changed for {month} are paid by the next run as adjustments)", validated_later=later)
    previous = await queries.previous_run_with_statements(db, month)
    if previous is not None and previous.state != RunState.VALIDATED:
        raise MonthsOutOfOrder(
            f"Validate the run of {previous.month} first: the run of {month} cannot be {action} before the previous "
            "month with statements is validated", month_to_do_first=previous.month)


async def compute(db: AsyncSession, runtime: Runtime, month: Month, actor: str) -> Run:
    """Computes (or recomputes, while a draft) the run of `month`, and commits."""
    key = str(month)
    await queries.lock_runs(db)
    run = await db.get(Run, key, with_for_update=True)
    if run is not None:
        _refuse_if_validated(run)
    await _check_order(db, key, "computed")
    await _start_draft(db, run, key, actor)
    try:
        totals = await _compute_files(db, runtime, month)
    except MissingRate as exc:
        raise RateMissing(key, exc) from None
    # The totals belong to the same computation as the draft written above: one version for both.
    await db.execute(update(Run).where(Run.month == key).values(
        statements_computed=totals.computed, statements_waiting=totals.waiting, payment_lines=totals.lines,
        months_reviewed=totals.reviewed,
        total_amount=cents(totals.amount),
        component_totals={code: str(cents(amount)) for code, amount in totals.components.items()},
    ).execution_options(synchronize_session=False))
    await db.commit()
    return await db.get_one(Run, key, populate_existing=True)


def _refuse_if_validated(run: Run) -> None:
    try:
        RUN.step(run.state, RunAction.COMPUTE)
    except TransitionRefused as exc:
        raise TransitionRefused(exc.machine, exc.state, exc.action, exc.allowed,
                                f"The run of {run.month} is validated: paid history is never rewritten") from None


async def _start_draft(db: AsyncSession, run: Run | None, key: str, actor: str) -> None:
    """Creates the draft, or clears the previous draft's statements, adjustments and paid aids."""
    now, based_on = utcnow(), await queries.latest_validated_before(db, key)
    if run is None:
        run = Run(month=key, state=RunState.DRAFT.value, computed_at=now, computed_by=actor, based_on_month=based_on)
        db.add(run)
        RUN.record_creation(db, run, log=TransitionLog, actor=actor, action=RunAction.COMPUTE.value, at=now,
                            reason="first computation", aggregate="run", aggregate_id=key)
    else:
        await db.execute(delete(AdjustmentRow).where(AdjustmentRow.run_month == key))
        await db.execute(delete(Statement).where(Statement.run_month == key))
        await db.execute(update(EmergencyAid).where(EmergencyAid.paid_in_run == key).values(paid_in_run=None))
        run.computed_at, run.computed_by, run.based_on_month = now, actor, based_on
        RUN.move(db, run, RunAction.COMPUTE, log=TransitionLog, actor=actor, at=now, reason="recomputed draft",
                 aggregate="run", aggregate_id=key)
    await db.flush()


class _Totals:
    def __init__(self):
        self.computed = self.waiting = self.lines = self.reviewed = 0
        self.amount = ZERO
        self.components = {code.value: ZERO for code in ComponentCode}

    def add(self, settlement: Settlement) -> None:
        statement = settlement.statement
        if statement.status == "waiting":
            self.waiting += 1
        else:
            self.computed += 1
        self.lines += statement.total > 0
        self.amount += statement.total
        self.reviewed += len(settlement.reviewed_months)
        for component in statement.components:
            self.components[component.code.value] += component.amount


@dataclass(frozen=True)
class _RunContext:
    month: Month
    key: str
    policy: Policy
    timezone: str
    digest: str
    validated: list[str]  # the months of the validated runs before this one


async def _compute_files(db: AsyncSession, runtime: Runtime, month: Month) -> _Totals:
    """Settles every file the run visits, page by page (never every file in memory): the ids to visit read
    once, then per page of ids a few set-based reads by range, the pure rules per file, and one multi-row
    INSERT per table."""
    totals, size = _Totals(), runtime.settings.run_page_size
    ids = list((await db.scalars(queries.files_to_visit(month))).all())
    policy, timezone = runtime.settings.policy(), runtime.settings.business_timezone
    run = _RunContext(month=month, key=str(month), policy=policy, timezone=timezone, digest=policy.digest(timezone),
                      validated=await queries.validated_months_before(db, str(month)))
    after = None
    for start in range(0, len(ids), size):
        page = ids[start:start + size]
        await _compute_page(db, run, (after, page[-1]), set(page), totals)
        after = page[-1]
    return totals


async def _compute_page(db: AsyncSession, run: _RunContext, span: tuple[uuid.UUID | None, uuid.UUID],
                        visit: set[uuid.UUID], totals: _Totals) -> None:
    policy, key, timezone, digest = run.policy, run.key, run.timezone, run.digest
    files = [f for f in (await db.execute(queries.files_in(span))).all() if f.dossier_id in visit]
    interruptions = await interruptions_by_file(db, queries.in_span(InterruptionRow.dossier_id, span))
    attendance = await latest_attendance(db, queries.in_span(AttendanceStatementRow.dossier_id, span), key)
    statements_by_file: dict[uuid.UUID, dict[Month, Attendance]] = defaultdict(dict)
    for (dossier_id, attendance_month), row in attendance.items():
        statements_by_file[dossier_id][Month.parse(attendance_month)] = attendance_of(row)
    # What each statement is computed from, derived from the facts read above (db/facts.py).
    file_facts = {f.dossier_id: file_facts_digest(f, interruptions.get(f.dossier_id, ())) for f in files}
    month_facts = {dossier_id: {str(m): a.version for m, a in months.items()}
                   for dossier_id, months in statements_by_file.items()}
    histories = await queries.histories(db, span, file_facts, key, month_facts, digest, run.validated)
    aids = await queries.unpaid_aids(db, span)
    statement_rows, adjustment_rows, paid_aids = [], [], []
    for file in files:
        if file.regime is None:
            continue  # no entitlement decided yet: nothing can be paid
        facts = Facts(
            decision=decision_of(file), trainee=trainee_of(file, policy),
            training=training_of(file, interruptions.get(file.dossier_id, []), timezone),
            attendance=statements_by_file[file.dossier_id],
            advance_wanted=bool((file.request_facts or {}).get("advance_wanted")),
        )
        file_aids = aids.get(file.dossier_id, [])
        settlement = settle(run.month, facts, histories.get(file.dossier_id, History()), policy,
                            tuple(aid.amount for aid in file_aids))
        if settlement is None:
            continue
        statement = _statement_row(key, file, settlement)
        statement.update(facts_digest=file_facts[file.dossier_id], month_facts=month_facts.get(file.dossier_id, {}),
                         rules_digest=digest)
        statement_rows.append(statement)
        adjustment_rows += _adjustment_rows(key, file.dossier_id, statement["id"], settlement)
        paid_aids += [aid.id for aid in file_aids]
        totals.add(settlement)
    # Core INSERTs (one executemany each): no ORM unit of work, no grouping of rows by the columns they leave empty.
    if statement_rows:
        await db.execute(insert(Statement.__table__), statement_rows)
    if adjustment_rows:
        await db.execute(insert(AdjustmentRow.__table__), adjustment_rows)
    if paid_aids:
        await db.execute(update(EmergencyAid).where(EmergencyAid.id.in_(paid_aids)).values(paid_in_run=key)
                         .execution_options(synchronize_session=False))


def _components_json(statement: MonthStatement) -> list[dict]:
    return [
        {"code": c.code.value, "label": c.label, "amount": str(c.amount), "explanation": c.explanation}
        for c in statement.components
    ]


def _statement_row(key: str, file, settlement: Settlement) -> dict:
    result, debt = settlement.statement, settlement.debt
    return dict(
        id=uuid.uuid4(), run_month=key, dossier_id=file.dossier_id, person_id=file.person_id,
        organisation_siret=file.organisation_siret, status=result.status.value, waiting_reason=result.waiting_reason,
        regime=file.regime, regime_reason=file.regime_reason or "", scale_version=result.scale_code,
        inputs=result.inputs, components=_components_json(result), earned_amount=result.earned_amount,
        amount=result.total, advance_paid=result.component(ComponentCode.ADVANCE),
        advance_outstanding_after=result.advance_outstanding_after,
        overpayment_outstanding_after=result.overpayment_outstanding_after,
        attendance_version=result.attendance_version, trace_id=trace_id_of(file.traceparent), created_at=utcnow(),
        debt_amount=debt.amount if debt else ZERO,
        debt_origin_months=list(debt.origin_months) if debt else None,
        debt_explanation=debt.explanation if debt else None,
        reviewed_months=list(settlement.reviewed_months),
    )


def _adjustment_rows(key: str, dossier_id: uuid.UUID, statement_id: uuid.UUID, settlement: Settlement) -> list[dict]:
    return [dict(
        run_month=key, statement_id=statement_id, dossier_id=dossier_id, concerned_month=review.adjustment.month,
        attendance_version=review.attendance_version, recomputed_amount=review.recomputed.amount,
        delta=review.adjustment.delta, explanation=review.adjustment.explanation, inputs=review.recomputed.inputs,
    ) for review in settlement.reviews]


def _same_validation(if_match: str | None, run: Run) -> bool:
    """A retry of the validation that froze the run: no If-Match, or the version it validated or produced."""
    if if_match is None or if_match.strip() == "*":
        return True
    tags = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    return bool(tags & {etag(run.version), etag(run.version - 1)})


async def validate(db: AsyncSession, runtime: Runtime, month: str, actor: str, if_match: str | None = None) -> Run:
    """Freezes the draft, publishes month computed / payment issued per statement, and commits.

    Validating an already validated run again with the same version is a retry: the same run,
    nothing published twice.
    """
    await queries.lock_runs(db)
    run = await db.get(Run, month, with_for_update=True)
    if run is None:
        raise NotFound(f"No run for {month}; compute it first with POST /runs")
    if run.state == RunState.VALIDATED and _same_validation(if_match, run):
        return run
    check_if_match(if_match, run.version)
    RUN.step(run.state, RunAction.VALIDATE)
    await _check_order(db, month, "validated")
    based_on = await queries.latest_validated_before(db, month)
    if based_on != run.based_on_month:
        raise MonthsOutOfOrder(
            f"The run of {based_on} was validated after this draft of {month} was computed: recompute {month} "
            "(POST /runs) so that what it paid is taken into account, then validate", month_to_do_first=month)
    now = utcnow()
    run.validated_at, run.validated_by = now, actor
    RUN.move(db, run, RunAction.VALIDATE, log=TransitionLog, actor=actor, at=now,
             reason=f"{run.payment_lines} payment lines, total {run.total_amount}", aggregate="run", aggregate_id=month)
    await db.flush()
    await _publish_statements(db, runtime, month, now)
    await debts.open_debts(db, runtime, month, actor, now)
    await db.commit()
    return run


async def _publish_statements(db: AsyncSession, runtime: Runtime, month: str, now) -> None:
    ids, size, after = list((await db.scalars(queries.statement_files(month))).all()), runtime.settings.run_page_size, None
    for start in range(0, len(ids), size):
        span = (after, ids[min(start + size, len(ids)) - 1])
        page = (await db.execute(queries.statements_page(month, span))).all()
        await publish.statements_validated(db, runtime.outbox, page, month, now)
        after = span[1]


@dataclass(frozen=True)
class _Person:
    birth_name: str
    first_names: str
    nir: str
    iban: str


def _person(runtime: Runtime, file: RemunerationFile, reveal: bool) -> _Person:
    """The beneficiary's identity and account; NIR and IBAN in clear only when `reveal` (the paying agency)."""
    cipher = runtime.cipher
    identity = open_identity(cipher, file.identity_encrypted) if file.identity_encrypted else None
    nir = (cipher.decrypt(file.nir_encrypted, context=NIR_CONTEXT) if file.nir_encrypted
           else (identity.nir if identity else None)) or ""
    iban = cipher.decrypt(file.iban_encrypted, context=IBAN_CONTEXT) if file.iban_encrypted else ""
    if not reveal:
        nir, iban = (mask_nir(nir) if nir else ""), (mask_iban(iban) if iban else "")
    return _Person(identity.birth_name if identity else "", identity.first_names if identity else "", nir, iban)


async def _validated_run(db: AsyncSession, month: str, what: str) -> Run:
    run = await db.get(Run, month)
    if run is None or run.state != RunState.VALIDATED:
        raise NotFound(f"No validated run for {month}: the {what} exists once the run is validated")
    return run


async def batch_csv(db: AsyncSession, runtime: Runtime, month: str, reveal: bool) -> tuple[str, int, Decimal]:
    """The paying agency's file of a validated run (read only); NIR and IBAN masked unless `reveal`."""
    await _validated_run(db, month, "batch")
    lines, last_id = [], None
    while True:
        rows = (await db.execute(queries.paid_lines_page(month, last_id, runtime.settings.run_page_size))).all()
        if not rows:
            break
        for statement, file in rows:
            person = _person(runtime, file, reveal)
            lines.append(BatchLine(
                statement_id=str(statement.id), dossier_id=str(statement.dossier_id),
                person_id=str(statement.person_id), birth_name=person.birth_name, first_names=person.first_names,
                nir=person.nir, iban=person.iban, regime=statement.regime, scale_version=statement.scale_version or "",
                components={c["code"]: Decimal(c["amount"]) for c in statement.components},
                amount=statement.amount,
            ))
            db.expunge(statement)
            db.expunge(file)
        last_id = rows[-1][0].dossier_id
    total = sum((line.amount for line in lines), ZERO)
    return render_batch(month, lines), len(lines), total


async def demands_csv(db: AsyncSession, runtime: Runtime, month: str, reveal: bool) -> tuple[str, int, Decimal]:
    """The repayment demands of the debts a validated run opened (read only); masked unless `reveal`."""
    await _validated_run(db, month, "demand file")
    lines = []
    for debt, file in (await db.execute(debt_queries.demand_lines(month))).all():
        person = _person(runtime, file, reveal)
        lines.append(DemandLine(
            debt_id=str(debt.id), dossier_id=str(debt.dossier_id), person_id=str(debt.person_id),
            birth_name=person.birth_name, first_names=person.first_names, nir=person.nir, iban=person.iban,
            origin_months=tuple(debt.origin_months or ()), amount=debt.amount, explanation=debt.explanation,
        ))
    total = sum((line.amount for line in lines), ZERO)
    return render_demands(month, lines), len(lines), total
