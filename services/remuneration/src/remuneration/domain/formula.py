"""The monthly amount of one file: every component, how it was obtained, and the total.

docs/rules.md §5.6, made explicit because no official formula is published:

    monthly full amount = scale amount (× tension multiplier) + the most favourable Region top-up
    earned              = full amount × days in training / days in month × part-time factor
                          × (1 − unjustified absence hours / planned hours)
    differential        = max(0, daily floor − daily benefit) × days in training × the same
                          attendance factor                       (unemployment_insurance only)
    transport           = flat monthly amount × days in training / days in month
    total               = earned + positive adjustments + emergency aid + advance
                          − advance recovery − overpayment recovery     (never negative)

Every component is rounded half-up to the cent; the total is their exact sum. What cannot be
recovered this month carries over to the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from pacte_common.clock import age_on

from remuneration.domain.money import (
    NO_DAYS,
    ZERO,
    Interruption,
    Month,
    TrainingDays,
    cents,
    days_in_training,
    euros,
)
from remuneration.domain.policy import Policy
from remuneration.domain.regime import Regime, RegimeDecision
from remuneration.domain.scales import ScaleSituation, scale_amount, scale_on


class ComponentCode(StrEnum):
    PUBLIC_REMUNERATION = "public_remuneration"
    REGION_TOP_UP = "region_top_up"
    DIFFERENTIAL_TOP_UP = "differential_top_up"
    TRANSPORT_ALLOWANCE = "transport_allowance"
    ADJUSTMENT = "adjustment"
    EMERGENCY_AID = "emergency_aid"
    ADVANCE = "advance"
    ADVANCE_RECOVERY = "advance_recovery"
    OVERPAYMENT_RECOVERY = "overpayment_recovery"


COMPONENT_LABELS = {
    ComponentCode.PUBLIC_REMUNERATION: "Rémunération publique des stagiaires (barème)",
    ComponentCode.REGION_TOP_UP: "Bonification Région",
    ComponentCode.DIFFERENTIAL_TOP_UP: "Complément différentiel Région (80 % du SMIC net)",
    ComponentCode.TRANSPORT_ALLOWANCE: "Indemnité de transport",
    ComponentCode.ADJUSTMENT: "Régularisation de mois antérieurs",
    ComponentCode.EMERGENCY_AID: "Aide du fonds social d'urgence",
    ComponentCode.ADVANCE: "Avance à l'entrée",
    ComponentCode.ADVANCE_RECOVERY: "Récupération de l'avance",
    ComponentCode.OVERPAYMENT_RECOVERY: "Récupération d'un trop-perçu",
}
EARNED_CODES = (
    ComponentCode.PUBLIC_REMUNERATION,
    ComponentCode.REGION_TOP_UP,
    ComponentCode.DIFFERENTIAL_TOP_UP,
    ComponentCode.TRANSPORT_ALLOWANCE,
)


@dataclass(frozen=True)
class Component:
    code: ComponentCode
    amount: Decimal
    explanation: str

    @property
    def label(self) -> str:
        return COMPONENT_LABELS[self.code]


@dataclass(frozen=True)
class Trainee:
    """The trainee's situation, from the file's profile and the remuneration request (RS1)."""

    birth_date: date
    single_parent: bool = False
    first_time_jobseeker: bool = False
    registered_jobseeker: bool = True
    prior_work_record: bool = False
    disabled_worker: bool = False
    prior_monthly_salary: Decimal | None = None
    daily_benefit: Decimal | None = None
    benefit_end_date: date | None = None
    transport_allowance: bool = False
    # Daily amount of the allowance that takes over when the benefit rights end during the
    # training (AREF extended, RFF, ASS-F, RFPE; 0 when none). Unknown: such days wait.
    relay_daily_amount: Decimal | None = None


@dataclass(frozen=True)
class Training:
    entry_date: date
    exit_date: date | None = None
    interruptions: tuple[Interruption, ...] = ()
    weekly_hours: Decimal | None = None
    tension_sector: bool = False
    # Cancelled: the entry was declared by mistake, so no day was ever in training.
    cancelled: bool = False
    exit_declared_on: date | None = None
    cancelled_on: date | None = None
    # The session's planned end: no day after it is in training, whether or not an exit was declared.
    planned_end_date: date | None = None

    @property
    def last_day(self) -> date | None:
        """The last day that can be in training: the exit, else the session's end (the earlier of both)."""
        ends = [day for day in (self.exit_date, self.planned_end_date) if day is not None]
        return min(ends) if ends else None


