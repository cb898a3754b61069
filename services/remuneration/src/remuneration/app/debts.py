"""Use cases of debts: opened by a run's validation, demanded and repaid through the paying
agency, written off by the Region (docs/remuneration.md, "Debts"). Every change is logged and
published; each HTTP use case commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from pacte_common.clock import utcnow
from pacte_common.contracts.remuneration import (
    DebtDemanded,
    DebtOpened,
    DebtRepaymentRecorded,
    DebtWrittenOff,
)
from pacte_common.errors import Conflict, Invalid, NotFound
from pacte_common.http import check_if_match
from pacte_common.service import Runtime
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.db import debts as queries
from remuneration.db.models import Debt, DebtRepayment, TransitionLog
from remuneration.domain.debts import RepaymentRefused, after_repayment
from remuneration.domain.states import DEBT, DebtAction, DebtState
from remuneration.events import publish


def _move(db: AsyncSession, debt: Debt, action: DebtAction, actor: str, reason: str,
          target: DebtState | None = None, at: datetime | None = None) -> None:
    DEBT.move(db, debt, action, log=TransitionLog, actor=actor, reason=reason, target=target, at=at,
              aggregate="debt", aggregate_id=str(debt.id))


async def open_debts(db: AsyncSession, runtime: Runtime, month: str, actor: str, now: datetime) -> int:
    """The debts found by the statements of the run being validated (same transaction, no commit)."""
    opened = 0
    for statement, traceparent in (await db.execute(queries.statements_with_debt(month))).all():
        debt = Debt(
            id=uuid.uuid4(), dossier_id=statement.dossier_id, person_id=statement.person_id,
            organisation_siret=statement.organisation_siret, statement_id=statement.id, run_month=month,
            state=DebtState.OPEN.value, amount=statement.debt_amount, repaid_amount=Decimal("0"),
            written_off_amount=Decimal("0"), origin_months=list(statement.debt_origin_months or []),
            explanation=statement.debt_explanation or "", opened_at=now,
        )
        db.add(debt)
        DEBT.record_creation(db, debt, log=TransitionLog, actor=actor, action=DebtAction.OPEN.value, at=now,
                             reason=debt.explanation, aggregate="debt", aggregate_id=str(debt.id))
        await db.flush()
        await publish.debt_event(db, runtime.outbox, DebtOpened, debt, traceparent, run_month=month,
                                   origin_months=debt.origin_months)
        opened += 1
    return opened


async def _debt_for_update(db: AsyncSession, debt_id: uuid.UUID, if_match: str | None = None) -> Debt:
    debt = await db.get(Debt, debt_id, with_for_update=True, populate_existing=True)
    if debt is None:
        raise NotFound("No such debt")
    check_if_match(if_match, debt.version)
    return debt


async def demand(db: AsyncSession, runtime: Runtime, debt_id: uuid.UUID, *, reference: str, demanded_on: date,
                 actor: str, if_match: str | None = None) -> Debt:
    """The paying agency sent the repayment demand; recording the same demand again changes nothing."""
    debt = await _debt_for_update(db, debt_id, if_match)
    if debt.state == DebtState.DEMANDED and debt.demand_reference == reference:
        return debt
    _move(db, debt, DebtAction.DEMAND, actor, f"repayment demand {reference} sent on {demanded_on.isoformat()}")
    debt.demanded_at, debt.demand_reference = utcnow(), reference
    await db.flush()
    await publish.debt_event(db, runtime.outbox, DebtDemanded, debt, await queries.traceparent_of(db, debt),
                             demanded_on=demanded_on)
    await db.commit()
    return debt


@dataclass(frozen=True)
class Repayment:
    amount: Decimal
    received_on: date
    reference: str


async def record_repayment(db: AsyncSession, runtime: Runtime, debt_id: uuid.UUID, repayment: Repayment,
                           actor: str) -> tuple[Debt, DebtRepayment, bool]:
    """Records a repayment once per reference; (debt, repayment, created)."""
    debt = await _debt_for_update(db, debt_id)
    existing = await db.scalar(select(DebtRepayment).where(DebtRepayment.debt_id == debt.id,
                                                            DebtRepayment.reference == repayment.reference))
    if existing is not None:
        if (existing.amount, existing.received_on) != (repayment.amount, repayment.received_on):
            raise Conflict(f"Repayment {repayment.reference} is already recorded with another amount or date",
                           slug="repayment-reference-reused", field="body.reference")
        return debt, existing, False
    try:
        target = after_repayment(debt.balance, repayment.amount)
    except RepaymentRefused as refused:
        raise Invalid(str(refused), field=refused.field) from None
    _move(db, debt, DebtAction.REPAY, actor,
          f"repayment {repayment.reference} of {repayment.amount:.2f} received on {repayment.received_on.isoformat()}",
          target)
    row = DebtRepayment(id=uuid.uuid4(), debt_id=debt.id, amount=repayment.amount, received_on=repayment.received_on,
                        reference=repayment.reference, recorded_by=actor, recorded_at=utcnow())
    db.add(row)
    debt.repaid_amount += repayment.amount
    await db.flush()
    await publish.debt_event(db, runtime.outbox, DebtRepaymentRecorded, debt, await queries.traceparent_of(db, debt),
                             repayment_id=row.id, repaid=row.amount, received_on=row.received_on)
    await db.commit()
    return debt, row, True


async def write_off(db: AsyncSession, runtime: Runtime, debt_id: uuid.UUID, *, reason: str, actor: str,
                    if_match: str | None = None) -> Debt:
    """The Region gives up recovering what is left, for a reason it states; writing it off again changes nothing."""
    debt = await _debt_for_update(db, debt_id, if_match)
    if debt.state == DebtState.WRITTEN_OFF:
        return debt
    left = debt.balance
    _move(db, debt, DebtAction.WRITE_OFF, actor, reason)
    debt.written_off_amount, debt.write_off_reason = left, reason
    await db.flush()
    await publish.debt_event(db, runtime.outbox, DebtWrittenOff, debt, await queries.traceparent_of(db, debt),
                             written_off=left)
    await db.commit()
    return debt
