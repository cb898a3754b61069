"""The public search's rules (docs/public-search.md): French stems of a text, the codes a query
may name, distances, statistical confidentiality of marks and results. Pure: no I/O.

- **Stems**: words of title and objectives, lower-cased, reduced by the Snowball French stemmer
  (the algorithm PostgreSQL's `french` text search configuration uses), so "formations" finds
  "formation" on both databases.
- **Distance**: an equirectangular approximation (a degree of latitude is 111.195 km, a degree
  of longitude that times the cosine of the latitude): within 0.5 % of the great circle under
  200 km, the largest radius a query may ask.
- **Statistical confidentiality**: no figure computed on fewer people than `min_base` is shown,
  neither a mean mark nor a number of reviews, nor a share in employment nor its population.
"""

from __future__ import annotations

import math
import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cache, lru_cache

import snowballstemmer
from pacte_common.clock import months_before
from pacte_common.contracts.outcomes import JOBS, SOURCE_PRIORITY, OutcomeSituation

KM_PER_DEGREE = 111.195
MAX_RADIUS_KM = 200
MARKS = ("overall", "accueil", "contenu", "equipe_formateurs", "moyens_materiels", "accompagnement")
MARK_QUANTUM = Decimal("0.01")
RATE_QUANTUM = Decimal("0.0001")
RESULT_HORIZON_MONTHS = 6
# The codes a query may name, as their referentials write them.
CODE_PATTERNS = {
    "formacode": re.compile(r"^\d{5}$"),  # FORMACODE: five digits
    "rome": re.compile(r"^[A-N]\d{4}$"),  # ROME: a letter A-N and four digits
    "nsf": re.compile(r"^\d{3}[a-z]?$"),  # NSF: three digits, optionally a letter (specialty)
}
_WORD = re.compile(r"\w+", re.UNICODE)
# Words too common to find anything, dropped before stemming (articles, prepositions).
STOP_WORDS = frozenset(
    "a à au aux avec ce ces d dans de des du en et l la le les leur mais ou où par pour qu que qui sa se ses son sur un une".split()
)


@cache
def _stemmer():
    return snowballstemmer.stemmer("french")


def words_of(text: str) -> list[str]:
    """The words of a text, lower-cased, without stop words (apostrophes split: "l'agent")."""
    return [w for w in (m.group(0).lower() for m in _WORD.finditer(text or "")) if w not in STOP_WORDS]


def stems(text: str) -> list[str]:
    """The French stems of a text's words, accents removed after stemming (so "métier" and
    "metier" meet), in order, repeated as the text repeats them."""
    return [stem for stem in map(_plain_stem, words_of(text)) if stem]


@lru_cache(maxsize=65_536)
def _plain_stem(word: str) -> str:
    # A feed's titles and objectives repeat the same few thousand words: stem each once.
    return _plain(_stemmer().stemWord(word))


def _plain(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))


def searchable_text(title: str, objectives: str | None) -> str:
    """What the keyword search reads: the title and the objectives (LHEO objectif-formation)."""
    return " ".join(part for part in (title, objectives) if part)


def offer_codes(codes: dict[str, list[str]]) -> set[tuple[str, str]]:
    """(kind, code) of an action: its FORMACODE codes (its own and the formation's), NSF, ROME codes."""
    return {(kind, code) for kind in ("formacode", "nsf", "rome") for code in codes.get(kind, [])}


def invalid_code(kind: str, code: str) -> bool:
    return not CODE_PATTERNS[kind].match(code)


@dataclass(frozen=True)
class Around:
    """A circle on the map: its centre and radius; `box` and `within` are what SQL can compute."""

    latitude: float
    longitude: float
    radius_km: float

    @property
    def longitude_factor(self) -> float:
        return math.cos(math.radians(self.latitude))

    def box(self) -> tuple[float, float, float, float]:
        """(south, north, west, east) bounds in degrees."""
        dlat = self.radius_km / KM_PER_DEGREE
        dlon = dlat / max(self.longitude_factor, 0.01)
        return self.latitude - dlat, self.latitude + dlat, self.longitude - dlon, self.longitude + dlon

    def distance_km(self, latitude: float, longitude: float) -> float:
        dx = (longitude - self.longitude) * self.longitude_factor
        dy = latitude - self.latitude
        return math.hypot(dx, dy) * KM_PER_DEGREE


