"""The Pacte's monitoring indicators (docs/rules.md §8): their policy and how each follows from
the counts the database aggregates (db/indicators.py). No I/O. The in-memory definition the SQL
is held to lives in the tests (tests/test_domain_indicators.py), as an oracle only.

Definitions (our choices where the Pacte (§V.2, docs/rules.md §8) gives none, each value a policy field):
- *entries*: files whose entry date falls in the period (cancelled files never count).
- target-public shares: among those entries, the share of disabled workers (against
  `disabled_target`), low-qualified (level IV and below), long-term job seekers (registered
  `long_term_months`+ months before entry), seniors (`senior_age`+ at entry), under-26s
  (below `young_age_limit` at entry), residents of a QPV.
- places filled / opened: over the sessions whose period overlaps the period, the files that
  entered them over the places they opened.
- *exits*: files whose exit date falls in the period. Dropout rate = dropouts / exits;
  dropout for a job = dropouts with reason `employment` / exits. Average realised duration
  in days (entry to exit, both included) and in realised hours; realised / programmed hours.
- certification success for VISA: VISA exits with certification `obtained` over those
  assessed (`obtained`, `partial`, `failed`).
- access to VISA after PRÉPA: people with a PRÉPA exit in the period, share of whom entered
  a VISA training on or after that exit (looked up among all files, whatever the filters).
Each indicator comes for everyone and broken down by sex.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from pacte_common.clock import age_on, months_before

RATE_QUANTUM = Decimal("0.0001")
DURATION_QUANTUM = Decimal("0.01")


@dataclass(frozen=True)
class Period:
    start: date | None = None
    end: date | None = None

    def contains(self, day: date | None) -> bool:
        if day is None:
            return False
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def overlaps(self, start: date, end: date) -> bool:
        return (self.start is None or end >= self.start) and (self.end is None or start <= self.end)


@dataclass(frozen=True)
class IndicatorPolicy:
    disabled_target: Decimal = Decimal("0.15")
    senior_age: int = 50
    young_age_limit: int = 26
    long_term_months: int = 12
    low_qualified_levels: frozenset[str] = frozenset({"below_v", "v", "iv"})


@dataclass(frozen=True)
class Ratio:
    numerator: Decimal | int
    denominator: Decimal | int
    target: Decimal | None = None

    @property
    def value(self) -> Decimal | None:
        if not self.denominator:
            return None
        return (Decimal(self.numerator) / Decimal(self.denominator)).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)

    @property
    def meets_target(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.value >= self.target


@dataclass(frozen=True)
class Average:
    total: Decimal
    count: int

    @property
    def value(self) -> Decimal | None:
        if not self.count:
            return None
        return (Decimal(self.total) / self.count).quantize(DURATION_QUANTUM, rounding=ROUND_HALF_UP)


@dataclass
class IndicatorSet:
    entries: int
    values: dict[str, Ratio | Average] = field(default_factory=dict)


@dataclass(frozen=True)
class Aggregates:
    """Counts and sums of one scope (everyone or one sex) from which every indicator follows."""

    entries: int = 0
    disabled: int = 0
    low_qualified: int = 0
    long_term: int = 0
    seniors: int = 0
    under_26: int = 0
    qpv: int = 0
    places_offered: int = 0
    places_filled: int = 0
    exits: int = 0
    dropouts: int = 0
    dropouts_for_job: int = 0
    duration_days: int = 0
    realised_hours: Decimal = Decimal("0")
    programmed_hours: Decimal = Decimal("0")
    visa_assessed: int = 0
    visa_obtained: int = 0
    prepa_people: int = 0
    prepa_went_on: int = 0


SEXES = ("F", "M")

def whole_months(earlier: date, later: date) -> int:
    """The most months `m` with `earlier` on or before `months_before(later, m)`: whole months
    from one day to the other (negative when `earlier` is after `later`)."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months if earlier <= months_before(later, months) else months - 1


def entry_facts(birth_date: date, registration_date: date | None, entry_date: date | None) -> dict:
    """What a file keeps of its person for the indicators, on its entry date: whole years of
    age (someone born on 29 February comes of age on 1 March) and whole months registered as a
    job seeker (long-term when `long_term_months` or more). None before the entry."""
    if entry_date is None:
        return {"age_at_entry": None, "registration_months_at_entry": None}
    registered = whole_months(registration_date, entry_date) if registration_date else None
    return {"age_at_entry": age_on(birth_date, entry_date), "registration_months_at_entry": registered}


def assemble(a: Aggregates, policy: IndicatorPolicy) -> IndicatorSet:
    """The indicators of one scope from its counts and sums (SQL or in memory alike)."""
    values: dict[str, Ratio | Average] = {
        "disabled_workers_share": Ratio(a.disabled, a.entries, policy.disabled_target),
        "low_qualified_share": Ratio(a.low_qualified, a.entries),
        "long_term_jobseekers_share": Ratio(a.long_term, a.entries),
        "seniors_share": Ratio(a.seniors, a.entries),
        "under_26_share": Ratio(a.under_26, a.entries),
        "qpv_share": Ratio(a.qpv, a.entries),
        "places_filled_rate": Ratio(a.places_filled, a.places_offered),
        "dropout_rate": Ratio(a.dropouts, a.exits),
        "dropout_for_job_rate": Ratio(a.dropouts_for_job, a.exits),
        "average_realised_duration_days": Average(Decimal(a.duration_days), a.exits),
        "average_realised_hours": Average(Decimal(a.realised_hours), a.exits),
        "realised_hours_rate": Ratio(Decimal(a.realised_hours), Decimal(a.programmed_hours)),
        "visa_certification_success_rate": Ratio(a.visa_obtained, a.visa_assessed),
        "visa_access_after_prepa_rate": Ratio(a.prepa_went_on, a.prepa_people),
    }
    return IndicatorSet(entries=a.entries, values=values)


MARK_QUANTUM = Decimal("0.01")
SATISFACTION_MARKS = ("overall", "accueil", "contenu", "equipe_formateurs", "moyens_materiels", "accompagnement")


@dataclass(frozen=True)
class Satisfaction:
    """ANOTEA reviews of a scope: how many, and the sum of each mark (means are derived)."""

    responses: int = 0
    sums: dict[str, Decimal] = field(default_factory=dict)

    def means(self) -> dict[str, Decimal | None]:
        if not self.responses:
            return {name: None for name in SATISFACTION_MARKS}
        return {name: (Decimal(self.sums.get(name) or 0) / self.responses).quantize(MARK_QUANTUM, rounding=ROUND_HALF_UP)
                for name in SATISFACTION_MARKS}
