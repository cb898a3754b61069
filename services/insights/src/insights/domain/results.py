"""What became of trainees after their exit: the result indicators' rules (docs/outcomes.md,
"Result indicators"). No I/O; the counts come from the SQL of db/results.py, the one
definition, held in the tests to an in-memory oracle (tests/test_results.py).

- the *population* at a horizon H: files exited (never cancelled) in the period whose horizon
  is reached on the as-of day: H months after the exit (clamped to the month's end) is on or
  before it;
- a *respondent*: a file of the population with a known situation at H — the survey's, else
  France Travail's, else the organisation's outcome; `unknown` is no answer;
- *access to employment* = respondents in any job / respondents; *lasting employment* (the
  DARES convention) = permanent job, fixed-term of 6 months or more, business creation;
  *access to training* = respondents in training / respondents; each with its response rate;
- *PRÉPA → VISA flow*: people of the population's files with a PRÉPA exit in the period, share
  of whom entered a VISA training within `window_months` after their first such exit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pacte_common.clock import months_before
from pacte_common.contracts.outcomes import JOBS, LASTING_JOBS, Horizon, OutcomeSituation

from insights.domain.indicators import Period, Ratio

TARGET_PUBLICS = ("disabled_workers", "low_qualified", "long_term_jobseekers", "seniors", "under_26", "qpv")
BREAKDOWNS = ("sex", "public", "pillar", "programme", "departement", "territory")
NO_TERRITORY = "(none)"
SEXES = ("F", "M")


def category(situation: OutcomeSituation) -> int:
    """How a known situation counts: 1 lasting job, 2 other job, 3 training, 4 neither."""
    if situation in LASTING_JOBS:
        return 1
    if situation in JOBS:
        return 2
    return 3 if situation is OutcomeSituation.TRAINING else 4


def horizon_cutoff(as_of: date, horizon: int) -> date:
    """The latest exit whose horizon is reached on `as_of`: an exit `e` is reached when `e` plus
    `horizon` months (clamped to the month's end) is on or before `as_of`. On a month's last day
    every exit of the month `horizon` months before is reached (31 August + 6 months is 28 February)."""
    if (as_of + timedelta(days=1)).day == 1:
        return months_before(as_of.replace(day=1), horizon - 1) - timedelta(days=1)
    return months_before(as_of, horizon)


@dataclass(frozen=True)
class ResultFilters:
    period_from: date | None = None
    period_to: date | None = None
    programme: str | None = None
    departement: str | None = None
    territory: str | None = None
    organisation: str | None = None
    horizon: Horizon = Horizon.SIX_MONTHS

    @property
    def period(self) -> Period:
        return Period(self.period_from, self.period_to)


@dataclass(frozen=True)
class ResultGroup:
    """The result figures of one group, each to be read with the group's response rate."""

    population: int = 0
    respondents: int = 0
    employed: int = 0
    lasting: int = 0
    in_training: int = 0

    @property
    def response_rate(self) -> Ratio:
        return Ratio(self.respondents, self.population)

    @property
    def employment(self) -> Ratio:
        return Ratio(self.employed, self.respondents)

    @property
    def lasting_employment(self) -> Ratio:
        return Ratio(self.lasting, self.respondents)

    @property
    def training(self) -> Ratio:
        return Ratio(self.in_training, self.respondents)


@dataclass
class Results:
    filters: ResultFilters
    as_of: date
    all: ResultGroup
    by: dict[str, dict[str, ResultGroup]]
    prepa_to_visa: Ratio
    prepa_to_visa_by_sex: dict[str, Ratio]
