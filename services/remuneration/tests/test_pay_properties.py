"""The money of a file over many runs: generated histories of entries, interruptions, exits,
cancellations, regime and profile changes and attendance corrections arriving late; after the
runs, what each month was paid equals the month recomputed from the final facts, no statement
is negative, the advance is paid at most once, every statement adds up.

First on the pure rules (domain.ledger), many histories; then through the real use cases
(event handlers and app.runs) on the real database, with random validation orders.

Default (CI): derandomized and bounded. PACTE_PROPERTY_SCALE=10 runs ten times as many
examples (thousands of histories); PACTE_PROPERTY_RANDOM=1 draws new ones at each run.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pacte_common import db as pacte_db
from pacte_common.clock import utcnow
from pacte_common.crypto import FieldCipher, LookupHasher
from pacte_common.errors import InvalidTransition, NotFound
from pacte_common.http import etag
from pacte_common.messaging import Outbox
from pacte_common.service import Runtime
from pacte_common.state_machine import TransitionRefused
from pacte_testing.remuneration import IBAN, FileSpec, SessionsStandIn
from prometheus_client import CollectorRegistry
from remuneration.app import debts as app_debts
from remuneration.app import files as app_files
from remuneration.app import runs as app_runs
from remuneration.app.runs import IBAN_CONTEXT, MonthsOutOfOrder, RateMissing
from remuneration.db.debts import debts_of_file
from remuneration.db.models import (
    AdjustmentRow,
    Base,
    Debt,
    RemunerationFile,
    Run,
    Statement,
    messaging,
)
from remuneration.domain.formula import (
    Attendance,
    ComponentCode,
    Trainee,
    Training,
    compute_earned,
    waiting_reason,
)
from remuneration.domain.ledger import Facts, History, PaidMonth, settle
from remuneration.domain.money import CENT, ZERO, Interruption, Month
from remuneration.domain.policy import Policy
from remuneration.domain.regime import Regime, RegimeDecision
from remuneration.events.handlers import SUBSCRIPTIONS
from remuneration.main import MIGRATIONS
from remuneration.settings import RemunerationSettings
from sqlalchemy import select

SCALE = float(os.environ.get("PACTE_PROPERTY_SCALE", "1"))
RANDOM = os.environ.get("PACTE_PROPERTY_RANDOM") == "1"


def bounded(examples: int, suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large)) -> settings:
    # The database test resets its tables at each example: the function-scoped database is meant to be shared.
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, derandomize=not RANDOM,
                    suppress_health_check=list(suppress_health_check))


FIRST_MONTH = Month(2021, 1)


def month_at(step: int) -> Month:
    month = FIRST_MONTH
    for _ in range(step):
        month = month.next()
    return month


@dataclass(frozen=True)
class Fact:
    """One fact reaching remuneration before the run of step `step` (in the order drawn)."""

    step: int
    kind: str  # attendance | interruption | resumption | exit | cancel | regime | profile
    month: Month | None = None
    planned: D = D("0")
    unjustified: D = D("0")
    day: date | None = None
    flag: bool = False


@dataclass(frozen=True)
class FileHistory:
    entry: date
    unemployment_benefit: bool
    daily_benefit: D
    birth_date: date
    single_parent: bool
    transport: bool
    advance: bool
    tension_sector: bool
    weekly_hours: D
    facts: tuple[Fact, ...] = field(default=())


def _day_in(month: Month, draw) -> date:
    return month.first_day + timedelta(draw(st.integers(0, month.days - 1)))


@st.composite
def file_histories(draw, steps: int) -> FileHistory:
    """A file entering in the first months, then facts arriving in any order over `steps` runs."""
    entry_month = month_at(draw(st.integers(0, 2)))
    entry = _day_in(entry_month, draw)
    on_benefit = draw(st.booleans())
    facts: list[Fact] = []
    versions: dict[Month, int] = {}
    for _ in range(draw(st.integers(0, 9))):
        step = draw(st.integers(0, steps))
        kind = draw(st.sampled_from(["attendance", "attendance", "attendance", "interruption", "exit", "cancel",
                                     "regime", "profile"]))
        if kind == "attendance":
            month = month_at(draw(st.integers(0, max(0, step - 1)))) if step else entry_month
            planned = D(draw(st.integers(0, 160)))
            unjustified = D(draw(st.integers(0, int(planned))))
            versions[month] = versions.get(month, 0) + 1
            facts.append(Fact(step, kind, month, planned, unjustified))
        elif kind == "interruption":
            start = _day_in(month_at(draw(st.integers(0, steps))), draw)
            resumed = draw(st.none() | st.integers(1, 70))
            facts.append(Fact(step, kind, day=start))
            if resumed is not None:
                facts.append(Fact(draw(st.integers(step, steps)), "resumption", day=start + timedelta(resumed)))
        elif kind == "exit":
            facts.append(Fact(step, kind, day=entry + timedelta(draw(st.integers(0, 31 * steps)))))
        elif kind == "cancel":
            facts.append(Fact(step, kind))
        else:
            facts.append(Fact(step, kind, flag=draw(st.booleans())))
    # Attendance of every month, received at the end at the latest (some as corrections).
    for step in range(steps):
        if draw(st.integers(0, 3)):
            facts.append(Fact(steps, "attendance", month_at(step), D(140), D(draw(st.integers(0, 20)))))
    return FileHistory(
        entry=entry, unemployment_benefit=on_benefit,
        daily_benefit=D(draw(st.integers(500, 4500))) / 100 if on_benefit else D("0"),
        birth_date=draw(st.dates(min_value=date(1960, 1, 1), max_value=date(2004, 12, 31))),
        single_parent=draw(st.booleans()), transport=draw(st.booleans()), advance=draw(st.booleans()),
        tension_sector=draw(st.booleans()), weekly_hours=D(draw(st.sampled_from([35, 28, 21, 17]))),
        facts=tuple(sorted(facts, key=lambda f: f.step)),
    )

POLICY = Policy()
STEPS = 7
REGION = RegimeDecision(Regime.REGION, "approved programme")
UI = RegimeDecision(Regime.UNEMPLOYMENT_INSURANCE, "on benefit", differential_eligible=True)


class FileModel:
    """The facts as the remuneration service would hold them after each delivered fact."""

    def __init__(self, history: FileHistory):
        self.h = history
        self.on_benefit = history.unemployment_benefit
        self.single_parent = history.single_parent
        self.exit = None
        self.cancelled = False
        self.interruptions: list[Interruption] = []
        self.attendance = {}

    def apply(self, fact) -> None:
        if fact.kind == "attendance":
            version = self.attendance[fact.month].version + 1 if fact.month in self.attendance else 1
            self.attendance[fact.month] = Attendance(fact.planned, fact.unjustified, version)
        elif fact.kind == "interruption":
            self.interruptions.append(Interruption(fact.day))
        elif fact.kind == "resumption":
            for i, interruption in enumerate(self.interruptions):
                if interruption.resumption_date is None and interruption.start_date < fact.day:
                    self.interruptions[i] = replace(interruption, resumption_date=fact.day)
                    break
        elif fact.kind == "exit":
            self.exit = fact.day
        elif fact.kind == "cancel":
            self.cancelled = True
        elif fact.kind == "regime":
            self.on_benefit = fact.flag
        elif fact.kind == "profile":
            self.single_parent = fact.flag

    def facts(self) -> Facts:
        h = self.h
        return Facts(
            decision=UI if self.on_benefit else REGION,
            trainee=Trainee(birth_date=h.birth_date, single_parent=self.single_parent,
                            daily_benefit=h.daily_benefit if self.on_benefit else None,
                            transport_allowance=h.transport),
            training=Training(entry_date=h.entry, exit_date=self.exit, interruptions=tuple(self.interruptions),
                              weekly_hours=h.weekly_hours, tension_sector=h.tension_sector, cancelled=self.cancelled),
            attendance=dict(self.attendance), advance_wanted=h.advance,
        )


def fold(past: History, settlement) -> History:
    """The validated past after one more validated statement (as db.runs.histories reads it)."""
    statement = settlement.statement
    paid = dict(past.paid)
    for review in settlement.reviews:
        before = paid.get(review.recomputed.month)
        paid[review.recomputed.month] = PaidMonth((before.amount if before else ZERO) + review.adjustment.delta,
                                                  review.recomputed.inputs)
    paid[statement.month] = PaidMonth(statement.earned_amount, statement.inputs)
    overpaid = () if settlement.debt else tuple(sorted({*past.overpaid_months, *(
        r.adjustment.month for r in settlement.reviews if r.adjustment.delta < 0)}))
    return History(paid=paid, advance_paid=past.advance_paid + statement.component(ComponentCode.ADVANCE),
                   advance_outstanding=statement.advance_outstanding_after,
                   overpayment_outstanding=statement.overpayment_outstanding_after, overpaid_months=overpaid)


def run_history(history: FileHistory, aids_at: frozenset[int]):
    """Runs every month in order (plus a closing month), folding each statement into the validated past."""
    model, past, statements, debts = FileModel(history), History(), [], []
    facts = list(history.facts)
    for step in range(STEPS + 1):
        while facts and facts[0].step <= step:
            model.apply(facts.pop(0))
        aids = (D("250.00"),) if step in aids_at else ()
        settlement = settle(month_at(step), model.facts(), past, POLICY, aids)
        if settlement is None:
            continue
        statements.append(settlement.statement)
        if settlement.debt:
            debts.append(settlement.debt)
        past = fold(past, settlement)
    return model.facts(), past, statements, debts


def final_earned(facts: Facts):
    """Each month recomputed from the final facts (a month still waiting for its facts counts 0)."""
    earned = {}
    for step in range(STEPS + 1):
        month = month_at(step)
        attendance = facts.attendance.get(month)
        if waiting_reason(month, facts.decision, facts.trainee, facts.training, attendance) is None:
            earned[month] = compute_earned(month, facts.decision, facts.trainee, facts.training, attendance,
                                           POLICY).amount
    return earned


@bounded(600)
@given(file_histories(STEPS), st.frozensets(st.integers(0, STEPS), max_size=2))
def test_what_is_paid_equals_the_months_recomputed_from_the_final_facts(history, aids_at):
    facts, past, statements, debts = run_history(history, aids_at)
    for statement in statements:
        assert statement.total >= 0, statement
        assert statement.total == sum(c.amount for c in statement.components)
        assert all(c.amount == c.amount.quantize(CENT) for c in statement.components)
        assert statement.advance_outstanding_after >= 0 and statement.overpayment_outstanding_after >= 0
    assert sum(1 for s in statements if s.component(ComponentCode.ADVANCE) > 0) <= 1, "advance paid at most once"
    earned = final_earned(facts)
    for month, paid in past.paid.items():
        assert paid.amount == earned.get(month, ZERO), (month, paid, earned.get(month))
    aids = sum((s.component(ComponentCode.EMERGENCY_AID) for s in statements), ZERO)
    paid_total = sum((s.total for s in statements), ZERO)
    owed = past.advance_outstanding + past.overpayment_outstanding
    owed_back = sum((d.amount for d in debts), ZERO)
    assert paid_total - owed - owed_back == sum(earned.values(), ZERO) + aids
    # Nothing owed is left carried over once the training is over: it is a debt, named and explained.
    if facts.training.cancelled or (facts.training.exit_date and facts.training.exit_date <= month_at(STEPS).last_day):
        assert owed == ZERO, (owed, debts)
    for debt in debts:
        assert debt.amount > 0 and debt.amount == debt.overpayment + debt.advance and "owed back" in debt.explanation


@bounded(100)
@given(file_histories(STEPS))
def test_every_adjustment_says_which_month_was_recomputed_and_why(history):
    model, past = FileModel(history), History()
    facts = list(history.facts)
    for step in range(STEPS + 1):
        while facts and facts[0].step <= step:
            model.apply(facts.pop(0))
        settlement = settle(month_at(step), model.facts(), past, POLICY)
        if settlement is None:
            continue
        for review in settlement.reviews:
            text = review.adjustment.explanation
            assert text.startswith(f"{review.adjustment.month} recomputed: ") and "already paid" in text
        past = fold(past, settlement)


# ---------------------------------------------------------------- through the use cases and the database


class PayService:
    """The remuneration service without HTTP or broker: its handlers and use cases on a real database."""

    def __init__(self, settings: RemunerationSettings):
        self.settings = settings
        self.engine = pacte_db.create_engine(settings.database_url)
        factory = pacte_db.session_factory(self.engine)
        self.runtime = Runtime(
            settings=settings, engine=self.engine, db_factory=factory, tables=messaging,
            outbox=Outbox(messaging, source="/pacte/remuneration", bus=settings.bus),
            cipher=FieldCipher(settings.encryption_keys, settings.encryption_key_id),
            hasher=LookupHasher(settings.lookup_hash_key), registry=CollectorRegistry(),
        )
        self.handlers = {event_type: handler for s in SUBSCRIPTIONS for event_type, handler in s.handlers.items()}
        self.sessions = SessionsStandIn(settings, deliver=self.deliver)

    async def deliver(self, envelope) -> None:
        """What the consumer does with one event: the handler inside one transaction."""
        async with self.runtime.db_factory() as db:
            await self.handlers[type(envelope.data)](db, self.runtime, envelope)
            await db.commit()

    async def reset(self) -> None:
        async with self.engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(table.delete())

    async def file_request(self, dossier_id, facts: dict) -> None:
        async with self.runtime.db_factory() as db:
            file = await db.get(RemunerationFile, dossier_id, with_for_update=True)
            file.request_id, file.request_facts = uuid.uuid4(), facts
            file.iban_encrypted = self.runtime.cipher.encrypt(IBAN, context=IBAN_CONTEXT)
            file.iban_masked, file.request_filed_at, file.request_filed_by = "FR76…0189", utcnow(), "test"
            await app_files.move_file(db, self.runtime.outbox, self.settings.policy(), file, "file_request", "test")
            await db.commit()

    async def amend(self, dossier_id, changes: dict) -> None:
        async with self.runtime.db_factory() as db:
            file = await db.get(RemunerationFile, dossier_id, with_for_update=True)
            if file.state != "cancelled":
                await app_files.amend_request(db, self.runtime, file, changes, "test")

    async def compute(self, month: Month):
        async with self.runtime.db_factory() as db:
            return await app_runs.compute(db, self.runtime, month, "region:test")

    async def validate(self, month: Month, if_match: str | None = None):
        async with self.runtime.db_factory() as db:
            return await app_runs.validate(db, self.runtime, str(month), "region:test", if_match)


async def deliver_facts(service: PayService, dossier, history: FileHistory, facts: list[Fact], model: FileModel,
                        interruption_ids: list) -> None:
    sessions = service.sessions
    for fact in facts:
        model.apply(fact)
        if fact.kind == "attendance":
            await sessions.attendance(dossier, str(fact.month), fact.planned, fact.unjustified,
                                      version=model.attendance[fact.month].version)
        elif fact.kind == "interruption":
            interruption_ids.append(await sessions.interrupt(dossier, fact.day))
        elif fact.kind == "resumption":
            # The model resumed the first open interruption that started before the day, if any.
            for interruption, interruption_id in zip(model.interruptions, interruption_ids, strict=True):
                if interruption.resumption_date == fact.day and interruption_id is not None:
                    await sessions.resume(dossier, interruption_id, fact.day)
                    interruption_ids[interruption_ids.index(interruption_id)] = None  # resumed once
                    break
        elif fact.kind == "exit":
            await sessions.exit(dossier, fact.day)
        elif fact.kind == "cancel":
            await sessions.cancel(dossier)
        elif fact.kind == "regime":
            await service.amend(dossier, {"unemployment_benefit": fact.flag,
                                          "unemployment_daily_amount": str(history.daily_benefit) if fact.flag else None})
        elif fact.kind == "profile":
            await service.amend(dossier, {"single_parent": fact.flag})


async def try_out_of_order(service: PayService, data, step: int) -> None:
    """Compute or validate a random month: either it is allowed, or refused with a 409 that says why."""
    for _ in range(data.draw(st.integers(0, 2), label="attempts")):
        month = month_at(data.draw(st.integers(0, DB_STEPS), label="month tried"))
        action = data.draw(st.sampled_from(["compute", "validate"]), label="action")
        try:
            await (service.compute(month) if action == "compute" else service.validate(month))
        except NotFound:
            assert action == "validate"
        except (MonthsOutOfOrder, RateMissing) as refused:
            assert refused.status == 409 and refused.body()["detail"]
        except TransitionRefused as refused:  # answered 409 invalid-transition by the shared error handler
            problem = InvalidTransition(refused.action, refused.state, refused.allowed, refused.why)
            assert problem.status == 409 and problem.body()["detail"] and refused.state == "validated"


async def pay_in_order(service: PayService, last: int) -> None:
    """Every month up to `last` computed and validated in order, where the order still allows it."""
    for step in range(last + 1):
        month = month_at(step)
        try:
            run = await service.compute(month)
        except MonthsOutOfOrder as refused:
            assert "validated_later" in refused.extensions, refused.detail  # a later month was validated
            continue
        except TransitionRefused:
            continue  # already validated
        validated = await service.validate(month, etag(run.version))
        again = await service.validate(month, etag(run.version))  # a retry: same run, nothing issued twice
        assert (again.version, again.state, again.total_amount) == (validated.version, "validated", validated.total_amount)


async def paid_history(service: PayService, dossier_id):
    async with service.runtime.db_factory() as db:
        statements = (await db.scalars(
            select(Statement).join(Run, Run.month == Statement.run_month)
            .where(Statement.dossier_id == dossier_id, Run.state == "validated").order_by(Statement.run_month)
        )).all()
        adjustments = (await db.scalars(
            select(AdjustmentRow).join(Run, Run.month == AdjustmentRow.run_month)
            .where(AdjustmentRow.dossier_id == dossier_id, Run.state == "validated")
        )).all()
    return statements, adjustments


async def settle_some_debts(service: PayService, dossier_id, data) -> list[Debt]:
    """The paying agency repays part or all of some debts, the Region writes some off; the file's debts after."""
    async with service.runtime.db_factory() as db:
        ids = [d.id for d in await debts_of_file(db, dossier_id)]
    for debt_id in ids:
        action = data.draw(st.sampled_from(["none", "part", "all", "write_off", "part_then_write_off"]), label="debt")
        async with service.runtime.db_factory() as db:
            balance = (await db.get(Debt, debt_id)).balance
            if action in ("part", "part_then_write_off") and balance > CENT:
                part = (balance / 3).quantize(CENT)
                await app_debts.record_repayment(db, service.runtime, debt_id,
                                                 app_debts.Repayment(part, date(2022, 1, 5), "R1"), "paying_agency:ASP")
            elif action == "all":
                await app_debts.record_repayment(db, service.runtime, debt_id,
                                                 app_debts.Repayment(balance, date(2022, 1, 5), "R1"), "paying_agency:ASP")
        if action in ("write_off", "part_then_write_off"):
            async with service.runtime.db_factory() as db:
                await app_debts.write_off(db, service.runtime, debt_id, reason="deceased", actor="region:test")
    async with service.runtime.db_factory() as db:
        return await debts_of_file(db, dossier_id)


