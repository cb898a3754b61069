"""Queries of monthly runs: the files a run visits, what validated runs paid them, the batch lines.

No publishing and no commit here: the use cases (remuneration.app.runs) own the transaction.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import Text, cast, exists, select, text
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


def files_to_visit(month: Month):
    """The ids of the files a run of `month` looks at, in order: paying files entered by then, files with
    an unpaid emergency aid, and any file validated runs paid before (its paid months are reviewed against
    new facts). Read once per run; each page then reads its files by a range of ids (`files_in`), so no
    page scans the whole table again (the run stays linear in the files)."""
    key = str(month)
    # Correlated EXISTS (an index look-up by file, only for files the first condition leaves out), not IN
    # (subquery): a hashed IN needs the whole subquery in memory, and past it PostgreSQL rescans it per file.
    unpaid_aid = exists().where(EmergencyAid.dossier_id == RemunerationFile.dossier_id, EmergencyAid.granted.is_(True),
                                EmergencyAid.paid_in_run.is_(None))
    paid_before = exists().where(
        Statement.dossier_id == RemunerationFile.dossier_id, Statement.run_month < key,
        Statement.run_month.in_(select(Run.month).where(Run.state == RunState.VALIDATED).scalar_subquery()),
    )
    return (
        select(RemunerationFile.dossier_id)
        .where(
            RemunerationFile.entry_date <= month.last_day,
            (RemunerationFile.state.in_([FileState.OPEN.value, FileState.CLOSED.value, FileState.NOT_ENTITLED.value])
             & RemunerationFile.regime.in_([Regime.REGION.value, Regime.UNEMPLOYMENT_INSURANCE.value]))
            | unpaid_aid | paid_before,
        )
        .order_by(RemunerationFile.dossier_id)
    )


def in_span(column, span: tuple[uuid.UUID | None, uuid.UUID]):
    """`column` within a page's ids: after the previous page's last id (None: from the first), up to its own last.

    Pages are ranges, not lists of ids: every table a page reads is then read by an index range, whatever
    the planner's statistics say about the rows a run has just written."""
    after, last = span
    return (column <= last) if after is None else ((column > after) & (column <= last))


def files_in(span: tuple[uuid.UUID | None, uuid.UUID]):
    return select(*_RUN_FILE).where(in_span(RemunerationFile.dossier_id, span))


async def unpaid_aids(db: AsyncSession, span: tuple[uuid.UUID | None, uuid.UUID]) -> dict[uuid.UUID, list]:
    """(id, dossier_id, amount) of each granted aid not paid yet, by file."""
    grouped: dict[uuid.UUID, list] = defaultdict(list)
    rows = await db.execute(
        select(EmergencyAid.id, EmergencyAid.dossier_id, EmergencyAid.amount)
        .where(in_span(EmergencyAid.dossier_id, span), EmergencyAid.granted.is_(True), EmergencyAid.paid_in_run.is_(None))
    )
    for aid in rows.all():
        grouped[aid.dossier_id].append(aid)
    return grouped


async def validated_months_before(db: AsyncSession, month: str) -> list[str]:
    return list((await db.scalars(
        select(Run.month).where(Run.month < month, Run.state == RunState.VALIDATED).order_by(Run.month)
    )).all())


def _settled(latest, file_facts: str, months_now: dict[str, int], digest: str) -> tuple[Month | None, frozenset[Month]]:
    """What the latest validated statement settled that is still true: the months up to its run, under
    the same file facts and rules, except those whose own facts changed since (docs/remuneration.md)."""
    if latest is None or latest.month_facts is None or latest.facts_digest != file_facts \
            or latest.rules_digest != digest:
        return None, frozenset()
    then = json.loads(latest.month_facts)  # the latest statement's only: read as text, decoded here
    if then is None:
        return None, frozenset()
    through = Month.parse(latest.run_month)
    changed = frozenset(Month.parse(m) for m in {*then, *months_now}
                        if Month.parse(m) <= through and then.get(m, 0) != months_now.get(m, 0))
    return through, changed


# What every validated statement of a page's files says (no JSON decoded: the latest statement's month facts
# are decoded only for the file's latest statement).
_PAID_STATEMENT = (Statement.dossier_id, Statement.run_month, Statement.advance_paid, Statement.advance_outstanding_after,
                   Statement.overpayment_outstanding_after, Statement.debt_amount, Statement.facts_digest,
                   cast(Statement.month_facts, Text).label("month_facts"), Statement.rules_digest)
