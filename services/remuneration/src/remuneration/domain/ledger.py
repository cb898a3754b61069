"""One file's month in a run, with every earlier month reviewed against the final facts.

Pure rules (no I/O). The run's use case loads the file's facts and what validated runs paid,
calls `settle`, and stores the result:

- every month from the entry (or the first month paid) to the month before the run's is
  recomputed from the facts known now; where it differs from what was paid for it, the
  difference becomes an adjustment explained line by line (what changed, when it was
  declared): paid now when positive, recovered (and carried over while it exceeds what is
  due) when negative;
- the advance is paid once per file, in the first paid month in training;
- the month itself is computed as docs/rules.md §5.6 says (or waits, visibly).

Summed over the validated runs, what is paid to a file plus what it still owes (advance and
overpayment outstanding) equals the sum of its months recomputed from the final facts, plus
its emergency aids.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from remuneration.domain.formula import (
    Adjustment,
    Attendance,
    ComponentCode,
    Earned,
    Extras,
    MonthStatement,
    Trainee,
    Training,
    advance_amount,
    compute_earned,
    compute_month,
    waiting_reason,
)
from remuneration.domain.money import ZERO, Month, days_in_training, euros
from remuneration.domain.policy import Policy
from remuneration.domain.regime import RegimeDecision


@dataclass(frozen=True)
class PaidMonth:
    """What validated runs paid for one month of a file: its earned amount and the facts it used."""

    amount: Decimal
    inputs: dict[str, str]


@dataclass(frozen=True)
class History:
    """A file's validated past, as of the run being computed."""

    paid: dict[Month, PaidMonth] = field(default_factory=dict)
    advance_paid: Decimal = ZERO
    advance_outstanding: Decimal = ZERO
    overpayment_outstanding: Decimal = ZERO
    # Months recomputed downwards since the file's last debt: where an overpayment carried over comes from.
    overpaid_months: tuple[str, ...] = ()
    # The months a validated run settled (recomputed and paid, or found waiting) whose facts have not
    # changed since, under the same rules: up to `settled_through`, except `changed_months`.
    # Recomputing them gives what was paid, so they are not reviewed again (docs/remuneration.md).
    settled_through: Month | None = None
    changed_months: frozenset[Month] = frozenset()

    def settled(self, month: Month) -> bool:
        return self.settled_through is not None and month <= self.settled_through and month not in self.changed_months


@dataclass(frozen=True)
class Facts:
    """A file's facts as known now."""

    decision: RegimeDecision
    trainee: Trainee
    training: Training
    attendance: dict[Month, Attendance]
    advance_wanted: bool = False


@dataclass(frozen=True)
class Review:
    """A paid (or never paid) month recomputed with different result: the adjustment and its basis."""

    adjustment: Adjustment
    recomputed: Earned
    attendance_version: int


@dataclass(frozen=True)
class DebtTransfer:
    """What a file still owes when its training is over: no later pay can offset it, so it is owed back."""

    amount: Decimal
    overpayment: Decimal
    advance: Decimal
    origin_months: tuple[str, ...]
    explanation: str


@dataclass(frozen=True)
class Settlement:
    statement: MonthStatement
    reviews: tuple[Review, ...]
    debt: DebtTransfer | None = None
    # The earlier months recomputed by this settlement (with or without an adjustment).
    reviewed_months: tuple[str, ...] = ()


# Inputs that name a cause, in the order an operator reads them; derived figures come after.
_QUIET = {"month", "days_in_month", "exit_declared_on", "cancelled_on", "attendance_received_on", "planned_hours",
          "unjustified_absence_hours", "scale_source", "top_ups_source", "daily_floor_source", "transport_source",
          "age_on_first_day"}