@dataclass(frozen=True)
class Attendance:
    """The month's attendance statement (only what the formula needs)."""

    planned_hours: Decimal
    unjustified_absence_hours: Decimal
    version: int = 1
    received_on: date | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.planned_hours < 0 or self.unjustified_absence_hours < 0:
            raise ValueError("attendance hours cannot be negative")
        if self.unjustified_absence_hours > self.planned_hours:
            raise ValueError("unjustified absence hours cannot exceed planned hours")

    @property
    def factor(self) -> Decimal:
        if self.planned_hours == 0:
            return Decimal(1)
        return 1 - self.unjustified_absence_hours / self.planned_hours


@dataclass(frozen=True)
class Earned:
    """What one month of training earns, before recoveries and extras."""

    month: Month
    components: tuple[Component, ...]
    scale_code: str | None
    inputs: dict[str, str]

    @property
    def amount(self) -> Decimal:
        return sum((c.amount for c in self.components), ZERO)


@dataclass(frozen=True)
class Adjustment:
    """A month already paid, recomputed (late or corrected attendance): positive or negative."""

    month: str
    delta: Decimal
    explanation: str


@dataclass(frozen=True)
class Extras:
    """What the month carries besides its own computation."""

    advance_outstanding: Decimal = ZERO
    overpayment_outstanding: Decimal = ZERO
    adjustments: tuple[Adjustment, ...] = ()
    emergency_aids: tuple[Decimal, ...] = ()
    advance_payment: Decimal = ZERO
    advance_explanation: str = ""


class StatementStatus(StrEnum):
    COMPUTED = "computed"
    WAITING = "waiting"  # no attendance statement for the month yet: its own amount waits


@dataclass(frozen=True)
class MonthStatement:
    month: Month
    status: StatementStatus
    components: tuple[Component, ...]
    earned_amount: Decimal
    advance_outstanding_after: Decimal
    overpayment_outstanding_after: Decimal
    scale_code: str | None
    inputs: dict[str, str]
    waiting_reason: str | None = None
    attendance_version: int = 0

    @property
    def total(self) -> Decimal:
        return sum((c.amount for c in self.components), ZERO)

    def component(self, code: ComponentCode) -> Decimal:
        return next(c.amount for c in self.components if c.code == code)


def _fraction(numerator, denominator) -> str:
    return f"{_h(numerator)}/{_h(denominator)}"


def _h(value) -> str:
    """Hours as people write them: 7, 7.5, 140 (not 7.00)."""
    text = format(Decimal(value).normalize(), "f")
    return text


@dataclass(frozen=True)
class _Month:
    """What every component of one month shares: days, factors and how they read."""

    month: Month
    days: TrainingDays
    day_count: int
    day_factor: Decimal
    part_time: Decimal
    part_time_text: str
    attendance_factor: Decimal
    days_text: str
    absence_text: str


def _frame(month: Month, training: Training, attendance: Attendance | None, policy: Policy) -> _Month:
    days = NO_DAYS if training.cancelled else days_in_training(
        month, training.entry_date, training.last_day, training.interruptions
    )
    count = days.count
    weekly = training.weekly_hours or policy.full_time_weekly_hours
    if attendance:
        absence_text = (
            f"(1 − {_h(attendance.unjustified_absence_hours)} h unjustified absence / {_h(attendance.planned_hours)} h planned)"
        )
    else:
        absence_text = "(full attendance presumed)"
    return _Month(
        month=month, days=days, day_count=count, day_factor=Decimal(count) / Decimal(month.days),
        part_time=min(Decimal(1), weekly / policy.full_time_weekly_hours),
        part_time_text=_fraction(min(weekly, policy.full_time_weekly_hours), policy.full_time_weekly_hours),
        attendance_factor=attendance.factor if attendance else Decimal(1),
        days_text=f"{count} days in training out of {month.days} in {month}", absence_text=absence_text,
    )


