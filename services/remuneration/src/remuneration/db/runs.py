"""Monthly runs: compute every file active in the month page by page, validate, build the batch.

A draft run can be recomputed (its statements are replaced); a validated run is frozen:
late or corrected attendance of a paid month becomes an adjustment in a later run.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from decimal import Decimal

from pacte_common.contracts.people import open_identity
from pacte_common.contracts.remuneration import MonthComputed, PaymentIssued
from pacte_common.crypto import FieldCipher
from pacte_common.db import utcnow
from pacte_common.errors import Conflict, InvalidTransition, NotFound
from pacte_common.service import Runtime
from pacte_common.tracing import adopt_trace, trace_id_of
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

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
from remuneration.domain.formula import (
    ComponentCode,
    Extras,
    MonthStatement,
    adjustment_for,
    advance_amount,
    compute_earned,
    compute_month,
)
from remuneration.domain.money import ZERO, Month, cents, training_days
from remuneration.domain.policy import Policy
from remuneration.domain.regime import Regime
from remuneration.domain.states import (
    RUN_TRANSITIONS,
    FileState,
    IllegalTransition,
    RunState,
    allowed_actions,
    check,
)

log = logging.getLogger(__name__)

IBAN_CONTEXT = "remuneration.iban"
NIR_CONTEXT = "remuneration.nir"


class _History:
    """What validated runs before this month paid a file: balances, advance, each month's earned amount."""

    def __init__(self):
        self.last: Statement | None = None
        self.advance_paid = ZERO
        self.paid_earned: dict[str, Decimal] = defaultdict(lambda: ZERO)
        self.paid_version: dict[str, int] = defaultdict(int)


async def _histories(session: AsyncSession, ids: list[uuid.UUID], month: str) -> dict[uuid.UUID, _History]:
    histories: dict[uuid.UUID, _History] = defaultdict(_History)
    statements = (
        await session.scalars(
            select(Statement).join(Run, Run.month == Statement.run_month)
            .where(Statement.dossier_id.in_(ids), Run.state == RunState.VALIDATED, Statement.run_month < month)
            .order_by(Statement.run_month)
        )
    ).all()
    for statement in statements:
        history = histories[statement.dossier_id]
        history.last = statement
        history.advance_paid += statement.advance_paid
        history.paid_earned[statement.run_month] += statement.earned_amount
        history.paid_version[statement.run_month] = max(history.paid_version[statement.run_month],
                                                         statement.attendance_version)
    adjustments = (
        await session.scalars(
            select(AdjustmentRow).join(Run, Run.month == AdjustmentRow.run_month)
            .where(AdjustmentRow.dossier_id.in_(ids), Run.state == RunState.VALIDATED, AdjustmentRow.run_month < month)
        )
    ).all()
    for adjustment in adjustments:
        history = histories[adjustment.dossier_id]
        history.paid_earned[adjustment.concerned_month] += adjustment.delta
        history.paid_version[adjustment.concerned_month] = max(
            history.paid_version[adjustment.concerned_month], adjustment.attendance_version
        )
    return histories


def _components_json(statement: MonthStatement) -> list[dict]:
    return [
        {"code": c.code.value, "label": c.label, "amount": str(c.amount), "explanation": c.explanation}
        for c in statement.components
    ]