def _causes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What changed between the facts a month was paid with and the facts known now."""
    if not before:
        return ["not paid before"]
    causes: list[str] = []

    def changed(key: str) -> bool:
        return before.get(key, "") != after.get(key, "")

    if changed("cancelled") and after.get("cancelled") == "yes":
        on = after.get("cancelled_on")
        causes.append("entry cancelled (declared by mistake)" + (f" on {on}" if on else ""))
    if changed("exit_date"):
        if after.get("exit_date"):
            declared = after.get("exit_declared_on")
            causes.append(f"exit on {after['exit_date']}" + (f" declared on {declared}" if declared else ""))
        else:
            causes.append(f"exit of {before['exit_date']} withdrawn")
    if changed("interruptions"):
        causes.append(f"interruption {after.get('interruptions') or 'none'} (was {before.get('interruptions') or 'none'})")
    if changed("attendance_version"):
        causes.append(_attendance_change(before, after))
    if changed("regime"):
        causes.append(f"regime {before.get('regime') or 'none'} → {after.get('regime') or 'none'}")
    named = {"cancelled", "exit_date", "interruptions", "attendance_version", "regime"}
    for key in sorted(set(before) | set(after)):
        if key in named or key in _QUIET or not changed(key):
            continue
        causes.append(f"{key.replace('_', ' ')} {before.get(key) or 'none'} → {after.get(key) or 'none'}")
    return causes or ["rates or rules changed"]


def _hours(value: str) -> str:
    """'20.00' reads '20', '3.50' reads '3.5'; no statement reads 'none'."""
    return f"{Decimal(value).normalize():f}" if value else "none"


def _attendance_change(before: dict[str, str], after: dict[str, str]) -> str:
    """Which hours of the month's statement changed, and when the new statement was received."""
    version = after.get("attendance_version") or "none"
    was = before.get("attendance_version")
    text = f"attendance statement version {version}" + (f" replaces version {was}" if was else "")
    received = after.get("attendance_received_on")
    text += f" (received on {received})" if received else ""
    changes = [f"{label} {_hours(before.get(key, ''))} → {_hours(after.get(key, ''))} h"
               for key, label in (("unjustified_absence_hours", "unjustified absence"), ("planned_hours", "planned"))
               if before.get(key, "") != after.get(key, "")]
    return text + (": " + ", ".join(changes) if changes else "")


def review_month(month: Month, recomputed: Earned, paid: PaidMonth | None) -> Adjustment | None:
    """The adjustment for one earlier month, or None when it was paid right."""
    already = paid.amount if paid else ZERO
    delta = recomputed.amount - already
    if delta == 0:
        return None
    causes = "; ".join(_causes(paid.inputs if paid else {}, recomputed.inputs))
    sign = "+" if delta > 0 else ""
    return Adjustment(
        month=str(month), delta=delta,
        explanation=(f"{month} recomputed: {causes}: {euros(recomputed.amount)} against {euros(already)} "
                     f"already paid → {sign}{euros(delta)}"),
    )


def months_between(first: Month, last: Month) -> list[Month]:
    months, month = [], first
    while month <= last:
        months.append(month)
        month = month.next()
    return months


def _in_training(month: Month, facts: Facts) -> bool:
    training = facts.training
    return not training.cancelled and bool(
        days_in_training(month, training.entry_date, training.last_day, training.interruptions)
    )


def review_earlier_months(month: Month, facts: Facts, history: History, policy: Policy,
                          reviewed: list[str] | None = None) -> list[Review]:
    """Every month before `month` whose amount, recomputed now, differs from what was paid for it.

    Months settled under the same facts and rules are skipped; `reviewed` receives the months recomputed.
    """
    paid_months = set(history.paid)
    first = min([Month.of(facts.training.entry_date), *paid_months])
    reviews = []
    for earlier in months_between(first, month):
        if earlier == month:
            break
        if history.settled(earlier):
            continue
        paid = history.paid.get(earlier)
        attendance = facts.attendance.get(earlier)
        if waiting_reason(earlier, facts.decision, facts.trainee, facts.training, attendance) is not None:
            continue  # not computable yet: it is reviewed again when its facts arrive
        if paid is None and not _in_training(earlier, facts):
            continue
        recomputed = compute_earned(earlier, facts.decision, facts.trainee, facts.training, attendance, policy)
        if reviewed is not None:
            reviewed.append(str(earlier))
        adjustment = review_month(earlier, recomputed, paid)
        if adjustment is not None:
            reviews.append(Review(adjustment, recomputed, attendance.version if attendance else 0))
    return reviews


