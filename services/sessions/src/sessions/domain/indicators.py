"""The profile's fields a file keeps as columns, written with the profile. The indicators
and the result indicators are insights' (docs/insights.md). No I/O."""

from __future__ import annotations

from datetime import date

# The fields of a person's profile the indicators count: a training file keeps them beside
# the profile, as columns of its own (written with the profile).
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