def _inputs(frame: _Month, decision: RegimeDecision, trainee: Trainee, training: Training,
            attendance: Attendance | None, policy: Policy) -> dict[str, str]:
    """Every fact the month's amount depends on, as text: kept with the statement, compared on a recomputation."""
    month = frame.month

    def flag(value: bool) -> str:
        return "yes" if value else "no"

    return {
        "month": str(month),
        "regime": decision.regime.value,
        "differential_eligible": flag(decision.differential_eligible),
        "days_in_month": str(month.days),
        "days_in_training": str(frame.day_count),
        "entry_date": training.entry_date.isoformat(),
        "exit_date": training.exit_date.isoformat() if training.exit_date else "",
        "exit_declared_on": training.exit_declared_on.isoformat() if training.exit_declared_on else "",
        "session_end_date": training.planned_end_date.isoformat() if training.planned_end_date else "",
        "cancelled": flag(training.cancelled),
        "cancelled_on": training.cancelled_on.isoformat() if training.cancelled_on else "",
        "interruptions": ", ".join(i.describe() for i in training.interruptions if i.overlaps(month)),
        "weekly_hours": _h(training.weekly_hours or policy.full_time_weekly_hours),
        "part_time_factor": frame.part_time_text,
        "tension_sector": flag(training.tension_sector),
        "planned_hours": str(attendance.planned_hours) if attendance else "",
        "unjustified_absence_hours": str(attendance.unjustified_absence_hours) if attendance else "",
        "attendance_version": str(attendance.version) if attendance else "",
        "attendance_received_on": attendance.received_on.isoformat() if attendance and attendance.received_on else "",
        "birth_date": trainee.birth_date.isoformat(),
        "single_parent": flag(trainee.single_parent),
        "first_time_jobseeker": flag(trainee.first_time_jobseeker),
        "registered_jobseeker": flag(trainee.registered_jobseeker),
        "prior_work_record": flag(trainee.prior_work_record),
        "disabled_worker": flag(trainee.disabled_worker),
        "prior_monthly_salary": str(trainee.prior_monthly_salary) if trainee.prior_monthly_salary is not None else "",
        "daily_benefit": str(trainee.daily_benefit) if trainee.daily_benefit is not None else "",
        "benefit_end_date": trainee.benefit_end_date.isoformat() if trainee.benefit_end_date else "",
        "relay_daily_amount": str(trainee.relay_daily_amount) if trainee.relay_daily_amount is not None else "",
        "transport_allowance": flag(trainee.transport_allowance),
    }


