"""Queries of monthly runs: the files a run visits, what validated runs paid them, the batch lines.

No publishing and no commit here: the use cases (remuneration.app.runs) own the transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.db.facts import FILE_FACTS
from remuneration.db.models import AdjustmentRow, EmergencyAid, RemunerationFile, Run, Statement
from remuneration.domain.ledger import History, PaidMonth
from remuneration.domain.money import ZERO, Month
from remuneration.domain.regime import Regime
from remuneration.domain.states import FileState, RunState

# pg_advisory_xact_lock key serialising computations and validations of runs (any value unique to this use).
RUNS_LOCK_KEY = 0x52454D5255  # "REMRU"


async def lock_runs(db: AsyncSession) -> None:
    """One run computed or validated at a time (PostgreSQL); SQLite already has a single writer."""
    if db.bind.dialect.name == "postgresql":
        await db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": RUNS_LOCK_KEY})


async def later_validated_run(db: AsyncSession, month: str) -> str | None:
    return await db.scalar(
        select(Run.month).where(Run.month > month, Run.state == RunState.VALIDATED).order_by(Run.month).limit(1)
    )


async def previous_run_with_statements(db: AsyncSession, month: str) -> Run | None:
    return await db.scalar(
        select(Run).where(Run.month < month, (Run.statements_computed + Run.statements_waiting) > 0)
        .order_by(Run.month.desc()).limit(1)
    )


async def latest_validated_before(db: AsyncSession, month: str) -> str | None:
    return await db.scalar(
        select(Run.month).where(Run.month < month, Run.state == RunState.VALIDATED).order_by(Run.month.desc()).limit(1)
    )


# What a run reads of each file it visits (rows, not entities: the run only reads them): the identifiers
# a statement copies, and the facts pay depends on (db/facts.py, FILE_FACTS: nothing else may be read).
_RUN_FILE = tuple(getattr(RemunerationFile, name) for name in (
    "dossier_id", "person_id", "organisation_siret", "traceparent", *FILE_FACTS))


def files_to_visit(month: Month, after: uuid.UUID | None, limit: int):
    """Files a run of `month` looks at: paying files entered by then, files with an unpaid emergency
    aid, and any file validated runs paid before (its paid months are reviewed against new facts)."""
    key = str(month)
    unpaid_aids = select(EmergencyAid.dossier_id).where(EmergencyAid.granted.is_(True), EmergencyAid.paid_in_run.is_(None))
    paid_before = (
        select(Statement.dossier_id).join(Run, Run.month == Statement.run_month)
        .where(Run.state == RunState.VALIDATED, Statement.run_month < key)
    )
    query = (
        select(*_RUN_FILE)
        .where(
            RemunerationFile.entry_date <= month.last_day,
            (RemunerationFile.state.in_([FileState.OPEN.value, FileState.CLOSED.value, FileState.NOT_ENTITLED.value])
             & RemunerationFile.regime.in_([Regime.REGION.value, Regime.UNEMPLOYMENT_INSURANCE.value]))
            | RemunerationFile.dossier_id.in_(unpaid_aids)
            | RemunerationFile.dossier_id.in_(paid_before),
        )
        .order_by(RemunerationFile.dossier_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(RemunerationFile.dossier_id > after)
    return query


def _settled(latest, file_facts: str, months_now: dict[str, int], digest: str) -> tuple[Month | None, frozenset[Month]]:
    """What the latest validated statement settled that is still true: the months up to its run, under
    the same file facts and rules, except those whose own facts changed since (docs/remuneration.md)."""
    if latest is None or latest.month_facts is None or latest.facts_digest != file_facts \
            or latest.rules_digest != digest:
        return None, frozenset()
    through = Month.parse(latest.run_month)
    then = latest.month_facts
    changed = frozenset(Month.parse(m) for m in {*then, *months_now}
                        if Month.parse(m) <= through and then.get(m, 0) != months_now.get(m, 0))
    return through, changed


_PAID_STATEMENT = (Statement.dossier_id, Statement.run_month, Statement.earned_amount, Statement.inputs,
                   Statement.advance_paid, Statement.advance_outstanding_after, Statement.overpayment_outstanding_after,
                   Statement.debt_amount, Statement.facts_digest, Statement.month_facts, Statement.rules_digest)


async def histories(db: AsyncSession, files: dict[uuid.UUID, str], month: str, month_versions: dict[uuid.UUID, dict[str, int]],
                    digest: str) -> dict[uuid.UUID, History]:
    """What validated runs before `month` paid each file (by id, with its facts digest now): each month's
    earned amount and facts, balances, and the months settled since under the same facts."""
    ids = list(files)
    statements = (await db.execute(
        select(*_PAID_STATEMENT).join(Run, Run.month == Statement.run_month)
        .where(Statement.dossier_id.in_(ids), Run.state == RunState.VALIDATED, Statement.run_month < month)
        .order_by(Statement.run_month)
    )).all()
    adjustments = (await db.execute(
        select(AdjustmentRow.dossier_id, AdjustmentRow.run_month, AdjustmentRow.concerned_month, AdjustmentRow.delta,
               AdjustmentRow.inputs).join(Run, Run.month == AdjustmentRow.run_month)
        .where(AdjustmentRow.dossier_id.in_(ids), Run.state == RunState.VALIDATED, AdjustmentRow.run_month < month)
        .order_by(AdjustmentRow.run_month, AdjustmentRow.id)
    )).all()
    # (run month, amount delta, inputs) per concerned month, in run order: the last inputs are the ones paid.
    entries: dict[uuid.UUID, dict[str, list[tuple[str, Decimal, dict]]]] = defaultdict(lambda: defaultdict(list))
    last: dict = {}
    advance: dict[uuid.UUID, Decimal] = defaultdict(lambda: ZERO)
    for statement in statements:
        entries[statement.dossier_id][statement.run_month].append(
            (statement.run_month, statement.earned_amount, statement.inputs or {})
        )
        last[statement.dossier_id] = statement
        advance[statement.dossier_id] += statement.advance_paid
    # A debt settles what was owed: only months recomputed downwards after the file's last debt explain what is owed now.
    last_debt: dict[uuid.UUID, str] = {s.dossier_id: s.run_month for s in statements if s.debt_amount > 0}
    overpaid: dict[uuid.UUID, set[str]] = defaultdict(set)
    for adjustment in adjustments:
        entries[adjustment.dossier_id][adjustment.concerned_month].append(
            (adjustment.run_month, adjustment.delta, adjustment.inputs or {})
        )
        if adjustment.delta < 0 and adjustment.run_month > last_debt.get(adjustment.dossier_id, ""):
            overpaid[adjustment.dossier_id].add(adjustment.concerned_month)
    result = {}
    for dossier_id in ids:
        paid = {}
        for concerned, items in entries.get(dossier_id, {}).items():
            items.sort(key=lambda item: item[0])
            paid[Month.parse(concerned)] = PaidMonth(sum((i[1] for i in items), ZERO), items[-1][2])
        latest = last.get(dossier_id)
        through, changed = _settled(latest, files[dossier_id], month_versions.get(dossier_id, {}), digest)
        result[dossier_id] = History(
            paid=paid, advance_paid=advance[dossier_id],
            advance_outstanding=latest.advance_outstanding_after if latest else ZERO,
            overpayment_outstanding=latest.overpayment_outstanding_after if latest else ZERO,
            overpaid_months=tuple(sorted(overpaid[dossier_id])), settled_through=through, changed_months=changed,
        )
    return result


async def unpaid_aids(db: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, list]:
    """(id, dossier_id, amount) of each granted aid not paid yet, by file."""
    grouped: dict[uuid.UUID, list] = defaultdict(list)
    rows = await db.execute(
        select(EmergencyAid.id, EmergencyAid.dossier_id, EmergencyAid.amount)
        .where(EmergencyAid.dossier_id.in_(ids), EmergencyAid.granted.is_(True), EmergencyAid.paid_in_run.is_(None))
    )
    for aid in rows.all():
        grouped[aid.dossier_id].append(aid)
    return grouped


def statements_page(month: str, after: uuid.UUID | None, limit: int):
    """What the events of a validated run's statements carry, with the file's trace."""
    query = (
        select(Statement.id, Statement.dossier_id, Statement.person_id, Statement.components, Statement.status,
               Statement.regime, Statement.scale_version, Statement.earned_amount, Statement.amount,
               RemunerationFile.traceparent)
        .join(RemunerationFile, RemunerationFile.dossier_id == Statement.dossier_id)
        .where(Statement.run_month == month).order_by(Statement.id).limit(limit)
    )
    return query.where(Statement.id > after) if after is not None else query


def paid_lines_page(month: str, after: uuid.UUID | None, limit: int):
    query = (
        select(Statement, RemunerationFile)
        .join(RemunerationFile, RemunerationFile.dossier_id == Statement.dossier_id)
        .where(Statement.run_month == month, Statement.amount > 0)
        .order_by(Statement.dossier_id)
        .limit(limit)
    )
    return query.where(Statement.dossier_id > after) if after is not None else query


def statements_query(*, month: str | None, dossier_id: uuid.UUID | None, status: str | None, siret: str | None):
    """Statements with their run's state, filtered (a training organisation sees its own only)."""
    query = select(Statement, Run.state).join(Run, Run.month == Statement.run_month)
    if month:
        query = query.where(Statement.run_month == month)
    if dossier_id:
        query = query.where(Statement.dossier_id == dossier_id)
    if status:
        query = query.where(Statement.status == status)
    if siret is not None:
        query = query.where(Statement.organisation_siret == siret)
    return query


async def statement_with_run_state(db: AsyncSession, statement_id: uuid.UUID):
    return (await db.execute(
        select(Statement, Run.state).join(Run, Run.month == Statement.run_month).where(Statement.id == statement_id)
    )).first()


async def adjustments_of(db: AsyncSession, statement_id: uuid.UUID) -> list[AdjustmentRow]:
    return list((await db.scalars(
        select(AdjustmentRow).where(AdjustmentRow.statement_id == statement_id).order_by(AdjustmentRow.concerned_month)
    )).all())
