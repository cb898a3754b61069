"""The Pacte's monitoring indicators (DOMAIN.md §8), computed from plain facts. No I/O.

Definitions (our choices where the seed gives none, each value a policy field):
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


SEXES = ("F", "M")


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


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


def _share(entries: list[FileFacts], test: Callable[[FileFacts], bool], target: Decimal | None = None) -> Ratio:
    return Ratio(sum(1 for f in entries if test(f)), len(entries), target)


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
    result = {"all": _compute_one(files, sessions, period, policy, follow_up)}
    for sex in SEXES:
        result[sex] = _compute_one([f for f in files if f.sex == sex], sessions, period, policy, follow_up)
    return result


def _compute_one(files, sessions, period, policy, follow_up) -> IndicatorSet:
    entries = [f for f in files if period.contains(f.entry_date)]

    def long_term(f: FileFacts) -> bool:
        registered = f.jobseeker_registration_date
        return registered is not None and registered <= months_before(f.entry_date, policy.long_term_months)

    values: dict[str, Ratio | Average] = {
        "disabled_workers_share": _share(entries, lambda f: f.disabled_worker, policy.disabled_target),
        "low_qualified_share": _share(entries, lambda f: f.education_level in policy.low_qualified_levels),
        "long_term_jobseekers_share": _share(entries, long_term),
        "seniors_share": _share(entries, lambda f: age_on(f.birth_date, f.entry_date) >= policy.senior_age),
        "under_26_share": _share(entries, lambda f: age_on(f.birth_date, f.entry_date) < policy.young_age_limit),
        "qpv_share": _share(entries, lambda f: f.qpv),
    }

    in_scope = {s.session_id: s for s in sessions if period.overlaps(s.start_date, s.end_date)}
    filled = sum(1 for f in files if f.session_id in in_scope and f.entry_date is not None)
    values["places_filled_rate"] = Ratio(filled, sum(s.places for s in in_scope.values()))

    exits = [f for f in files if f.status == "exited" and period.contains(f.exit_date)]
    dropouts = [f for f in exits if f.exit_kind == "dropout"]
    values["dropout_rate"] = Ratio(len(dropouts), len(exits))
    values["dropout_for_job_rate"] = Ratio(sum(1 for f in dropouts if f.dropout_reason == "employment"), len(exits))
    values["average_realised_duration_days"] = Average(
        Decimal(sum((f.exit_date - f.entry_date).days + 1 for f in exits)), len(exits)
    )
    values["average_realised_hours"] = Average(sum((f.realised_hours for f in exits), Decimal("0")), len(exits))
    values["realised_hours_rate"] = Ratio(
        sum((f.realised_hours for f in exits), Decimal("0")), sum((f.programmed_hours for f in exits), Decimal("0"))
    )

    visa_assessed = [
        f for f in exits if f.pillar == "visa" and f.certification_result in ("obtained", "partial", "failed")
    ]
    values["visa_certification_success_rate"] = Ratio(
        sum(1 for f in visa_assessed if f.certification_result == "obtained"), len(visa_assessed)
    )

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
    values["visa_access_after_prepa_rate"] = Ratio(went_on, len(prepa_exit_by_person))
    return IndicatorSet(entries=len(entries), values=values)
