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

import os
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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

SCALE = float(os.environ.get("PACTE_PROPERTY_SCALE", "1"))
RANDOM = os.environ.get("PACTE_PROPERTY_RANDOM") == "1"


def bounded(examples: int, **overrides) -> settings:
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, derandomize=not RANDOM,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], **overrides)


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


def run_history(history: FileHistory, aids_at: frozenset[int]):
    """Runs every month in order (plus a closing month), folding each statement into the validated past."""
    model, past, statements = FileModel(history), History(), []
    facts = list(history.facts)
    for step in range(STEPS + 1):
        while facts and facts[0].step <= step:
            model.apply(facts.pop(0))
        aids = (D("250.00"),) if step in aids_at else ()
        settlement = settle(month_at(step), model.facts(), past, POLICY, aids)
        if settlement is None:
            continue
        statement = settlement.statement
        statements.append(statement)
        paid = dict(past.paid)
        for review in settlement.reviews:
            before = paid.get(review.recomputed.month)
            paid[review.recomputed.month] = PaidMonth((before.amount if before else ZERO) + review.adjustment.delta,
                                                      review.recomputed.inputs)
        paid[statement.month] = PaidMonth(statement.earned_amount, statement.inputs)
        past = History(paid=paid, advance_paid=past.advance_paid + statement.component(ComponentCode.ADVANCE),
                       advance_outstanding=statement.advance_outstanding_after,
                       overpayment_outstanding=statement.overpayment_outstanding_after)
    return model.facts(), past, statements


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
    facts, past, statements = run_history(history, aids_at)
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
    assert paid_total - owed == sum(earned.values(), ZERO) + aids


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
        paid = dict(past.paid)
        for review in settlement.reviews:
            before = paid.get(review.recomputed.month)
            paid[review.recomputed.month] = PaidMonth((before.amount if before else ZERO) + review.adjustment.delta,
                                                      review.recomputed.inputs)
        paid[settlement.statement.month] = PaidMonth(settlement.statement.earned_amount, settlement.statement.inputs)
        past = History(paid=paid, advance_paid=past.advance_paid + settlement.statement.component(ComponentCode.ADVANCE),
                       advance_outstanding=settlement.statement.advance_outstanding_after,
                       overpayment_outstanding=settlement.statement.overpayment_outstanding_after)