def parse_point(value: str) -> tuple[float, float] | None:
    """`"47.2184,-1.5536"` → (latitude, longitude), None when it is not a point."""
    parts = value.split(",")
    if len(parts) != 2:
        return None
    try:
        latitude, longitude = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    return (latitude, longitude) if -90 <= latitude <= 90 and -180 <= longitude <= 180 else None


# ---------------------------------------------------------------- marks and results


@dataclass(frozen=True)
class Marks:
    """Mean ANOTEA marks of a group of reviews; nothing when fewer than the minimum base."""

    reviews: int | None
    below_min_base: bool
    means: dict[str, Decimal | None]


def mean_marks(count: int, sums: dict[str, Decimal | float | None], min_base: int, *, withheld_part: int = 0) -> Marks:
    """The means, or nothing below the minimum base. `withheld_part`: how many of these reviews
    belong to groups withheld on their own (an organisation's trainings below the base); when
    that part is itself under the base, the whole is withheld too, or the difference between the
    whole and the published groups would give the withheld reviews' marks (docs/public-search.md)."""
    if count < min_base or count == 0 or 0 < withheld_part < min_base:
        return Marks(None, count > 0, {name: None for name in MARKS})
    means = {
        name: (Decimal(str(sums[name])) / count).quantize(MARK_QUANTUM, rounding=ROUND_HALF_UP) if sums.get(name) is not None else None
        for name in MARKS
    }
    return Marks(count, False, means)


@dataclass(frozen=True)
class Result:
    """The share in employment at the horizon, with its population and response rate; nothing
    (only `below_min_base`) when fewer than the minimum base answered."""

    horizon_months: int
    population: int | None
    respondents: int | None
    response_rate: Decimal | None
    employment_rate: Decimal | None
    below_min_base: bool


def months_after(day: date, months: int) -> date:
    return months_before(day, -months)


def rate(numerator: int, denominator: int) -> Decimal | None:
    """numerator / denominator to 4 decimals, half up; None without a denominator."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)


def situation_that_counts(outcomes: dict[str, OutcomeSituation]) -> OutcomeSituation | None:
    """One file's situation at the horizon: by source priority, an unknown is no answer."""
    for source in SOURCE_PRIORITY:
        situation = outcomes.get(source.value)
        if situation is not None and situation is not OutcomeSituation.UNKNOWN:
            return situation
    return None


def employment_result(exits: Iterable[tuple[uuid.UUID, date]], outcomes: dict[uuid.UUID, dict[str, OutcomeSituation]],
                      today: date, min_base: int, horizon: int = RESULT_HORIZON_MONTHS) -> Result:
    """`exits`: (file id, exit date) of the exited files; their horizon must be reached by `today`."""
    population = [file_id for file_id, exit_date in exits if months_after(exit_date, horizon) <= today]
    situations = [s for s in (situation_that_counts(outcomes.get(f, {})) for f in population) if s is not None]
    if len(situations) < min_base:
        return Result(horizon, None, None, None, None, bool(population))
    return Result(
        horizon_months=horizon,
        population=len(population),
        respondents=len(situations),
        response_rate=rate(len(situations), len(population)),
        employment_rate=rate(sum(1 for s in situations if s in JOBS), len(situations)),
        below_min_base=False,
    )


def next_meeting(meetings: Iterable[str], today: date) -> date | None:
    """The first information meeting on or after today (ISO dates; anything else is skipped)."""
    upcoming = []
    for meeting in meetings or []:
        try:
            day = date.fromisoformat(str(meeting)[:10])
        except ValueError:
            continue
        if day >= today:
            upcoming.append(day)
    return min(upcoming, default=None)
