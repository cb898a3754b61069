"""The Indicators page: figures built from the insights service's `GET /indicators` (docs/insights.md).

The service computes every indicator (docs/rules.md §8) for a period and filters, for everyone
and by sex; the console only asks it the right questions (one call for the period, one per
month for the monthly series) and arranges the answers as charts and tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from console.backend import Backend
from console.figures import Figure
from console.periods import Month

# Labels of the indicators the service computes; an indicator it adds later (satisfaction,
# territory…) still shows, under its own name, in the "every indicator" table.
LABELS = {
    "entries": "Entries in training",
    "disabled_workers_share": "Disabled workers (share of entries)",
    "low_qualified_share": "Low-qualified, level IV and below (share of entries)",
    "long_term_jobseekers_share": "Long-term job seekers (share of entries)",
    "seniors_share": "50 and over at entry (share of entries)",
    "under_26_share": "Under 26 at entry (share of entries)",
    "qpv_share": "Residents of a QPV (share of entries)",
    "places_filled_rate": "Places taken / places offered",
    "dropout_rate": "Dropouts / exits",
    "dropout_for_job_rate": "Dropouts for a job / exits",
    "average_realised_duration_days": "Average realised duration (days)",
    "average_realised_hours": "Average realised hours",
    "realised_hours_rate": "Realised / programmed hours",
    "visa_certification_success_rate": "VISA certification obtained / assessed",
    "visa_access_after_prepa_rate": "PRÉPA exits going on to VISA",
}


@dataclass(frozen=True)
class IndicatorFilters:
    period_from: date | None = None
    period_to: date | None = None
    programme: str | None = None
    departement: str | None = None
    organisation: str | None = None
    territory: str | None = None
    compare: str | None = None  # "territory" or "departement": headline numbers side by side

    def params(self, **override) -> dict[str, Any]:
        params = {
            "from": self.period_from.isoformat() if self.period_from else None,
            "to": self.period_to.isoformat() if self.period_to else None,
            "programme": self.programme,
            "departement": self.departement,
            "organisation": self.organisation,
            "territory": self.territory,
            "compare": self.compare,
        }
        params.update(override)
        return {k: v for k, v in params.items() if v}


def _count(block: dict, name: str, part: str = "numerator") -> int:
    value = block.get(name) or {}
    return int(Decimal(str(value.get(part) or 0)))


async def load(backend: Backend, token: str, filters: IndicatorFilters, months: list[Month]) -> tuple[dict, list[dict]]:
    """The period's indicators, and one answer per month for the monthly series."""

    async def whole() -> dict:
        return await backend.get_json("insights", "/indicators", token=token, params=filters.params())

    def month_call(month: Month):
        async def call() -> dict:
            params = filters.params(**{"from": month.first_day.isoformat(), "to": month.last_day.isoformat(), "compare": None})
            return await backend.get_json("insights", "/indicators", token=token, params=params)

        return call

    answers = await backend.gather([whole, *(month_call(m) for m in months)])
    return answers[0], answers[1:]


def figures(period: dict, monthly: list[dict], months: list[Month]) -> list[Figure]:
    everyone = period["all"]
    women, men = period["by_sex"]["F"], period["by_sex"]["M"]
    entries = int(everyone["entries"])
    under_26, seniors = _count(everyone, "under_26_share"), _count(everyone, "seniors_share")
    low = _count(everyone, "low_qualified_share")
    exits, dropouts = _count(everyone, "dropout_rate", "denominator"), _count(everyone, "dropout_rate")
    for_a_job = _count(everyone, "dropout_for_job_rate")
    assessed, obtained = _count(everyone, "visa_certification_success_rate", "denominator"), _count(everyone, "visa_certification_success_rate")
    prepa_exits, went_on = _count(everyone, "visa_access_after_prepa_rate", "denominator"), _count(everyone, "visa_access_after_prepa_rate")

    def share(part: int, whole: int) -> str:
        return f"{Decimal(part) / Decimal(whole) * 100:.1f}" if whole else ""

    return [
        Figure(
            "entries-by-month", "Entries by month", ["month", "women", "men", "all"],
            [[str(m), a["by_sex"]["F"]["entries"], a["by_sex"]["M"]["entries"], a["all"]["entries"]] for m, a in zip(months, monthly, strict=True)],
            kind="stacked", charted=2,
        ),
        Figure("entries-by-sex", "Entries by sex", ["sex", "entries", "share (%)"],
               [["women", women["entries"], share(women["entries"], entries)], ["men", men["entries"], share(men["entries"], entries)]], charted=1),
        Figure(
            "entries-by-age", "Entries by age band (age at entry)", ["age band", "entries", "share (%)"],
            [["under 26", under_26, share(under_26, entries)],
             ["26 to 49", entries - under_26 - seniors, share(entries - under_26 - seniors, entries)],
             ["50 and over", seniors, share(seniors, entries)]], charted=1,
        ),
        Figure(
            "entries-by-level", "Entries by education level", ["level", "entries", "share (%)"],
            [["level IV and below", low, share(low, entries)], ["above level IV or not given", entries - low, share(entries - low, entries)]],
            charted=1,
        ),
        Figure(
            "entries-by-public", "Entries by public (a person may count in several)", ["public", "entries", "share (%)"],
            [[LABELS[name].split(" (")[0], _count(everyone, name), share(_count(everyone, name), entries)] for name in (
                "long_term_jobseekers_share", "low_qualified_share", "under_26_share", "seniors_share",
                "disabled_workers_share", "qpv_share",
            )], kind="hbar", charted=1,
        ),
        Figure(
            "places", "Places offered and taken (sessions running in the period)", ["places", "count"],
            [["offered", _count(everyone, "places_filled_rate", "denominator")], ["taken", _count(everyone, "places_filled_rate")]],
        ),
        Figure(
            "exits", "Exits: completions and dropouts with their reason", ["exit", "count"],
            [["completed", exits - dropouts], ["dropout for a job", for_a_job], ["dropout for another reason", dropouts - for_a_job]],
        ),
        Figure(
            "certification", "VISA certification results (assessed exits)", ["result", "count"],
            [["obtained", obtained], ["partial or failed", assessed - obtained]],
        ),
        Figure(
            "prepa-to-visa", "PRÉPA → VISA paths (people leaving PRÉPA in the period)", ["path", "people"],
            [["went on to VISA", went_on], ["not (yet) in VISA", prepa_exits - went_on]],
        ),
        satisfaction(period.get("satisfaction") or {}),
        *([comparison(period["compare"])] if period.get("compare") else []),
    ]


