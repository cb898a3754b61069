"""Turns stored files, aids, runs, statements and debts into response bodies (docs/developing.md,
"Rendering and access rules")."""

from __future__ import annotations

from decimal import Decimal

from pacte_common.tracing import trace_id_of
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.api.schemas import (
    AdjustmentOut,
    ComponentOut,
    DebtOut,
    DebtSummary,
    DebtTransitionOut,
    EmergencyAidOut,
    FileOut,
    RepaymentOut,
    RequestView,
    RunOut,
    StatementOut,
)
from remuneration.db import debts
from remuneration.db import runs as queries
from remuneration.db.models import Debt, EmergencyAid, RemunerationFile, Run, Statement
from remuneration.domain.regime import REGIME_LABELS, Regime
from remuneration.domain.states import (
    DEBT,
    DEBT_STATE_LABELS,
    FILE_STATE_LABELS,
    RUN,
    RUN_STATE_LABELS,
    DebtState,
    FileState,
    RunState,
)


def aid_out(aid: EmergencyAid) -> EmergencyAidOut:
    return EmergencyAidOut(
        id=aid.id, dossier_id=aid.dossier_id, decision="granted" if aid.granted else "refused",
        reason_code=aid.reason_code, reason=aid.reason, amount=aid.amount, household_size=aid.household_size,
        monthly_resources=aid.monthly_resources, paid_in_run=aid.paid_in_run, created_at=aid.created_at,
    )


def file_out(file: RemunerationFile) -> FileOut:
    request = None
    if file.request_id:
        request = RequestView(
            request_id=file.request_id, filed_at=file.request_filed_at, filed_by=file.request_filed_by,
            facts=file.request_facts, iban_masked=file.iban_masked,
            nir_masked=file.request_facts.get("nir_masked"),
        )
    return FileOut(
        dossier_id=file.dossier_id, person_id=file.person_id, organisation_siret=file.organisation_siret,
        state=file.state, state_label=FILE_STATE_LABELS[FileState(file.state)], regime=file.regime,
        regime_label=REGIME_LABELS[Regime(file.regime)] if file.regime else None, regime_reason=file.regime_reason,
        differential_eligible=file.differential_eligible, entry_date=file.entry_date, exit_date=file.exit_date,
        programme_code=file.programme_code, request=request, trace_id=trace_id_of(file.traceparent),
        france_travail_benefit=(file.france_travail_answer or {}).get("unemployment_benefit"),
        version=file.version,
    )


def debt_summary_out(debt: Debt) -> DebtSummary:
    return DebtSummary(id=debt.id, state=debt.state, state_label=DEBT_STATE_LABELS[DebtState(debt.state)],
                       amount=debt.amount, balance=debt.balance, url=f"/debts/{debt.id}")


def run_out(run: Run) -> RunOut:
    return RunOut(
        month=run.month, state=run.state, state_label=RUN_STATE_LABELS[RunState(run.state)], version=run.version,
        computed_at=run.computed_at, computed_by=run.computed_by, validated_at=run.validated_at,
        validated_by=run.validated_by, statements_computed=run.statements_computed,
        statements_waiting=run.statements_waiting, payment_lines=run.payment_lines,
        months_reviewed=run.months_reviewed, total_amount=run.total_amount,
        component_totals={k: Decimal(v) for k, v in (run.component_totals or {}).items()},
        allowed_actions=[a.value for a in RUN.allowed_actions(run.state)],
        statements_url=f"/statements?month={run.month}",
        waiting_url=f"/statements?month={run.month}&status=waiting",
        batch_url=f"/batches/{run.month}" if run.state == RunState.VALIDATED else None,
    )


async def statement_out(db: AsyncSession, statement: Statement, run_state: str) -> StatementOut:
    adjustments = await queries.adjustments_of(db, statement.id)
    return StatementOut(
        id=statement.id, month=statement.run_month, run_state=run_state, dossier_id=statement.dossier_id,
        person_id=statement.person_id, status=statement.status, waiting_reason=statement.waiting_reason,
        regime=statement.regime, regime_label=REGIME_LABELS[Regime(statement.regime)],
        regime_reason=statement.regime_reason, scale_version=statement.scale_version, inputs=statement.inputs,
        components=[ComponentOut(**c) for c in statement.components], earned_amount=statement.earned_amount,
        amount=statement.amount, advance_outstanding_after=statement.advance_outstanding_after,
        overpayment_outstanding_after=statement.overpayment_outstanding_after,
        adjustments=[AdjustmentOut(concerned_month=a.concerned_month, attendance_version=a.attendance_version,
                                   recomputed_amount=a.recomputed_amount, delta=a.delta, explanation=a.explanation)
                     for a in adjustments],
        reviewed_months=statement.reviewed_months or [], trace_id=statement.trace_id,
    )


def debt_out(debt: Debt, repayments=(), history=()) -> DebtOut:
    return DebtOut(
        id=debt.id, dossier_id=debt.dossier_id, person_id=debt.person_id, organisation_siret=debt.organisation_siret,
        run_month=debt.run_month, state=debt.state, state_label=DEBT_STATE_LABELS[DebtState(debt.state)],
        amount=debt.amount, repaid_amount=debt.repaid_amount, written_off_amount=debt.written_off_amount,
        balance=debt.balance, origin_months=debt.origin_months or [], explanation=debt.explanation,
        opened_at=debt.opened_at, demanded_at=debt.demanded_at, demand_reference=debt.demand_reference,
        write_off_reason=debt.write_off_reason, allowed_actions=[a.value for a in DEBT.allowed_actions(debt.state)],
        repayments=[RepaymentOut(id=r.id, amount=r.amount, received_on=r.received_on, reference=r.reference,
                                 recorded_by=r.recorded_by, recorded_at=r.recorded_at) for r in repayments],
        history=[DebtTransitionOut(action=t.action, from_state=t.from_status, to_state=t.to_status, actor=t.actor,
                                   at=t.at, reason=t.reason) for t in history],
        version=debt.version,
    )


async def debt_detail_out(db: AsyncSession, debt: Debt) -> DebtOut:
    """The debt with its repayments and its history."""
    return debt_out(debt, await debts.repayments_of(db, debt.id), await debts.history_of(db, debt.id))