async def scenario(url: str, histories: list[FileHistory], data) -> None:
    service = PayService(SETTINGS.model_copy(update={"database_url": url}))
    try:
        await service.reset()
        dossiers, models, interruption_ids = [], [], []
        for history in histories:
            dossier = await service.sessions.enrol(FileSpec(
                birth_date=history.birth_date, unemployment_benefit=history.unemployment_benefit,
                unemployment_daily_amount=history.daily_benefit if history.unemployment_benefit else None,
                tension_sector=history.tension_sector, weekly_hours=history.weekly_hours))
            await service.sessions.enter(dossier, history.entry)
            await service.file_request(dossier, {
                "unemployment_benefit": history.unemployment_benefit,
                "unemployment_daily_amount": str(history.daily_benefit) if history.unemployment_benefit else None,
                "single_parent": history.single_parent, "first_time_jobseeker": False, "registered_jobseeker": True,
                "prior_work_months_last_12": 0, "disabled_worker": False, "transport_allowance": history.transport,
                "advance_wanted": history.advance,
            })
            dossiers.append(dossier)
            models.append(FileModel(history))
            interruption_ids.append([])
        for step in range(DB_STEPS + 1):
            for dossier, history, model, ids in zip(dossiers, histories, models, interruption_ids, strict=True):
                await deliver_facts(service, dossier, history, [f for f in history.facts if f.step == step], model, ids)
            await try_out_of_order(service, data, step)
            await pay_in_order(service, step)
        await pay_in_order(service, DB_STEPS + 1)  # the closing run: every change reviewed

        for dossier, model in zip(dossiers, models, strict=True):
            statements, adjustments = await paid_history(service, dossier)
            check_file(model, statements, adjustments, await settle_some_debts(service, dossier, data))
    finally:
        await service.engine.dispose()


