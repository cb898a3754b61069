"""What sessions keeps of the indicators' rules: the target publics' policy (the result
indicators of docs/outcomes.md judge them at entry) and the profile's fields a file keeps as
columns. The monitoring indicators themselves are insights' (docs/insights.md). No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class IndicatorPolicy:
    senior_age: int = 50
    young_age_limit: int = 26
    long_term_months: int = 12
    low_qualified_levels: frozenset[str] = frozenset({"below_v", "v", "iv"})


# The fields of a person's profile the indicators count: a training file keeps them beside
# the profile, as columns of its own (written with the profile, read by the result indicators).
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
