"""Monthly runs: compute (a draft, recomputable), validate (frozen, payments issued), the batch file.

The only place that commits a run. Months are paid in order: a month is computed and validated
only once the previous run with statements is validated, and never before a later validated
run; every file's earlier months are reviewed against the facts known now (domain.ledger).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from decimal import Decimal

from pacte_common.contracts.people import open_identity
from pacte_common.contracts.remuneration import MonthComputed, PaymentIssued
from pacte_common.db import utcnow
from pacte_common.errors import Conflict, InvalidTransition, NotFound
from pacte_common.http import check_if_match, etag
from pacte_common.service import Runtime
from pacte_common.tracing import adopt_trace, trace_id_of
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.db import runs as queries
from remuneration.db.files import (
    attendance_of,
    decision_of,
    interruptions_by_file,
    latest_attendance,
    log_transition,
    trainee_of,
    training_of,
)
from remuneration.db.models import AdjustmentRow, EmergencyAid, RemunerationFile, Run, Statement
from remuneration.domain.batch import BatchLine, render_batch
from remuneration.domain.formula import Attendance, ComponentCode, MonthStatement
from remuneration.domain.ledger import Facts, History, Settlement, settle
from remuneration.domain.money import ZERO, Month, cents
from remuneration.domain.rates import RATE_LABELS, MissingRate
from remuneration.domain.states import RUN_TRANSITIONS, IllegalTransition, RunState, check

log = logging.getLogger(__name__)

IBAN_CONTEXT = "remuneration.iban"
NIR_CONTEXT = "remuneration.nir"


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


async def _check_order(session: AsyncSession, month: str, action: str) -> None:
    later = await queries.later_validated_run(session, month)
    if later:
        raise MonthsOutOfOrder(
            f"The run of {later} is already validated: the run of {month} cannot be {action} (months are paid in "
            f"order; facts changed for {month} are paid by the next run as adjustments)", validated_later=later)
    previous = await queries.previous_run_with_statements(session, month)
    if previous is not None and previous.state != RunState.VALIDATED:
        raise MonthsOutOfOrder(
            f"Validate the run of {previous.month} first: the run of {month} cannot be {action} before the previous "
            "month with statements is validated", month_to_do_first=previous.month)


async def compute(session: AsyncSession, runtime: Runtime, month: Month, actor: str) -> Run:
    """Computes (or recomputes, while a draft) the run of `month`, and commits."""
    key = str(month)
    await queries.lock_runs(session)
    run = await session.get(Run, key, with_for_update=True)
    state = run.state if run else ""
    try:
        check(RUN_TRANSITIONS, "compute", state, RunState.DRAFT)
    except IllegalTransition as exc:
        raise InvalidTransition("compute", exc.state, exc.allowed,
                                f"The run of {key} is validated: paid history is never rewritten") from None
    await _check_order(session, key, "computed")
    now = utcnow()
    if run:
        await session.execute(delete(AdjustmentRow).where(AdjustmentRow.run_month == key))
        await session.execute(delete(Statement).where(Statement.run_month == key))
        await session.execute(update(EmergencyAid).where(EmergencyAid.paid_in_run == key).values(paid_in_run=None))
        run.version += 1
        run.computed_at, run.computed_by = now, actor
    else:
        run = Run(month=key, state=RunState.DRAFT.value, version=1, computed_at=now, computed_by=actor)
        session.add(run)
    run.based_on_month = await queries.latest_validated_before(session, key)
    log_transition(session, "run", key, "compute", state, RunState.DRAFT.value, actor,
                   "recomputed draft" if state else "first computation")
    await session.flush()
    try:
        totals = await _compute_files(session, runtime, month)
    except MissingRate as exc:
        raise RateMissing(key, exc) from None
    run = await session.get(Run, key)
    run.statements_computed, run.statements_waiting = totals.computed, totals.waiting
    run.payment_lines, run.total_amount = totals.lines, cents(totals.amount)
    run.component_totals = {code: str(cents(amount)) for code, amount in totals.components.items()}
    await session.commit()
    return run


class _Totals:
    def __init__(self):
        self.computed = self.waiting = self.lines = 0
        self.amount = ZERO
        self.components = {code.value: ZERO for code in ComponentCode}

    def add(self, statement: MonthStatement) -> None:
        if statement.status == "waiting":
            self.waiting += 1
        else:
            self.computed += 1
        self.lines += statement.total > 0
        self.amount += statement.total
        for component in statement.components:
            self.components[component.code.value] += component.amount


async def _compute_files(session: AsyncSession, runtime: Runtime, month: Month) -> _Totals:
    """Settles every file the run visits, page by page (never every file in memory)."""
    policy, key, totals = runtime.settings.policy(), str(month), _Totals()
    timezone = runtime.settings.business_timezone
    last_id: uuid.UUID | None = None
    while True:
        files = (await session.scalars(queries.files_to_visit(month, last_id, runtime.settings.run_page_size))).all()
        if not files:
            return totals
        ids = [f.dossier_id for f in files]
        interruptions = await interruptions_by_file(session, ids)
        attendance = await latest_attendance(session, ids, key)
        histories = await queries.histories(session, ids, key)
        aids = await queries.unpaid_aids(session, ids)
        statements_by_file: dict[uuid.UUID, dict[Month, Attendance]] = defaultdict(dict)
        for (dossier_id, attendance_month), row in attendance.items():
            statements_by_file[dossier_id][Month.parse(attendance_month)] = attendance_of(row)
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
            settlement = settle(month, facts, histories.get(file.dossier_id, History()), policy,
                                tuple(aid.amount for aid in file_aids))
            if settlement is None:
                continue
            _store(session, key, file, settlement)
            for aid in file_aids:
                aid.paid_in_run = key
            totals.add(settlement.statement)
        await session.flush()
        session.expunge_all()  # keep memory bounded: this page is written, forget it
        last_id = ids[-1]


def _components_json(statement: MonthStatement) -> list[dict]:
    return [
        {"code": c.code.value, "label": c.label, "amount": str(c.amount), "explanation": c.explanation}
        for c in statement.components
    ]


def _store(session: AsyncSession, key: str, file: RemunerationFile, settlement: Settlement) -> None:
    result = settlement.statement
    statement = Statement(
        id=uuid.uuid4(), run_month=key, dossier_id=file.dossier_id, person_id=file.person_id,
        organisation_siret=file.organisation_siret, status=result.status.value, waiting_reason=result.waiting_reason,
        regime=file.regime, regime_reason=file.regime_reason or "", scale_version=result.scale_code,
        inputs=result.inputs, components=_components_json(result), earned_amount=result.earned_amount,
        amount=result.total, advance_paid=result.component(ComponentCode.ADVANCE),
        advance_outstanding_after=result.advance_outstanding_after,
        overpayment_outstanding_after=result.overpayment_outstanding_after,
        attendance_version=result.attendance_version, trace_id=trace_id_of(file.traceparent), created_at=utcnow(),
    )
    session.add(statement)
    for review in settlement.reviews:
        session.add(AdjustmentRow(
            run_month=key, statement=statement, dossier_id=file.dossier_id, concerned_month=review.adjustment.month,
            attendance_version=review.attendance_version, recomputed_amount=review.recomputed.amount,
            delta=review.adjustment.delta, explanation=review.adjustment.explanation, inputs=review.recomputed.inputs,
        ))


def _same_validation(if_match: str | None, run: Run) -> bool:
    """A retry of the validation that froze the run: no If-Match, or the version it validated or produced."""
    if if_match is None or if_match.strip() == "*":
        return True
    tags = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    return bool(tags & {etag(run.version), etag(run.version - 1)})


async def validate(session: AsyncSession, runtime: Runtime, month: str, actor: str, if_match: str | None = None) -> Run:
    """Freezes the draft, publishes month computed / payment issued per statement, and commits.

    Validating an already validated run again with the same version is a retry: the same run,
    nothing published twice.
    """
    await queries.lock_runs(session)
    run = await session.get(Run, month, with_for_update=True)
    if run is None:
        raise NotFound(f"No run for {month}; compute it first with POST /runs")
    if run.state == RunState.VALIDATED and _same_validation(if_match, run):
        return run
    check_if_match(if_match, run.version)
    try:
        check(RUN_TRANSITIONS, "validate", run.state, RunState.VALIDATED)
    except IllegalTransition as exc:
        raise InvalidTransition("validate", exc.state, exc.allowed) from None
    await _check_order(session, month, "validated")
    based_on = await queries.latest_validated_before(session, month)
    if based_on != run.based_on_month:
        raise MonthsOutOfOrder(
            f"The run of {based_on} was validated after this draft of {month} was computed: recompute {month} "
            "(POST /runs) so that what it paid is taken into account, then validate", month_to_do_first=month)
    now = utcnow()
    run.state, run.validated_at, run.validated_by = RunState.VALIDATED.value, now, actor
    run.version += 1
    log_transition(session, "run", month, "validate", RunState.DRAFT.value, RunState.VALIDATED.value, actor,
                   f"{run.payment_lines} payment lines, total {run.total_amount}")
    await _publish_statements(session, runtime, month, now)
    await session.commit()
    return run


async def _publish_statements(session: AsyncSession, runtime: Runtime, month: str, now) -> None:
    last_id = None
    while True:
        page = (await session.execute(queries.statements_page(month, last_id, runtime.settings.run_page_size))).all()
        if not page:
            return
        for statement, traceparent in page:
            components = {c["code"]: Decimal(c["amount"]) for c in statement.components}
            common = dict(dossier_id=statement.dossier_id, person_id=statement.person_id, occurred_at=now,
                          month=month, statement_id=statement.id, components=components)
            with adopt_trace(traceparent):  # the file's journey trace, not the validating call's
                await runtime.outbox.publish(session, MonthComputed(
                    status=statement.status, regime=statement.regime, scale_version=statement.scale_version,
                    earned_amount=statement.earned_amount, amount=statement.amount, **common,
                ), key=str(statement.dossier_id))
                if statement.amount > 0:
                    await runtime.outbox.publish(session, PaymentIssued(amount=statement.amount, **common),
                                                 key=str(statement.dossier_id))
            session.expunge(statement)
        last_id = page[-1][0].id


async def batch_csv(session: AsyncSession, runtime: Runtime, month: str) -> tuple[str, int, Decimal]:
    """The paying agency's file of a validated run (read only)."""
    run = await session.get(Run, month)
    if run is None or run.state != RunState.VALIDATED:
        raise NotFound(f"No validated run for {month}: the batch exists once the run is validated")
    cipher, lines, last_id = runtime.cipher, [], None
    while True:
        rows = (await session.execute(queries.paid_lines_page(month, last_id, runtime.settings.run_page_size))).all()
        if not rows:
            break
        for statement, file in rows:
            identity = open_identity(cipher, file.identity_encrypted) if file.identity_encrypted else None
            nir = (cipher.decrypt(file.nir_encrypted, context=NIR_CONTEXT) if file.nir_encrypted
                   else (identity.nir if identity else None)) or ""
            lines.append(BatchLine(
                statement_id=str(statement.id), dossier_id=str(statement.dossier_id),
                person_id=str(statement.person_id), birth_name=identity.birth_name if identity else "",
                first_names=identity.first_names if identity else "", nir=nir,
                iban=cipher.decrypt(file.iban_encrypted, context=IBAN_CONTEXT) if file.iban_encrypted else "",
                regime=statement.regime, scale_version=statement.scale_version or "",
                components={c["code"]: Decimal(c["amount"]) for c in statement.components},
                amount=statement.amount,
            ))
            session.expunge(statement)
            session.expunge(file)
        last_id = rows[-1][0].dossier_id
    total = sum((line.amount for line in lines), ZERO)
    return render_batch(month, lines), len(lines), total
