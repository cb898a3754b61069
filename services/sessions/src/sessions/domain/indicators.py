"""The Pacte's monitoring indicators (docs/rules.md §8), computed from plain facts. No I/O.

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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from pacte_common.clock import age_on

RATE_QUANTUM = Decimal("0.0001")
DURATION_QUANTUM = Decimal("0.01")


@dataclass(frozen=True)
class FileFacts:
    dossier_id: UUID
    person_id: UUID
    session_id: UUID
    sex: str
    birth_date: date
    education_level: str | None
    jobseeker_registration_date: date | None
    disabled_worker: bool
    qpv: bool
    pillar: str
    status: str
    entry_date: date | None
    exit_date: date | None = None
    exit_kind: str | None = None
    dropout_reason: str | None = None
    certification_result: str | None = None
    realised_hours: Decimal = Decimal("0")
    programmed_hours: Decimal = Decimal("0")


@dataclass(frozen=True)
class SessionFacts:
    session_id: UUID
    places: int
    start_date: date
    end_date: date


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

# The fields of a person's profile the indicators count: a training file keeps them beside
# the profile, as columns of its own (written with the profile, read by db/indicators.py).
PROFILE_FACTS = ("sex", "birth_date", "education_level", "jobseeker_registration_date", "disabled_worker", "qpv")


def profile_facts(profile: dict) -> dict:
    """The indicator fields of a profile (PersonProfile as JSON) as the file's columns hold them."""

    def day(name: str) -> date | None:
        value = profile.get(name)
        return date.fromisoformat(value) if isinstance(value, str) else value

    return {
        "sex": profile["sex"], "birth_date": day("birth_date"), "education_level": profile.get("education_level"),
        "jobseeker_registration_date": day("jobseeker_registration_date"),
        "disabled_worker": bool(profile.get("disabled_worker")), "qpv": bool(profile.get("qpv")),
    }


def months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    # clamp to the month's last day (e.g. 31 March − 1 month → 28/29 February)
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def compute(
    files: Iterable[FileFacts],
    sessions: Iterable[SessionFacts],
    period: Period,
    policy: IndicatorPolicy,
    follow_up_files: Iterable[FileFacts] | None = None,
) -> dict[str, IndicatorSet]:
    """Indicators for everyone (`all`) and by sex (`F`, `M`).

    `files` are the files within the filters (programme, département, organisation);
    `follow_up_files` are all files, where a VISA entry after a PRÉPA exit is looked up.
    """
    files = [f for f in files if f.status != "cancelled"]
    follow_up = [f for f in (follow_up_files if follow_up_files is not None else files) if f.status != "cancelled"]
    sessions = list(sessions)
    result = {"all": assemble(aggregate_in_memory(files, sessions, period, policy, follow_up), policy)}
    for sex in SEXES:
        scoped = [f for f in files if f.sex == sex]
        result[sex] = assemble(aggregate_in_memory(scoped, sessions, period, policy, follow_up), policy)
    return result


def aggregate_in_memory(files, sessions, period, policy, follow_up) -> Aggregates:
    """The counts and sums of one scope, from the facts: the executable definition that the
    SQL aggregation of db/indicators.py must match (tests/test_indicators_sql.py)."""
    entries = [f for f in files if period.contains(f.entry_date)]

    def long_term(f: FileFacts) -> bool:
        registered = f.jobseeker_registration_date
        return registered is not None and registered <= months_before(f.entry_date, policy.long_term_months)

    def count(items, test: Callable[[FileFacts], bool]) -> int:
        return sum(1 for f in items if test(f))

    in_scope = {s.session_id: s for s in sessions if period.overlaps(s.start_date, s.end_date)}
    exits = [f for f in files if f.status == "exited" and period.contains(f.exit_date)]
    dropouts = [f for f in exits if f.exit_kind == "dropout"]
    visa_assessed = [f for f in exits if f.pillar == "visa" and f.certification_result in ("obtained", "partial", "failed")]

    prepa_exit_by_person: dict[UUID, date] = {}
    for f in exits:
        if f.pillar == "prepa":
            earliest = prepa_exit_by_person.get(f.person_id)
            prepa_exit_by_person[f.person_id] = min(earliest, f.exit_date) if earliest else f.exit_date
    visa_entries: dict[UUID, list[date]] = {}
    for f in follow_up:
        if f.pillar == "visa" and f.entry_date is not None:
            visa_entries.setdefault(f.person_id, []).append(f.entry_date)
    went_on = sum(
        1 for person, exited_on in prepa_exit_by_person.items()
        if any(entered >= exited_on for entered in visa_entries.get(person, []))
    )
    return Aggregates(
        entries=len(entries),
        disabled=count(entries, lambda f: f.disabled_worker),
        low_qualified=count(entries, lambda f: f.education_level in policy.low_qualified_levels),
        long_term=count(entries, long_term),
        seniors=count(entries, lambda f: age_on(f.birth_date, f.entry_date) >= policy.senior_age),
        under_26=count(entries, lambda f: age_on(f.birth_date, f.entry_date) < policy.young_age_limit),
        qpv=count(entries, lambda f: f.qpv),
        places_offered=sum(s.places for s in in_scope.values()),
        places_filled=count(files, lambda f: f.session_id in in_scope and f.entry_date is not None),
        exits=len(exits),
        dropouts=len(dropouts),
        dropouts_for_job=count(dropouts, lambda f: f.dropout_reason == "employment"),
        duration_days=sum((f.exit_date - f.entry_date).days + 1 for f in exits),
        realised_hours=sum((f.realised_hours for f in exits), Decimal("0")),
        programmed_hours=sum((f.programmed_hours for f in exits), Decimal("0")),
        visa_assessed=len(visa_assessed),
        visa_obtained=count(visa_assessed, lambda f: f.certification_result == "obtained"),
        prepa_people=len(prepa_exit_by_person),
        prepa_went_on=went_on,
    )


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
