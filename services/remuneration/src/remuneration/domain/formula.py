"""The monthly amount of one file: every component, how it was obtained, and the total.

DOMAIN.md §5, made explicit because no official formula is published:

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

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from remuneration.domain.money import ZERO, Interruption, Month, age_on, cents, euros, training_days
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


@dataclass(frozen=True)
class Training:
    entry_date: date
    exit_date: date | None = None
    interruptions: tuple[Interruption, ...] = ()
    weekly_hours: Decimal | None = None
    tension_sector: bool = False


@dataclass(frozen=True)
class Attendance:
    """The month's attendance statement (only what the formula needs)."""

    planned_hours: Decimal
    unjustified_absence_hours: Decimal
    version: int = 1

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


def compute_earned(
    month: Month,
    decision: RegimeDecision,
    trainee: Trainee,
    training: Training,
    attendance: Attendance | None,
    policy: Policy,
) -> Earned:
    """The month's own components. `attendance=None` presumes full attendance (advance)."""
    days = training_days(month, training.entry_date, training.exit_date, training.interruptions)
    day_count = len(days)
    day_factor = Decimal(day_count) / Decimal(month.days)
    attendance_factor = attendance.factor if attendance else Decimal(1)
    weekly = training.weekly_hours or policy.full_time_weekly_hours
    part_time = min(Decimal(1), weekly / policy.full_time_weekly_hours)
    days_text = f"{day_count} days in training out of {month.days} in {month}"
    if attendance:
        absence_text = (
            f"(1 − {_h(attendance.unjustified_absence_hours)} h unjustified absence / {_h(attendance.planned_hours)} h planned)"
        )
    else:
        absence_text = "(full attendance presumed)"
    inputs = {
        "month": str(month),
        "regime": decision.regime.value,
        "days_in_month": str(month.days),
        "days_in_training": str(day_count),
        "entry_date": training.entry_date.isoformat(),
        "exit_date": training.exit_date.isoformat() if training.exit_date else "",
        "interruptions": ", ".join(
            f"{i.start_date.isoformat()}→{i.resumption_date.isoformat() if i.resumption_date else '…'}"
            for i in training.interruptions
        ),
        "weekly_hours": _h(weekly),
        "part_time_factor": _fraction(min(weekly, policy.full_time_weekly_hours), policy.full_time_weekly_hours),
        "planned_hours": str(attendance.planned_hours) if attendance else "",
        "unjustified_absence_hours": str(attendance.unjustified_absence_hours) if attendance else "",
        "attendance_version": str(attendance.version) if attendance else "",
    }
    components: dict[ComponentCode, Component] = {}
    scale_code = None

    if decision.regime is Regime.REGION and day_count:
        first_day = month.first_day
        scale = scale_on(policy.scales, first_day)
        scale_code = scale.code
        age = age_on(trainee.birth_date, first_day)
        situation = ScaleSituation(
            age=age,
            single_parent=trainee.single_parent,
            prior_work_record=trainee.prior_work_record,
            disabled_worker=trainee.disabled_worker,
            prior_monthly_salary=trainee.prior_monthly_salary,
        )
        base, why = scale_amount(scale, situation)
        full = base * policy.tension_sector_multiplier if training.tension_sector else base
        tension_text = (
            f" × {policy.tension_sector_multiplier} tension-sector programme = {euros(full)}" if training.tension_sector else ""
        )
        inputs.update(scale=scale.code, age_on_first_day=str(age), scale_amount=str(base))
        amount = cents(full * day_factor * part_time * attendance_factor)
        components[ComponentCode.PUBLIC_REMUNERATION] = Component(
            ComponentCode.PUBLIC_REMUNERATION,
            amount,
            f"Scale {scale.code} ({scale.label}) on {first_day.isoformat()}: {why}{tension_text}; "
            f"× {days_text} × part-time {inputs['part_time_factor']} × {absence_text} = {euros(amount)}",
        )
        top_ups = []
        if trainee.registered_jobseeker:
            top_ups.append((policy.top_ups.jobseeker, "job seeker"))
        if trainee.first_time_jobseeker:
            top_ups.append((policy.top_ups.first_time_jobseeker, "first-time job seeker (primo-demandeur)"))
        if trainee.single_parent:
            top_ups.append((policy.top_ups.single_parent, "single parent (parent isolé)"))
        if top_ups:
            top_up, reason = max(top_ups, key=lambda t: t[0])
            amount = cents(top_up * day_factor * part_time * attendance_factor)
            others = f" (most favourable of {len(top_ups)} that apply)" if len(top_ups) > 1 else ""
            explanation = (
                f"Region top-up for a {reason}: {euros(top_up)} a month{others}; × {days_text} "
                f"× part-time {inputs['part_time_factor']} × {absence_text} = {euros(amount)}"
            )
        else:
            amount, explanation = ZERO, "No Region top-up applies (not a registered job seeker)"
        components[ComponentCode.REGION_TOP_UP] = Component(ComponentCode.REGION_TOP_UP, amount, explanation)

    if decision.regime is Regime.UNEMPLOYMENT_INSURANCE and day_count:
        if decision.differential_eligible:
            floor_year, floor = policy.differential_daily_floor(month.year)
            benefit = trainee.daily_benefit or ZERO
            with_benefit = sum(1 for d in days if trainee.benefit_end_date is None or d <= trainee.benefit_end_date)
            after_benefit = day_count - with_benefit
            per_day = max(ZERO, floor - benefit)
            amount = cents((per_day * with_benefit + floor * after_benefit) * attendance_factor)
            explanation = (
                f"80% of the net minimum wage per day ({floor_year} figure) {euros(floor)} − daily benefit "
                f"{euros(benefit)} = {euros(per_day)} × {with_benefit} days"
            )
            if after_benefit:
                explanation += (
                    f" + {euros(floor)} × {after_benefit} days after the benefit ended on "
                    f"{trainee.benefit_end_date.isoformat()}"
                )
            explanation += f"; × {absence_text} = {euros(amount)}"
            inputs.update(daily_floor=str(floor), daily_benefit=str(benefit))
        else:
            amount, explanation = ZERO, f"No differential top-up: {decision.reason}"
        components[ComponentCode.DIFFERENTIAL_TOP_UP] = Component(ComponentCode.DIFFERENTIAL_TOP_UP, amount, explanation)

    if decision.paying and day_count and trainee.transport_allowance:
        full = policy.transport_allowance_full
        amount = cents(full * day_factor)
        components[ComponentCode.TRANSPORT_ALLOWANCE] = Component(
            ComponentCode.TRANSPORT_ALLOWANCE,
            amount,
            f"Flat {euros(policy.transport_allowance_monthly)} a month × {policy.transport_allowance_multiplier} "
            f"(Pacte) = {euros(full)}; × {days_text} = {euros(amount)}",
        )

    not_applicable = {
        ComponentCode.PUBLIC_REMUNERATION: "Not applicable: the public scale is paid under the region regime only",
        ComponentCode.REGION_TOP_UP: "Not applicable: Region top-ups go with the public scale (region regime)",
        ComponentCode.DIFFERENTIAL_TOP_UP: "Not applicable: for trainees on unemployment benefit only",
        ComponentCode.TRANSPORT_ALLOWANCE: "Not requested, or no day in training this month",
    }
    if not day_count:
        not_applicable = {code: f"No day in training in {month}" for code in not_applicable}
    ordered = tuple(components.get(code) or Component(code, ZERO, not_applicable[code]) for code in EARNED_CODES)
    return Earned(month=month, components=ordered, scale_code=scale_code, inputs=inputs)