# Past this many files needing their paid months, a page reads them for its whole range of ids.
_FEW = 50


async def histories(db: AsyncSession, span: tuple[uuid.UUID | None, uuid.UUID], files: dict[uuid.UUID, str], month: str,
                    month_versions: dict[uuid.UUID, dict[str, int]], digest: str,
                    validated: list[str]) -> dict[uuid.UUID, History]:
    """What validated runs before `month` paid each file of a page (by id, with its facts digest now): balances,
    the months settled since under the same facts, and each month's earned amount and facts where a month
    will be reviewed (a file whose months are all settled needs none: its paid months are left unread)."""
    ids = list(files)
    if not validated:
        return {dossier_id: History() for dossier_id in ids}
    statements = (await db.execute(
        select(*_PAID_STATEMENT).where(in_span(Statement.dossier_id, span), Statement.run_month.in_(validated))
    )).all()
    adjustments = (await db.execute(
        select(AdjustmentRow.dossier_id, AdjustmentRow.run_month, AdjustmentRow.concerned_month, AdjustmentRow.delta,
               AdjustmentRow.inputs)
        .where(in_span(AdjustmentRow.dossier_id, span), AdjustmentRow.run_month.in_(validated))
        .order_by(AdjustmentRow.run_month, AdjustmentRow.id)
    )).all()
    last: dict = {}
    advance: dict[uuid.UUID, Decimal] = defaultdict(lambda: ZERO)
    last_debt: dict[uuid.UUID, str] = {}
    for statement in statements:
        dossier_id = statement.dossier_id
        if dossier_id not in last or statement.run_month > last[dossier_id].run_month:
            last[dossier_id] = statement
        advance[dossier_id] += statement.advance_paid
        # A debt settles what was owed: only months recomputed downwards after the file's last debt explain what is owed now.
        if statement.debt_amount > 0 and statement.run_month > last_debt.get(dossier_id, ""):
            last_debt[dossier_id] = statement.run_month
    settled = {dossier_id: _settled(last.get(dossier_id), files[dossier_id], month_versions.get(dossier_id, {}), digest)
               for dossier_id in ids}
    # Every paid month is at most the latest statement's: a file whose months are all settled reviews none of them.
    needing = [dossier_id for dossier_id in ids
               if dossier_id in last and (settled[dossier_id][0] is None or settled[dossier_id][1])]
    # (run month, amount delta, inputs) per concerned month, in run order: the last inputs are the ones paid.
    entries: dict[uuid.UUID, dict[str, list[tuple[str, Decimal, dict]]]] = defaultdict(lambda: defaultdict(list))
    if needing:
        wanted = set(needing)
        where = Statement.dossier_id.in_(needing) if len(needing) <= _FEW else in_span(Statement.dossier_id, span)
        for row in (await db.execute(
            select(Statement.dossier_id, Statement.run_month, Statement.earned_amount, Statement.inputs)
            .where(where, Statement.run_month.in_(validated))
        )).all():
            if row.dossier_id in wanted:
                entries[row.dossier_id][row.run_month].append((row.run_month, row.earned_amount, row.inputs or {}))
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
        through, changed = settled[dossier_id]
        result[dossier_id] = History(
            paid=paid, advance_paid=advance[dossier_id],
            advance_outstanding=latest.advance_outstanding_after if latest else ZERO,
            overpayment_outstanding=latest.overpayment_outstanding_after if latest else ZERO,
            overpaid_months=tuple(sorted(overpaid[dossier_id])), settled_through=through, changed_months=changed,
        )
    return result


def statement_files(month: str):
    """The files of a run's statements, in order: read once, so each page of its events is an index range."""
    return select(Statement.dossier_id).where(Statement.run_month == month).order_by(Statement.dossier_id)


def statements_page(month: str, span: tuple[uuid.UUID | None, uuid.UUID]):
    """What the events of a validated run's statements carry, with the file's trace, for a range of files
    (bounded on both sides: an index range of (run month, file), whatever the statistics say)."""
    return (
        select(Statement.id, Statement.dossier_id, Statement.person_id, Statement.components, Statement.status,
               Statement.regime, Statement.scale_version, Statement.earned_amount, Statement.amount,
               RemunerationFile.traceparent)
        .join(RemunerationFile, RemunerationFile.dossier_id == Statement.dossier_id)
        .where(Statement.run_month == month, in_span(Statement.dossier_id, span)).order_by(Statement.dossier_id)
    )


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