def _region_components(frame: _Month, trainee: Trainee, training: Training, policy: Policy,
                       inputs: dict[str, str]) -> tuple[str, list[Component]]:
    """The public scale (× tension multiplier) and the single most favourable Region top-up."""
    first_day = frame.month.first_day
    scale = scale_on(policy.scales, first_day)
    top_up_rates = policy.top_ups_on(first_day)
    age = age_on(trainee.birth_date, first_day)
    situation = ScaleSituation(
        age=age, single_parent=trainee.single_parent, prior_work_record=trainee.prior_work_record,
        disabled_worker=trainee.disabled_worker, prior_monthly_salary=trainee.prior_monthly_salary,
    )
    base, why = scale_amount(scale, situation)
    full = base * policy.tension_sector_multiplier if training.tension_sector else base
    tension_text = (
        f" × {policy.tension_sector_multiplier} tension-sector programme = {euros(full)}" if training.tension_sector else ""
    )
    inputs.update(scale=scale.code, scale_source=scale.source, age_on_first_day=str(age), scale_amount=str(base),
                  top_ups_source=top_up_rates.source)
    factors = frame.day_factor * frame.part_time * frame.attendance_factor
    amount = cents(full * factors)
    scale_component = Component(
        ComponentCode.PUBLIC_REMUNERATION, amount,
        f"Scale {scale.code} ({scale.label}) on {first_day.isoformat()}: {why}{tension_text}; "
        f"× {frame.days_text} × part-time {frame.part_time_text} × {frame.absence_text} = {euros(amount)}",
    )
    top_ups = []
    if trainee.registered_jobseeker:
        top_ups.append((top_up_rates.jobseeker, "job seeker"))
    if trainee.first_time_jobseeker:
        top_ups.append((top_up_rates.first_time_jobseeker, "first-time job seeker (primo-demandeur)"))
    if trainee.single_parent:
        top_ups.append((top_up_rates.single_parent, "single parent (parent isolé)"))
    if top_ups:
        top_up, reason = max(top_ups, key=lambda t: t[0])
        amount = cents(top_up * factors)
        others = f" (most favourable of {len(top_ups)} that apply)" if len(top_ups) > 1 else ""
        explanation = (
            f"Region top-up for a {reason}: {euros(top_up)} a month{others}; × {frame.days_text} "
            f"× part-time {frame.part_time_text} × {frame.absence_text} = {euros(amount)}"
        )
    else:
        amount, explanation = ZERO, "No Region top-up applies (not a registered job seeker)"
    return scale.code, [scale_component, Component(ComponentCode.REGION_TOP_UP, amount, explanation)]


def _differential_component(frame: _Month, decision: RegimeDecision, trainee: Trainee, policy: Policy,
                            inputs: dict[str, str]) -> Component:
    """Up to the daily floor: over the daily benefit while it runs, then over the relay allowance."""
    if not decision.differential_eligible:
        return Component(ComponentCode.DIFFERENTIAL_TOP_UP, ZERO, f"No differential top-up: {decision.reason}")
    floor, floor_text = policy.daily_floor_on(frame.month.first_day)
    benefit = trainee.daily_benefit or ZERO
    end = trainee.benefit_end_date
    with_benefit = frame.days.count_until(end)
    after_benefit = frame.day_count - with_benefit
    relay = trainee.relay_daily_amount or ZERO
    per_day = max(ZERO, floor - benefit)
    per_day_after = max(ZERO, floor - relay)
    amount = cents((per_day * with_benefit + per_day_after * after_benefit) * frame.attendance_factor)
    explanation = (
        f"80% of the net minimum wage per day {euros(floor)} ({floor_text}) − daily benefit "
        f"{euros(benefit)} = {euros(per_day)} × {with_benefit} days"
    )
    if after_benefit:
        explanation += (
            f" + ({euros(floor)} − relay allowance {euros(relay)} a day) = {euros(per_day_after)} × {after_benefit} "
            f"days after the benefit ended on {end.isoformat()}"
        )
    inputs.update(daily_floor=str(floor), daily_floor_source=floor_text)
    return Component(ComponentCode.DIFFERENTIAL_TOP_UP, amount, explanation + f"; × {frame.absence_text} = {euros(amount)}")


def _transport_component(frame: _Month, policy: Policy, inputs: dict[str, str]) -> Component:
    rates = policy.transport_on(frame.month.first_day)
    amount = cents(rates.full * frame.day_factor)
    inputs.update(transport_source=rates.source)
    return Component(
        ComponentCode.TRANSPORT_ALLOWANCE, amount,
        f"Flat {euros(rates.monthly)} a month × {rates.multiplier} (Pacte) = {euros(rates.full)}; "
        f"× {frame.days_text} = {euros(amount)}",
    )


NOT_APPLICABLE = {
    ComponentCode.PUBLIC_REMUNERATION: "Not applicable: the public scale is paid under the region regime only",
    ComponentCode.REGION_TOP_UP: "Not applicable: Region top-ups go with the public scale (region regime)",
    ComponentCode.DIFFERENTIAL_TOP_UP: "Not applicable: for trainees on unemployment benefit only",
    ComponentCode.TRANSPORT_ALLOWANCE: "Not requested, or no day in training this month",
}