def advance_amount(month: Month, decision: RegimeDecision, trainee: Trainee, training: Training, policy: Policy) -> tuple[Decimal, str]:
    """The advance paid at entry: a share of the first month's presumed amount (full attendance)."""
    presumed = compute_earned(Month.of(training.entry_date), decision, trainee, training, None, policy).amount
    amount = cents(presumed * policy.advance_share)
    return amount, (
        f"Advance asked at entry: {policy.advance_share} × the presumed amount of the first month "
        f"{Month.of(training.entry_date)} ({euros(presumed)}, full attendance presumed) = {euros(amount)}; "
        "recovered from the following months"
    )


def adjustment_for(month: Month, recomputed: Earned, already_paid: Decimal, attendance_version: int) -> Adjustment:
    delta = recomputed.amount - already_paid
    return Adjustment(
        month=str(month),
        delta=delta,
        explanation=(
            f"{month} recomputed with attendance statement version {attendance_version}: "
            f"{euros(recomputed.amount)} against {euros(already_paid)} already paid → {'+' if delta >= 0 else ''}{euros(delta)}"
        ),
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
    in_training = bool(training_days(month, training.entry_date, training.exit_date, training.interruptions))
    waiting = in_training and attendance is None and decision.paying
    if waiting:
        earned = compute_earned(month, decision, trainee, training, None, policy)
        own = tuple(
            Component(c.code, ZERO, f"Waiting for the attendance statement of {month}") for c in earned.components
        )
        inputs, scale_code = earned.inputs, None
    else:
        earned = compute_earned(month, decision, trainee, training, attendance, policy)
        own, inputs, scale_code = earned.components, earned.inputs, earned.scale_code
    earned_amount = sum((c.amount for c in own), ZERO)

    positive = [a for a in extras.adjustments if a.delta > 0]
    negative = [a for a in extras.adjustments if a.delta < 0]
    adjustment_total = cents(sum((a.delta for a in positive), ZERO))
    adjustment = Component(
        ComponentCode.ADJUSTMENT,
        adjustment_total,
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

    recoverable = earned_amount + adjustment_total
    room = cents(recoverable * policy.recovery_max_share)
    advance_recovered = min(extras.advance_outstanding, room)
    advance_left = extras.advance_outstanding - advance_recovered
    new_overpayment = cents(-sum((a.delta for a in negative), ZERO))
    overpayment_due = extras.overpayment_outstanding + new_overpayment
    overpayment_recovered = min(overpayment_due, room - advance_recovered)
    overpayment_left = overpayment_due - overpayment_recovered

    def recovery_text(what: str, due: Decimal, recovered: Decimal, left: Decimal) -> str:
        if not due:
            return f"No {what} to recover"
        text = f"{what.capitalize()} outstanding {euros(due)}; recovered {euros(recovered)} out of {euros(room)} recoverable"
        return text + (f"; {euros(left)} carried over to next month" if left else "; fully recovered")

    overpayment_origin = "; ".join(a.explanation for a in negative)
    advance_recovery = Component(
        ComponentCode.ADVANCE_RECOVERY,
        ZERO - advance_recovered,
        recovery_text("advance", extras.advance_outstanding, advance_recovered, advance_left),
    )
    overpayment_recovery = Component(
        ComponentCode.OVERPAYMENT_RECOVERY,
        ZERO - overpayment_recovered,
        recovery_text("overpayment", overpayment_due, overpayment_recovered, overpayment_left)
        + (f" (new overpayment: {overpayment_origin})" if overpayment_origin else ""),
    )
    return MonthStatement(
        month=month,
        status=StatementStatus.WAITING if waiting else StatementStatus.COMPUTED,
        components=own + (adjustment, aid, advance, advance_recovery, overpayment_recovery),
        earned_amount=earned_amount,
        # The advance paid now is recovered from the following months.
        advance_outstanding_after=advance_left + cents(extras.advance_payment),
        overpayment_outstanding_after=overpayment_left,
        scale_code=scale_code,
        inputs=inputs,
        waiting_reason=f"No attendance statement for {month} yet" if waiting else None,
        attendance_version=attendance.version if attendance and not waiting else 0,
    )
