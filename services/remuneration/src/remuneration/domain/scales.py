"""The public trainee remuneration scale, as data versioned by effective date (docs/rules.md §5.2).

A new version is a new `ScaleVersion` in the settings (PACTE_REMUNERATION_SCALES, JSON):
no code changes. The version and the age are taken on the first day of the month; each version
names its source and may end (`effective_until`); a day no version covers is a `MissingRate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from remuneration.domain.money import ZERO, euros
from remuneration.domain.rates import in_force


@dataclass(frozen=True)
class AgeBand:
    min_age: int
    max_age: int | None  # None: no upper bound
    amount: Decimal

    def covers(self, age: int) -> bool:
        return age >= self.min_age and (self.max_age is None or age <= self.max_age)

    def describe(self) -> str:
        return f"{self.min_age}+" if self.max_age is None else f"{self.min_age}–{self.max_age}"


@dataclass(frozen=True)
class ScaleVersion:
    code: str
    label: str
    effective_from: date
    age_bands: tuple[AgeBand, ...]
    # Amounts that replace the age band when they are more favourable; None: not in this version.
    single_parent_amount: Decimal | None = None
    prior_work_record_amount: Decimal | None = None
    disabled_worker_minimum: Decimal | None = None
    # Disabled workers: prior monthly salary × this rate, at least the minimum above.
    disabled_worker_salary_rate: Decimal = Decimal("1")
    notes: tuple[str, ...] = field(default=())
    source: str = ""
    effective_until: date | None = None  # None: in force until a later version supersedes it


DEFAULT_SCALES: tuple[ScaleVersion, ...] = (
    ScaleVersion(
        code="1988",
        label="Barème avant le 1er mai 2021",
        effective_from=date(1988, 1, 1),
        age_bands=(
            AgeBand(16, 17, Decimal("130.34")),
            AgeBand(18, 20, Decimal("310.39")),
            AgeBand(21, 25, Decimal("339.35")),
            AgeBand(26, None, Decimal("401.09")),
        ),
        single_parent_amount=Decimal("652.02"),
        prior_work_record_amount=Decimal("652.02"),
        source="Code du travail R6341-33 and following (décret n° 88-368 of 15 April 1988, amounts revalued in 2002)",
        effective_until=date(2021, 4, 30),
    ),
    ScaleVersion(
        code="2021-05",
        label="Barème du décret 2021-522 (à partir du 1er mai 2021)",
        effective_from=date(2021, 5, 1),
        age_bands=(
            AgeBand(16, 17, Decimal("200.00")),
            AgeBand(18, 25, Decimal("500.00")),
            AgeBand(26, None, Decimal("685.00")),
        ),
        single_parent_amount=Decimal("685.00"),
        disabled_worker_minimum=Decimal("685.00"),
        source="décret n° 2021-522 du 29 avril 2021 (Code du travail D6341-24 and following)",
    ),
)


def scale_on(scales: tuple[ScaleVersion, ...], day: date) -> ScaleVersion:
    """The version in force on `day` (MissingRate when none is)."""
    return in_force(scales, day, "scale")


@dataclass(frozen=True)
class ScaleSituation:
    age: int
    single_parent: bool = False
    prior_work_record: bool = False
    disabled_worker: bool = False
    prior_monthly_salary: Decimal | None = None


def scale_amount(scale: ScaleVersion, situation: ScaleSituation) -> tuple[Decimal, str]:
    """The most favourable amount the situation gives in this scale, and why."""
    candidates: list[tuple[Decimal, str]] = []
    band = next((b for b in scale.age_bands if b.covers(situation.age)), None)
    if band:
        candidates.append((band.amount, f"age {situation.age}, band {band.describe()}: {euros(band.amount)}"))
    if situation.single_parent and scale.single_parent_amount is not None:
        candidates.append((scale.single_parent_amount, f"single parent (parent isolé): {euros(scale.single_parent_amount)}"))
    if situation.prior_work_record and scale.prior_work_record_amount is not None:
        candidates.append(
            (scale.prior_work_record_amount, f"prior work record, 6 months in the last 12: {euros(scale.prior_work_record_amount)}")
        )
    if situation.disabled_worker and scale.disabled_worker_minimum is not None:
        salary_based = (situation.prior_monthly_salary or ZERO) * scale.disabled_worker_salary_rate
        amount = max(scale.disabled_worker_minimum, salary_based)
        candidates.append(
            (amount, f"disabled worker (travailleur handicapé): prior salary based {euros(salary_based)}, "
                     f"at least {euros(scale.disabled_worker_minimum)} → {euros(amount)}")
        )
    if not candidates:
        return ZERO, f"age {situation.age}: no band of this scale applies"
    amount, reason = max(candidates, key=lambda c: c[0])
    if len(candidates) > 1:
        reason += " (the most favourable of: " + "; ".join(r for _, r in candidates) + ")"
    return amount, reason