def compute_earned(
    month: Month,
    decision: RegimeDecision,
    trainee: Trainee,
    training: Training,
    attendance: Attendance | None,
    policy: Policy,
) -> Earned:
    """The month's own components. `attendance=None` presumes full attendance (advance).

    Raises `MissingRate` when a rate the month needs has no version in force on its first day.
    """
    frame = _frame(month, training, attendance, policy)
    inputs = _inputs(frame, decision, trainee, training, attendance, policy)
    found: list[Component] = []
    scale_code = None
    if frame.day_count:
        if decision.regime is Regime.REGION:
            scale_code, region = _region_components(frame, trainee, training, policy, inputs)
            found += region
        if decision.regime is Regime.UNEMPLOYMENT_INSURANCE:
            found.append(_differential_component(frame, decision, trainee, policy, inputs))
        if decision.paying and trainee.transport_allowance:
            found.append(_transport_component(frame, policy, inputs))
    by_code = {c.code: c for c in found}
    if training.cancelled:
        reason = "The entry was cancelled (declared by mistake): no day in training"
    elif not frame.day_count and training.last_day is not None and training.last_day < month.first_day:
        ended = "exit" if training.last_day == training.exit_date else "session's end"
        reason = f"No day in training in {month}: after the {ended} on {training.last_day.isoformat()}"
    elif not frame.day_count:
        reason = f"No day in training in {month}"
    else:
        reason = None
    ordered = tuple(
        by_code.get(code) or Component(code, ZERO, reason or NOT_APPLICABLE[code]) for code in EARNED_CODES
    )
    return Earned(month=month, components=ordered, scale_code=scale_code, inputs=inputs)


def waiting_reason(month: Month, decision: RegimeDecision, trainee: Trainee, training: Training,
                   attendance: Attendance | None) -> str | None:
    """Why the month's own amount cannot be computed yet (it waits, visibly), or None."""
    days = NO_DAYS if training.cancelled else days_in_training(
        month, training.entry_date, training.last_day, training.interruptions
    )
    if not days or not decision.paying:
        return None
    if attendance is None:
        return f"No attendance statement for {month} yet"
    end = trainee.benefit_end_date
    if (decision.regime is Regime.UNEMPLOYMENT_INSURANCE and decision.differential_eligible and end is not None
            and trainee.relay_daily_amount is None and days.any_after(end)):
        return (f"The benefit ended on {end.isoformat()}: the daily amount of the relay allowance "
                "(AREF, RFF, ASS-F, RFPE; 0 when none) is needed to complete it")
    return None


def advance_amount(month: Month, decision: RegimeDecision, trainee: Trainee, training: Training, policy: Policy) -> tuple[Decimal, str]:
    """The advance paid at entry: a share of the first month's presumed amount (full attendance)."""
    presumed = compute_earned(Month.of(training.entry_date), decision, trainee, training, None, policy).amount
    amount = cents(presumed * policy.advance_share)
    return amount, (
        f"Advance asked at entry: {policy.advance_share} × the presumed amount of the first month "
        f"{Month.of(training.entry_date)} ({euros(presumed)}, full attendance presumed) = {euros(amount)}; "
        "recovered from the following months"
    )


def _own_components(month: Month, decision: RegimeDecision, trainee: Trainee, training: Training,
                    attendance: Attendance | None, policy: Policy, waiting_for: str | None) -> Earned:
    """The month's own computation; all zero while it waits for what it needs (the inputs stay visible)."""
    if waiting_for is None:
        return compute_earned(month, decision, trainee, training, attendance, policy)
    earned = compute_earned(month, decision, trainee, training, None, policy)
    own = tuple(Component(c.code, ZERO, f"Waiting: {waiting_for}") for c in earned.components)
    return Earned(month=month, components=own, scale_code=None, inputs=earned.inputs)