async def compute_run(session: AsyncSession, runtime: Runtime, month: Month, actor: str) -> Run:
    """Computes (or recomputes, while a draft) the run of `month`. The caller commits."""
    key = str(month)
    run = await session.get(Run, key, with_for_update=True)
    state = run.state if run else ""
    try:
        check(RUN_TRANSITIONS, "compute", state, RunState.DRAFT)
    except IllegalTransition as exc:
        raise InvalidTransition("compute", exc.state, exc.allowed,
                                f"The run of {key} is validated: paid history is never rewritten") from None
    later = await session.scalar(select(Run.month).where(Run.month > key, Run.state == RunState.VALIDATED).limit(1))
    if later:
        raise Conflict(f"The run of {later} is already validated; a run for an earlier month cannot be computed")
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
    log_transition(session, "run", key, "compute", state, RunState.DRAFT.value, actor,
                   "recomputed draft" if state else "first computation")
    await session.flush()

    policy = runtime.settings.policy()
    validated_months = set(
        (await session.scalars(select(Run.month).where(Run.state == RunState.VALIDATED, Run.month < key))).all()
    )
    totals = {code.value: ZERO for code in ComponentCode}
    counts = {"computed": 0, "waiting": 0, "lines": 0}
    total_amount = ZERO
    unpaid_aids = select(EmergencyAid.dossier_id).where(EmergencyAid.granted.is_(True), EmergencyAid.paid_in_run.is_(None))
    last_id: uuid.UUID | None = None
    while True:
        query = (
            select(RemunerationFile)
            .where(
                RemunerationFile.state.in_([FileState.OPEN.value, FileState.CLOSED.value, FileState.NOT_ENTITLED.value]),
                RemunerationFile.entry_date <= month.last_day,
                # Files without remuneration are visited only to pay an emergency aid granted to them.
                RemunerationFile.regime.in_([Regime.REGION.value, Regime.UNEMPLOYMENT_INSURANCE.value])
                | RemunerationFile.dossier_id.in_(unpaid_aids),
            )
            .order_by(RemunerationFile.dossier_id)
            .limit(runtime.settings.run_page_size)
        )
        if last_id is not None:
            query = query.where(RemunerationFile.dossier_id > last_id)
        files = (await session.scalars(query)).all()
        if not files:
            break
        ids = [f.dossier_id for f in files]
        interruptions = await interruptions_by_file(session, ids)
        attendance = await latest_attendance(session, ids, key)
        histories = await _histories(session, ids, key)
        aids = defaultdict(list)
        for aid in (
            await session.scalars(
                select(EmergencyAid).where(EmergencyAid.dossier_id.in_(ids), EmergencyAid.granted.is_(True),
                                           EmergencyAid.paid_in_run.is_(None))
            )
        ).all():
            aids[aid.dossier_id].append(aid)
        for file in files:
            statement = _compute_file(session, policy, month, file, interruptions.get(file.dossier_id, []),
                                      attendance, histories[file.dossier_id], aids.get(file.dossier_id, []),
                                      validated_months, run)
            if statement is None:
                continue
            counts["waiting" if statement.status == "waiting" else "computed"] += 1
            if statement.amount > 0:
                counts["lines"] += 1
            total_amount += statement.amount
            for component in statement.components:
                totals[component["code"]] += Decimal(component["amount"])
        await session.flush()
        session.expunge_all()  # keep memory bounded: this page is written, forget it
        last_id = ids[-1]

    run = await session.get(Run, key)
    run.statements_computed, run.statements_waiting = counts["computed"], counts["waiting"]
    run.payment_lines, run.total_amount = counts["lines"], cents(total_amount)
    run.component_totals = {code: str(cents(amount)) for code, amount in totals.items()}
    await session.flush()
    return run