def check_file(model: FileModel, statements, adjustments, debts) -> None:
    for statement in statements:
        amounts = [D(c["amount"]) for c in statement.components]
        assert statement.amount >= 0 and statement.amount == sum(amounts), statement.components
    assert sum(1 for s in statements if s.advance_paid > 0) <= 1, "advance paid at most once"
    facts = model.facts()
    earned = {}
    for step in range(DB_STEPS + 2):
        month = month_at(step)
        attendance = facts.attendance.get(month)
        if waiting_reason(month, facts.decision, facts.trainee, facts.training, attendance) is None:
            earned[str(month)] = compute_earned(month, facts.decision, facts.trainee, facts.training, attendance,
                                                POLICY).amount
    paid: dict[str, D] = {}
    for statement in statements:
        paid[statement.run_month] = paid.get(statement.run_month, ZERO) + statement.earned_amount
    for adjustment in adjustments:
        assert adjustment.explanation.startswith(f"{adjustment.concerned_month} recomputed: ")
        paid[adjustment.concerned_month] = paid.get(adjustment.concerned_month, ZERO) + adjustment.delta
    for month, amount in paid.items():
        assert amount == earned.get(month, ZERO), (month, amount, earned.get(month))
    last = statements[-1] if statements else None
    owed = (last.advance_outstanding_after + last.overpayment_outstanding_after) if last else ZERO
    # No debt is lost: each statement that found money owed back once the training was over opened one debt of it.
    assert sorted((d.statement_id, d.amount) for d in debts) == sorted(
        (s.id, s.debt_amount) for s in statements if s.debt_amount > 0)
    repaid = sum((d.repaid_amount for d in debts), ZERO)
    written_off = sum((d.written_off_amount for d in debts), ZERO)
    open_debt = sum((d.balance for d in debts), ZERO)
    assert all(d.balance >= 0 for d in debts)
    assert (sum((s.amount for s in statements), ZERO) - repaid - owed - open_debt - written_off
            == sum(earned.values(), ZERO))
    if facts.training.cancelled or (facts.training.exit_date and statements
                                    and facts.training.exit_date <= Month.parse(last.run_month).last_day):
        assert owed == ZERO, "once the training is over, what is owed is a debt, not carried over"


SETTINGS = RemunerationSettings(environment="development", run_background_tasks=False, run_page_size=2)
DB_STEPS = 5  # months of facts and runs per generated history through the database (each run a few transactions)


@pytest.fixture
def migrated(database_url):
    asyncio.run(pacte_db.migrate(database_url, MIGRATIONS))
    return database_url


@bounded(8, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(file_histories(DB_STEPS), min_size=1, max_size=2), st.data())
def test_through_the_database_what_is_paid_equals_the_final_facts_whatever_the_order_of_requests(migrated, histories,
                                                                                                  data):
    asyncio.run(scenario(migrated, histories, data))
