"""Queries of debts: the statements a validation turns into debts, the lists, a file's balance, the demand file.

No publishing and no commit here: the use cases (remuneration.app.debts) own the transaction.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.db.models import Debt, DebtRepayment, RemunerationFile, Statement, TransitionLog
from remuneration.domain.money import ZERO
from remuneration.domain.states import DebtState

OWED_STATES = (DebtState.OPEN.value, DebtState.DEMANDED.value, DebtState.PARTLY_REPAID.value)


def statements_with_debt(month: str):
    return (
        select(Statement, RemunerationFile.traceparent)
        .join(RemunerationFile, RemunerationFile.dossier_id == Statement.dossier_id)
        .where(Statement.run_month == month, Statement.debt_amount > 0)
        .order_by(Statement.dossier_id)
    )


async def traceparent_of(db: AsyncSession, debt: Debt) -> str | None:
    return await db.scalar(select(RemunerationFile.traceparent).where(RemunerationFile.dossier_id == debt.dossier_id))


def debts_query(*, state: str | None, dossier_id: uuid.UUID | None, run_month: str | None):
    query = select(Debt)
    if state:
        query = query.where(Debt.state == state)
    if dossier_id:
        query = query.where(Debt.dossier_id == dossier_id)
    if run_month:
        query = query.where(Debt.run_month == run_month)
    return query


async def repayments_of(db: AsyncSession, debt_id: uuid.UUID) -> list[DebtRepayment]:
    return list((await db.scalars(
        select(DebtRepayment).where(DebtRepayment.debt_id == debt_id).order_by(DebtRepayment.received_on,
                                                                                DebtRepayment.recorded_at)
    )).all())


async def history_of(db: AsyncSession, debt_id: uuid.UUID) -> list[TransitionLog]:
    return list((await db.scalars(
        select(TransitionLog).where(TransitionLog.aggregate == "debt", TransitionLog.aggregate_id == str(debt_id))
        .order_by(TransitionLog.id)
    )).all())


async def debts_of_file(db: AsyncSession, dossier_id: uuid.UUID) -> list[Debt]:
    return list((await db.scalars(select(Debt).where(Debt.dossier_id == dossier_id).order_by(Debt.opened_at))).all())


async def owed_total(db: AsyncSession) -> tuple[int, Decimal]:
    """How many debts are still owed and their balance, over every file."""
    count, total = (await db.execute(
        select(func.count(), func.coalesce(func.sum(Debt.amount - Debt.repaid_amount - Debt.written_off_amount), 0))
        .where(Debt.state.in_(OWED_STATES))
    )).one()
    return count, Decimal(total or ZERO)


def demand_lines(month: str):
    """The debts a validated run opened, with their file (for the repayment demand file)."""
    return (
        select(Debt, RemunerationFile)
        .join(RemunerationFile, RemunerationFile.dossier_id == Debt.dossier_id)
        .where(Debt.run_month == month)
        .order_by(Debt.dossier_id)
    )