def _compute_file(session, policy: Policy, month: Month, file: RemunerationFile, interruptions, attendance,
                  history: _History, aids: list[EmergencyAid], validated_months: set[str], run: Run) -> Statement | None:
    decision = decision_of(file)
    trainee = trainee_of(file, policy)
    training = training_of(file, interruptions)
    key = str(month)

    adjustments = []
    for paid_month in sorted(validated_months):
        concerned = Month.parse(paid_month)
        if concerned < Month.of(training.entry_date):
            continue
        row = attendance.get((file.dossier_id, paid_month))
        if row is None or row.version <= history.paid_version[paid_month]:
            continue
        if not training_days(concerned, training.entry_date, training.exit_date, training.interruptions):
            continue
        recomputed = compute_earned(concerned, decision, trainee, training, attendance_of(row), policy)
        adjustment = adjustment_for(concerned, recomputed, history.paid_earned[paid_month], row.version)
        adjustments.append((adjustment, recomputed.amount, row.version))

    in_training = decision.paying and bool(
        training_days(month, training.entry_date, training.exit_date, training.interruptions)
    )
    advance, advance_text = ZERO, ""
    if in_training and (file.request_facts or {}).get("advance_wanted") and history.advance_paid == ZERO:
        advance, advance_text = advance_amount(month, decision, trainee, training, policy)
    if not (in_training or adjustments or aids or advance):
        return None

    last = history.last
    extras = Extras(
        advance_outstanding=last.advance_outstanding_after if last else ZERO,
        overpayment_outstanding=last.overpayment_outstanding_after if last else ZERO,
        adjustments=tuple(a for a, _, _ in adjustments),
        emergency_aids=tuple(aid.amount for aid in aids),
        advance_payment=advance,
        advance_explanation=advance_text,
    )
    result = compute_month(month, decision, trainee, training, attendance_of(attendance.get((file.dossier_id, key))),
                           policy, extras)
    statement = Statement(
        id=uuid.uuid4(), run_month=key, dossier_id=file.dossier_id, person_id=file.person_id,
        organisation_siret=file.organisation_siret, status=result.status.value, waiting_reason=result.waiting_reason,
        regime=decision.regime.value, regime_reason=decision.reason, scale_version=result.scale_code,
        inputs=result.inputs, components=_components_json(result), earned_amount=result.earned_amount,
        amount=result.total, advance_paid=result.component(ComponentCode.ADVANCE),
        advance_outstanding_after=result.advance_outstanding_after,
        overpayment_outstanding_after=result.overpayment_outstanding_after,
        attendance_version=result.attendance_version, trace_id=trace_id_of(file.traceparent), created_at=utcnow(),
    )
    session.add(statement)
    for adjustment, recomputed, version in adjustments:
        session.add(AdjustmentRow(run_month=key, statement=statement, dossier_id=file.dossier_id,
                                  concerned_month=adjustment.month, attendance_version=version,
                                  recomputed_amount=recomputed, delta=adjustment.delta,
                                  explanation=adjustment.explanation))
    for aid in aids:
        aid.paid_in_run = key
    return statement


async def validate_run(session: AsyncSession, runtime: Runtime, month: str, actor: str) -> Run:
    """Freezes the draft and publishes month computed / payment issued per statement. The caller commits."""
    run = await session.get(Run, month, with_for_update=True)
    if run is None:
        raise NotFound(f"No run for {month}; compute it first with POST /runs")
    try:
        check(RUN_TRANSITIONS, "validate", run.state, RunState.VALIDATED)
    except IllegalTransition as exc:
        raise InvalidTransition("validate", exc.state, exc.allowed) from None
    now = utcnow()
    run.state, run.validated_at, run.validated_by = RunState.VALIDATED.value, now, actor
    run.version += 1
    log_transition(session, "run", month, "validate", RunState.DRAFT.value, RunState.VALIDATED.value, actor,
                   f"{run.payment_lines} payment lines, total {run.total_amount}")
    last_id = None
    while True:
        query = (
            select(Statement, RemunerationFile.traceparent)
            .join(RemunerationFile, RemunerationFile.dossier_id == Statement.dossier_id)
            .where(Statement.run_month == month).order_by(Statement.id).limit(runtime.settings.run_page_size)
        )
        if last_id is not None:
            query = query.where(Statement.id > last_id)
        page = (await session.execute(query)).all()
        if not page:
            break
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
    await session.flush()
    return run


def run_actions(run: Run) -> list[str]:
    return allowed_actions(RUN_TRANSITIONS, run.state)


async def batch_csv(session: AsyncSession, cipher: FieldCipher, month: str, page_size: int) -> tuple[str, int, Decimal]:
    run = await session.get(Run, month)
    if run is None or run.state != RunState.VALIDATED:
        raise NotFound(f"No validated run for {month}: the batch exists once the run is validated")
    lines: list[BatchLine] = []
    last_id = None
    while True:
        query = (
            select(Statement, RemunerationFile)
            .join(RemunerationFile, RemunerationFile.dossier_id == Statement.dossier_id)
            .where(Statement.run_month == month, Statement.amount > 0)
            .order_by(Statement.dossier_id)
            .limit(page_size)
        )
        if last_id is not None:
            query = query.where(Statement.dossier_id > last_id)
        rows = (await session.execute(query)).all()
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


async def count_statements(session: AsyncSession, month: str) -> int:
    return await session.scalar(select(func.count()).select_from(Statement).where(Statement.run_month == month))
