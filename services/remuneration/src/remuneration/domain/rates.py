"""Rates as versioned tables: each version has its effective dates and its source (docs/rules.md §5.2, docs/remuneration.md).

A month is computed with the versions in force on its first day. A month for which a table has
no version in force is not computed: `MissingRate` names the table and the day, so an operator
adds the figure (settings, JSON) instead of the month being paid with another year's figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol, TypeVar

from remuneration.domain.money import cents

RATE_LABELS = {
    "scale": "public trainee remuneration scale",
    "minimum_wage": "net minimum wage (SMIC) for the daily floor of the differential top-up",
    "region_top_ups": "Region top-ups",
    "transport_allowance": "transport allowance",
}


class MissingRate(LookupError):
    """No version of a rate table is in force on a day: the month cannot be computed."""

    def __init__(self, rate: str, day: date):
        super().__init__(f"no {RATE_LABELS.get(rate, rate)} in force on {day.isoformat()}")
        self.rate, self.day = rate, day


class Versioned(Protocol):
    effective_from: date
    effective_until: date | None


V = TypeVar("V", bound=Versioned)


def in_force(table: tuple[V, ...], day: date, rate: str) -> V:
    """The version whose period (effective_from to effective_until, both included) holds `day`.

    When periods overlap, the latest effective_from wins (a later text supersedes).
    """
    candidates = [v for v in table if v.effective_from <= day and (v.effective_until is None or day <= v.effective_until)]
    if not candidates:
        raise MissingRate(rate, day)
    return max(candidates, key=lambda v: v.effective_from)


@dataclass(frozen=True)
class MinimumWageVersion:
    """The net monthly minimum wage (35 h a week) and the daily floor derived from it.

    The daily floor of the differential top-up is `floor_share` (80 %) × net monthly × 12 / 365,
    rounded to the cent, unless the version states the floor itself (`daily_floor`: the Region's
    own figure, as the Pacte §III.2 does for 2019).
    """

    effective_from: date
    effective_until: date | None
    net_monthly: Decimal | None
    source: str
    daily_floor: Decimal | None = None

    def floor(self, floor_share: Decimal) -> tuple[Decimal, str]:
        if self.daily_floor is not None:
            return self.daily_floor, f"{self.daily_floor} € a day as stated by {self.source}"
        if self.net_monthly is None:
            raise ValueError("a minimum wage version needs net_monthly or daily_floor")
        amount = cents(floor_share * self.net_monthly * 12 / 365)
        return amount, (
            f"{floor_share} × net minimum wage {self.net_monthly} € a month × 12 / 365 = {amount} € a day "
            f"(in force from {self.effective_from.isoformat()}, {self.source})"
        )


@dataclass(frozen=True)
class TopUpVersion:
    """Region top-ups (Pacte §III.2, docs/rules.md §5.3); only the single most favourable one applies."""

    effective_from: date
    effective_until: date | None
    jobseeker: Decimal
    first_time_jobseeker: Decimal
    single_parent: Decimal
    source: str


@dataclass(frozen=True)
class TransportVersion:
    """A flat monthly transport allowance, multiplied by the Pacte."""

    effective_from: date
    effective_until: date | None
    monthly: Decimal
    multiplier: Decimal
    source: str

    @property
    def full(self) -> Decimal:
        return self.monthly * self.multiplier


SMIC_SOURCE = "net figure as published by the Ministry of Labour for 35 h a week"

DEFAULT_MINIMUM_WAGES: tuple[MinimumWageVersion, ...] = (
    MinimumWageVersion(date(2019, 1, 1), date(2019, 12, 31), Decimal("1204.19"),
                       "Pacte Pays de la Loire 2019-2022, §III.2: 80 % du SMIC = 30,25 € net par jour",
                       daily_floor=Decimal("30.25")),
    MinimumWageVersion(date(2020, 1, 1), date(2020, 12, 31), Decimal("1219.00"),
                       f"décret n° 2019-1387 du 18 décembre 2019; {SMIC_SOURCE}"),
    MinimumWageVersion(date(2021, 1, 1), date(2021, 9, 30), Decimal("1231.00"),
                       f"décret n° 2020-1598 du 16 décembre 2020; {SMIC_SOURCE}"),
    MinimumWageVersion(date(2021, 10, 1), date(2021, 12, 31), Decimal("1258.58"),
                       f"arrêté du 27 septembre 2021; {SMIC_SOURCE}"),
    MinimumWageVersion(date(2022, 1, 1), date(2022, 4, 30), Decimal("1269.03"),
                       f"décret n° 2021-1741 du 22 décembre 2021; {SMIC_SOURCE}"),
    MinimumWageVersion(date(2022, 5, 1), date(2022, 7, 31), Decimal("1302.64"),
                       f"arrêté du 29 avril 2022; {SMIC_SOURCE}"),
    MinimumWageVersion(date(2022, 8, 1), date(2022, 12, 31), Decimal("1329.05"),
                       f"arrêté du 29 juillet 2022; {SMIC_SOURCE}"),
    MinimumWageVersion(date(2023, 1, 1), date(2023, 4, 30), Decimal("1353.07"),
                       f"décret n° 2022-1608 du 22 décembre 2022; {SMIC_SOURCE}"),
    MinimumWageVersion(date(2023, 5, 1), date(2023, 12, 31), Decimal("1383.08"),
                       f"arrêté du 26 avril 2023; {SMIC_SOURCE}"),
    MinimumWageVersion(date(2024, 1, 1), date(2024, 10, 31), Decimal("1398.69"),
                       f"décret n° 2023-1216 du 20 décembre 2023; {SMIC_SOURCE}"),
    # Not revalued on 2025-01-01 (the November 2024 revaluation came first): in force to the end of 2025.
    MinimumWageVersion(date(2024, 11, 1), date(2025, 12, 31), Decimal("1426.30"),
                       f"arrêté du 23 octobre 2024; {SMIC_SOURCE}"),
    # +1.18 % on 2026-01-01 (12.02 € gross an hour, 1,823.03 € gross a month).
    MinimumWageVersion(date(2026, 1, 1), date(2026, 12, 31), Decimal("1443.11"),
                       f"décret portant relèvement du salaire minimum de croissance (conseil des ministres du "
                       f"17 décembre 2025); {SMIC_SOURCE}"),
)

PACTE_SOURCE = "Pacte régional d'investissement dans les compétences Pays de la Loire 2019-2022, §III.2"

DEFAULT_TOP_UPS: tuple[TopUpVersion, ...] = (
    TopUpVersion(date(2019, 1, 1), None, Decimal("15.00"), Decimal("65.00"), Decimal("350.00"), PACTE_SOURCE),
)

DEFAULT_TRANSPORT: tuple[TransportVersion, ...] = (
    # The Pacte gives no amount: 20 € a month is a setting of ours, doubled by the Pacte.
    TransportVersion(date(2019, 1, 1), None, Decimal("20.00"), Decimal("2"),
                     f"{PACTE_SOURCE}: flat amount doubled by the Pacte; the base amount is a Region setting"),
)
