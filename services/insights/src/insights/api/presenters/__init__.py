"""Turns the aggregated indicators, results, skills passports and trajectories into response bodies,
JSON or CSV text (docs/developing.md, "Rendering and access rules")."""

from __future__ import annotations

from uuid import UUID

from pacte_common.csv_export import CsvWriter

from insights.api.schemas import (
    CertificationOut,
    PurgeOut,
    ReadOut,
    SkillsOut,
    StepOut,
    TrajectoryOut,
)
from insights.app.trajectory import Trajectory
from insights.db.indicators import CompareRow
from insights.db.models import TrajectoryRead
from insights.domain.indicators import SEXES, Average, Ratio, Satisfaction
from insights.domain.results import ResultGroup, Results
from insights.domain.skills import blocks_obtained, passport

SCOPES = {"all": "all", "F": "sex:F", "M": "sex:M"}
FIGURES = ("employment", "lasting_employment", "training")


def _render(value: Ratio | Average) -> dict:
    if isinstance(value, Ratio):
        body = {"numerator": value.numerator, "denominator": value.denominator, "value": value.value}
        if value.target is not None:
            body.update(target=value.target, meets_target=value.meets_target)
        return body
    return {"total": value.total, "count": value.count, "value": value.value}


def _satisfaction(figures: Satisfaction) -> dict:
    return {"responses": figures.responses, "mean_marks": figures.means()}


def _compare_row(row: CompareRow) -> dict:
    return {
        "key": row.key, "entries": row.entries, "exits": row.exits, "dropouts": row.dropouts,
        "dropout_rate": Ratio(row.dropouts, row.exits).value, "places_offered": row.places_offered,
        "places_filled": row.places_filled, "places_filled_rate": Ratio(row.places_filled, row.places_offered).value,
        "satisfaction": _satisfaction(row.satisfaction),
    }


def indicators_csv(result: dict, figures: Satisfaction, compared: list[CompareRow], by: str | None) -> str:
    writer = CsvWriter()  # formula cells neutralised
    writer.writerow(["scope", "indicator", "numerator", "denominator", "value", "target"])
    for scope, label in SCOPES.items():
        indicator_set = result[scope]
        writer.writerow([label, "entries", indicator_set.entries, "", indicator_set.entries, ""])
        for name, value in indicator_set.values.items():
            if isinstance(value, Ratio):
                writer.writerow([label, name, value.numerator, value.denominator, "" if value.value is None else value.value, value.target or ""])
            else:
                writer.writerow([label, name, value.total, value.count, "" if value.value is None else value.value, ""])
    writer.writerow(["all", "satisfaction_responses", figures.responses, "", figures.responses, ""])
    for name, mean in figures.means().items():
        writer.writerow(["all", f"satisfaction_{name}", figures.sums.get(name, ""), figures.responses, "" if mean is None else mean, ""])
    for row in compared:
        label = f"{by}:{row.key or 'none'}"
        for name in ("entries", "exits", "dropouts", "places_offered", "places_filled"):
            writer.writerow([label, name, getattr(row, name), "", getattr(row, name), ""])
        mean = row.satisfaction.means()["overall"]
        writer.writerow([label, "satisfaction_overall", row.satisfaction.sums.get("overall", ""), row.satisfaction.responses, "" if mean is None else mean, ""])
    return writer.text()


def indicators_out(filters: dict, result: dict, figures: Satisfaction, compared: list[CompareRow], by: str | None) -> dict:
    def one(indicator_set) -> dict:
        return {"entries": indicator_set.entries, **{name: _render(v) for name, v in indicator_set.values.items()}}

    body = {"filters": filters, "all": one(result["all"]), "by_sex": {sex: one(result[sex]) for sex in SEXES},
            "satisfaction": _satisfaction(figures)}
    if by:
        body["compare"] = {"by": by, "rows": [_compare_row(row) for row in compared]}
    return body


def _rate(rate: Ratio, group: ResultGroup, minimum: int) -> dict:
    return {
        "numerator": rate.numerator, "denominator": rate.denominator, "value": rate.value,
        "population": group.population, "respondents": group.respondents, "response_rate": group.response_rate.value,
        "low_base": group.respondents < minimum,
    }


def _group(group: ResultGroup, minimum: int) -> dict:
    return {
        "population": group.population, "respondents": group.respondents, "response_rate": group.response_rate.value,
        **{name: _rate(getattr(group, name), group, minimum) for name in FIGURES},
    }


def _flow(rate: Ratio) -> dict:
    return {"numerator": rate.numerator, "denominator": rate.denominator, "value": rate.value}


def results_out(results: Results, minimum: int) -> dict:
    f = results.filters
    return {
        "filters": {"from": f.period_from, "to": f.period_to, "programme": f.programme, "departement": f.departement,
                    "territory": f.territory, "organisation": f.organisation},
        "horizon_months": int(f.horizon), "as_of": results.as_of,
        "all": _group(results.all, minimum),
        **{f"by_{name}": {key: _group(g, minimum) for key, g in groups.items()} for name, groups in results.by.items()},
        "prepa_to_visa": {**_flow(results.prepa_to_visa), "by_sex": {s: _flow(r) for s, r in results.prepa_to_visa_by_sex.items()}},
    }


def _cell(value) -> str:
    return "" if value is None else str(value)


def results_csv(results: Results) -> str:
    writer = CsvWriter()  # formula cells neutralised
    writer.writerow(["breakdown", "group", "indicator", "numerator", "denominator", "value", "population", "respondents", "response_rate"])
    groups = [("all", "all", results.all)] + [(name, key, g) for name, by in results.by.items() for key, g in by.items()]
    for breakdown, key, group in groups:
        for name in FIGURES:
            rate = getattr(group, name)
            writer.writerow([breakdown, key, name, rate.numerator, rate.denominator, _cell(rate.value),
                             group.population, group.respondents, _cell(group.response_rate.value)])
    flow = results.prepa_to_visa
    writer.writerow(["all", "all", "prepa_to_visa", flow.numerator, flow.denominator, _cell(flow.value), flow.denominator, "", ""])
    return writer.text()


def skills_out(person_id: UUID, prescriber: str | None, files: list) -> SkillsOut:
    counted, blocks = passport(files)
    return SkillsOut(
        person_id=person_id, current_prescriber=prescriber, skill_blocks_obtained=blocks,
        certifications=[
            CertificationOut(dossier_id=f.dossier_id, programme_code=f.programme_code, action_title=f.action_title, rncp_code=f.rncp_code,
                             certification_result=f.certification_result, skill_blocks_obtained=blocks_obtained(f),
                             skill_blocks_offered=f.skill_blocks_offered, exit_date=f.exit_date)
            for f in counted
        ],
    )


def trajectory_out(found: Trajectory) -> TrajectoryOut:
    return TrajectoryOut(
        person_id=found.person_id, prescriptions=found.prescriptions, dossiers=found.dossiers,
        timeline=[StepOut(**vars(step)) for step in found.timeline],
    )


def trajectory_read_out(read: TrajectoryRead) -> ReadOut:
    return ReadOut.model_validate(read, from_attributes=True)


def purge_out(purged) -> PurgeOut:
    return PurgeOut(**vars(purged))