def _paid_extras(extras: Extras) -> tuple[Component, Component, Component]:
    """Upward regularisations of earlier months, emergency aids and the advance paid this month."""
    positive = [a for a in extras.adjustments if a.delta > 0]
    adjustment = Component(
        ComponentCode.ADJUSTMENT,
        cents(sum((a.delta for a in positive), ZERO)),
        "; ".join(a.explanation for a in positive) if positive else "No month to regularise upwards",
    )
    aid_total = cents(sum(extras.emergency_aids, ZERO))
    aid = Component(
        ComponentCode.EMERGENCY_AID,
        aid_total,
        f"{len(extras.emergency_aids)} emergency aid(s) granted, paid in this batch: {euros(aid_total)}"
        if extras.emergency_aids else "No emergency aid to pay",
    )
    advance = Component(
        ComponentCode.ADVANCE,
        cents(extras.advance_payment),
        extras.advance_explanation if extras.advance_payment else "No advance to pay",
    )
    return adjustment, aid, advance


@dataclass(frozen=True)
class _Recoveries:
    advance: Component
    overpayment: Component
    advance_left: Decimal
    overpayment_left: Decimal


def _recovery_text(what: str, due: Decimal, recovered: Decimal, left: Decimal, room: Decimal) -> str:
    if not due:
        return f"No {what} to recover"
    text = f"{what.capitalize()} outstanding {euros(due)}; recovered {euros(recovered)} out of {euros(room)} recoverable"
    return text + (f"; {euros(left)} carried over to next month" if left else "; fully recovered")


def _recoveries(extras: Extras, recoverable: Decimal, policy: Policy) -> _Recoveries:
    """The advance, then overpayments (old and new), recovered within a share of what the month pays."""
    negative = [a for a in extras.adjustments if a.delta < 0]
    room = cents(recoverable * policy.recovery_max_share)
    advance_recovered = min(extras.advance_outstanding, room)
    advance_left = extras.advance_outstanding - advance_recovered
    overpayment_due = extras.overpayment_outstanding + cents(-sum((a.delta for a in negative), ZERO))
    overpayment_recovered = min(overpayment_due, room - advance_recovered)
    overpayment_left = overpayment_due - overpayment_recovered
    overpayment_origin = "; ".join(a.explanation for a in negative)
    return _Recoveries(
        advance=Component(
            ComponentCode.ADVANCE_RECOVERY,
            ZERO - advance_recovered,
            _recovery_text("advance", extras.advance_outstanding, advance_recovered, advance_left, room),
        ),
        overpayment=Component(
            ComponentCode.OVERPAYMENT_RECOVERY,
            ZERO - overpayment_recovered,
            _recovery_text("overpayment", overpayment_due, overpayment_recovered, overpayment_left, room)
            + (f" (new overpayment: {overpayment_origin})" if overpayment_origin else ""),
        ),
        advance_left=advance_left,
        overpayment_left=overpayment_left,
    )


def compute_month(
    month: Month,
    decision: RegimeDecision,
    trainee: Trainee,
    training: Training,
    attendance: Attendance | None,
    policy: Policy,
    extras: Extras = Extras(),
) -> MonthStatement:
    """The month's statement: its own amount (or waiting), extras, recoveries, the total."""
    reason = waiting_reason(month, decision, trainee, training, attendance)
    waiting = reason is not None
    own = _own_components(month, decision, trainee, training, attendance, policy, reason)
    earned_amount = sum((c.amount for c in own.components), ZERO)
    adjustment, aid, advance = _paid_extras(extras)
    recoveries = _recoveries(extras, earned_amount + adjustment.amount, policy)
    return MonthStatement(
        month=month,
        status=StatementStatus.WAITING if waiting else StatementStatus.COMPUTED,
        components=own.components + (adjustment, aid, advance, recoveries.advance, recoveries.overpayment),
        earned_amount=earned_amount,
        # The advance paid now is recovered from the following months.
        advance_outstanding_after=recoveries.advance_left + cents(extras.advance_payment),
        overpayment_outstanding_after=recoveries.overpayment_left,
        scale_code=own.scale_code,
        inputs=own.inputs,
        waiting_reason=reason,
        attendance_version=attendance.version if attendance and not waiting else 0,
    )