def training_over(month: Month, training: Training) -> bool:
    """No day after `month` can be in training: the entry was cancelled, or the exit or the session's end is past."""
    return training.cancelled or (training.last_day is not None and training.last_day <= month.last_day)


def _why_over(training: Training) -> str:
    if training.cancelled:
        on = f" on {training.cancelled_on.isoformat()}" if training.cancelled_on else ""
        return f"the entry was cancelled{on}"
    if training.last_day == training.exit_date:
        declared = f" declared on {training.exit_declared_on.isoformat()}" if training.exit_declared_on else ""
        return f"exit on {training.exit_date.isoformat()}{declared}"
    return f"the session ended on {training.last_day.isoformat()}"


def transfer_to_debt(statement: MonthStatement, settlement_reviews: tuple[Review, ...], history: History,
                     training: Training) -> tuple[MonthStatement, DebtTransfer | None]:
    """When the training is over, what is still owed after this month's recoveries becomes a debt.

    The statement then carries nothing over; the debt keeps the amount, the months it comes from and why.
    """
    overpayment, advance = statement.overpayment_outstanding_after, statement.advance_outstanding_after
    if overpayment + advance <= 0:
        return statement, None
    origins = sorted({*history.overpaid_months, *(r.adjustment.month for r in settlement_reviews
                                                  if r.adjustment.delta < 0)})
    parts = []
    if overpayment:
        parts.append(f"overpayment {euros(overpayment)}" + (f" (months {', '.join(origins)})" if origins else ""))
    if advance:
        parts.append(f"advance {euros(advance)} not recovered")
    total = overpayment + advance
    explanation = (f"{euros(total)} owed back ({'; '.join(parts)}): the training is over ({_why_over(training)}), "
                   "so no later pay can offset it")
    components = tuple(
        replace(c, explanation=c.explanation.replace("carried over to next month", "owed back as a debt"))
        if c.code in (ComponentCode.ADVANCE_RECOVERY, ComponentCode.OVERPAYMENT_RECOVERY) else c
        for c in statement.components
    )
    cleared = replace(statement, components=components, advance_outstanding_after=ZERO,
                      overpayment_outstanding_after=ZERO)
    return cleared, DebtTransfer(total, overpayment, advance, tuple(origins), explanation)


def settle(month: Month, facts: Facts, history: History, policy: Policy,
           emergency_aids: tuple[Decimal, ...] = ()) -> Settlement | None:
    """The file's statement for `month`, or None when there is nothing to pay, recover or wait for."""
    reviewed: list[str] = []
    reviews = review_earlier_months(month, facts, history, policy, reviewed)
    in_training = facts.decision.paying and _in_training(month, facts)
    over = training_over(month, facts.training)
    advance, advance_text = ZERO, ""
    # No advance when the training ends within the month: the month's own pay comes now, nothing is left to bridge.
    if in_training and not over and facts.advance_wanted and history.advance_paid == ZERO:
        advance, advance_text = advance_amount(month, facts.decision, facts.trainee, facts.training, policy)
    owes = history.advance_outstanding + history.overpayment_outstanding > 0
    if not (in_training or reviews or emergency_aids or advance or (over and owes)):
        return None
    extras = Extras(
        advance_outstanding=history.advance_outstanding,
        overpayment_outstanding=history.overpayment_outstanding,
        adjustments=tuple(r.adjustment for r in reviews),
        emergency_aids=emergency_aids,
        advance_payment=advance,
        advance_explanation=advance_text,
    )
    statement = compute_month(month, facts.decision, facts.trainee, facts.training, facts.attendance.get(month),
                              policy, extras)
    debt = None
    if over:
        statement, debt = transfer_to_debt(statement, tuple(reviews), history, facts.training)
    return Settlement(statement, tuple(reviews), debt, tuple(reviewed))