MARK_LABELS = {
    "overall": "Overall (note globale)", "accueil": "Welcome (accueil)", "contenu": "Content (contenu)",
    "equipe_formateurs": "Trainers (équipe de formateurs)", "moyens_materiels": "Equipment (moyens matériels)",
    "accompagnement": "Support (accompagnement)",
}


def satisfaction(block: dict) -> Figure:
    """ANOTEA: the mean of each mark (1 to 5) over the reviews dated in the period."""
    responses = int(block.get("responses") or 0)
    means = block.get("mean_marks") or {}
    return Figure(
        "satisfaction", f"Trainee satisfaction (ANOTEA): mean marks out of 5, {responses} review(s)", ["mark", "mean (1-5)", "reviews"],
        [[label, means.get(name), responses] for name, label in MARK_LABELS.items()], kind="hbar", charted=1,
        note="Reviews imported from ANOTEA (POST /satisfaction/imports), dated in the period, for the same filters.",
    )


def comparison(block: dict) -> Figure:
    """Headline numbers side by side, by territory or by département."""
    by = block.get("by", "territory")
    return Figure(
        f"compare-{by}", f"By {'territory' if by == 'territory' else 'département'}",
        [by, "entries", "exits", "dropouts", "places offered", "places taken", "reviews", "mean overall mark"],
        [[row["key"] or "(none)", row["entries"], row["exits"], row["dropouts"], row["places_offered"], row["places_filled"],
          row["satisfaction"]["responses"], row["satisfaction"]["mean_marks"].get("overall")] for row in block.get("rows", [])],
        charted=2,
    )


def every_indicator(period: dict) -> Figure:
    """Every indicator the service returned, for everyone and by sex (no chart: mixed units)."""
    everyone, women, men = period["all"], period["by_sex"]["F"], period["by_sex"]["M"]
    rows = []
    for name, value in everyone.items():
        shown = _as_percent if name.endswith(("_share", "_rate")) else _value
        numerator, denominator = _cells(value)
        rows.append([LABELS.get(name, name.replace("_", " ")), shown(value), numerator, denominator,
                     shown(women.get(name)), shown(men.get(name)), shown(_target(value))])
    return Figure("all-indicators", "Every indicator", ["indicator", "value", "numerator", "denominator", "women", "men", "target"], rows)


def _cells(value: Any) -> tuple:
    """The numerator and denominator an indicator was computed from, when it says."""
    if isinstance(value, dict):
        return value.get("numerator", value.get("total")), value.get("denominator", value.get("count"))
    return "", ""


def _as_percent(value: Any) -> str | None:
    """A share or a rate as operators read it: 0.1277 → '12.8 %'."""
    share = _value(value)
    return None if share is None else f"{Decimal(str(share)) * 100:.1f} %"


def _value(value: Any):
    if isinstance(value, dict):
        return value.get("value")
    return value


def _target(value: Any):
    return value.get("target") if isinstance(value, dict) else None


RESULT_LABELS = {"employment": "in employment", "lasting_employment": "in lasting employment", "training": "in training"}
SEX_LABELS = {"F": "Women", "M": "Men"}


def _percent(value) -> str | None:
    return None if value is None else f"{Decimal(str(value)) * 100:.1f}"


def results(block: dict) -> Figure:
    """The result indicators (`GET /indicators/results`), when the service has them: the
    share of respondents in employment, lasting employment or training at the horizon, for
    everyone and by sex, each row with its response rate so a share on three answers is not read
    as a fact."""
    scopes = [("Everyone", block.get("all") or {})]
    scopes += [(SEX_LABELS.get(sex, sex), group) for sex, group in sorted((block.get("by_sex") or {}).items())]

    def row(label: str, group: dict) -> list:
        shares = [_percent((group.get(name) or {}).get("value")) for name in RESULT_LABELS]
        low = " (low base)" if (group.get("employment") or {}).get("low_base") else ""
        return [f"{label}{low}", *shares, group.get("respondents", 0), group.get("population", 0), _percent(group.get("response_rate"))]

    return Figure(
        "results", f"Results {block.get('horizon_months', '')} months after the exit (share of respondents, %)",
        ["scope", *(f"{label} (%)" for label in RESULT_LABELS.values()), "respondents", "people who left", "response rate (%)"],
        [row(label, group) for label, group in scopes], kind="bar", charted=len(RESULT_LABELS),
        note="From insights' GET /indicators/results (exits in the period, same filters); "
             "\"low base\": fewer respondents than the service's minimum, read with care.",
    )
