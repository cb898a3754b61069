"""The pure rules of outcomes (domain/outcomes.py): import lines, matching, retention."""

import uuid
from datetime import date

from pacte_common.contracts.outcomes import Horizon, OutcomeSituation
from pacte_testing import new_nir
from sessions.domain.outcomes import (
    FileRef,
    ImportLine,
    LineError,
    match_line,
    months_after,
    parse_line,
    plan_import,
    read_csv,
    retention_cutoff,
)

TODAY = date(2026, 11, 30)


def hashed(nir: str) -> str:
    return "h:" + nir


def test_a_line_is_parsed_with_its_nir_replaced_by_its_hash():
    nir = new_nir()
    line = parse_line(1, {"nir": nir, "horizon_months": "12", "situation": "training", "observed_on": "2026-10-01",
                          "job_related_to_training": "Non"}, hashed)
    assert line == ImportLine(1, Horizon.TWELVE_MONTHS, OutcomeSituation.TRAINING, date(2026, 10, 1), False, None, "h:" + nir)
    assert nir not in repr(line.facts())


def test_a_malformed_line_names_every_field():
    errors = parse_line(7, {"nir": "185054410912399", "horizon_months": "4", "situation": "cdi", "observed_on": "2026-02-30",
                            "job_related_to_training": "peut-être"}, hashed)
    assert [e.field for e in errors] == ["nir", "horizon_months", "situation", "observed_on", "job_related_to_training"]
    assert errors[0] == LineError(7, "nir", "NIR control key does not match")
    assert [e.field for e in parse_line(2, {"horizon_months": "3"}, hashed)][:1] == ["dossier_id"]
    assert parse_line(3, ["not", "an", "object"], hashed) == [LineError(3, "line", "must be an object")]


def test_csv_with_semicolons_or_commas():
    assert read_csv("dossier_id;situation\nabc;training\n") == read_csv("dossier_id,situation\nabc,training\n") == [
        {"dossier_id": "abc", "situation": "training"}]


def test_matching_by_nir_takes_the_latest_exit_before_the_day_observed():
    person = uuid.uuid4()
    prepa = FileRef(uuid.uuid4(), person, "exited", date(2026, 2, 13), "h:x")
    visa = FileRef(uuid.uuid4(), person, "exited", date(2026, 9, 25), "h:x")
    by_nir = {"h:x": [prepa, visa]}
    line = ImportLine(1, Horizon.SIX_MONTHS, OutcomeSituation.TRAINING, date(2026, 8, 14), None, nir_hash="h:x")
    assert match_line(line, {}, by_nir).file == prepa
    later = ImportLine(1, Horizon.THREE_MONTHS, OutcomeSituation.PERMANENT_JOB, date(2026, 12, 28), None, nir_hash="h:x")
    assert match_line(later, {}, by_nir).file == visa
    too_early = ImportLine(1, Horizon.THREE_MONTHS, OutcomeSituation.PERMANENT_JOB, date(2026, 1, 5), None, nir_hash="h:x")
    assert match_line(too_early, {}, by_nir).reason == "no exit on or before the day observed for this NIR"
    wrong_nir = ImportLine(1, Horizon.THREE_MONTHS, OutcomeSituation.INACTIVE, date(2026, 12, 1), None, visa.dossier_id, "h:y")
    assert match_line(wrong_nir, {visa.dossier_id: visa}, by_nir).reason == "the NIR is not the training file's"


def test_duplicates_are_skipped_and_contradictions_refused():
    file = FileRef(uuid.uuid4(), uuid.uuid4(), "exited", date(2026, 3, 27), None)
    first = ImportLine(1, Horizon.SIX_MONTHS, OutcomeSituation.TRAINING, date(2026, 10, 1), None, file.dossier_id)
    same = ImportLine(2, Horizon.SIX_MONTHS, OutcomeSituation.TRAINING, date(2026, 10, 1), None, file.dossier_id)
    other = ImportLine(3, Horizon.SIX_MONTHS, OutcomeSituation.INACTIVE, date(2026, 10, 1), None, file.dossier_id)
    other_horizon = ImportLine(4, Horizon.THREE_MONTHS, OutcomeSituation.INACTIVE, date(2026, 7, 1), None, file.dossier_id)
    future = ImportLine(5, Horizon.TWELVE_MONTHS, OutcomeSituation.INACTIVE, date(2026, 12, 1), None, file.dossier_id)
    plan = plan_import([first, same, other, other_horizon, future], {file.dossier_id: file}, {}, TODAY)
    assert [m.line.number for m in plan.matched] == [1, 4]
    assert plan.duplicates == [(2, 1)] and [(c.number, c.field) for c in plan.inconsistent] == [(3, "line"), (5, "observed_on")]


def test_horizons_and_retention_clamp_to_the_end_of_the_month():
    assert months_after(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert months_after(date(2026, 3, 27), 6) == date(2026, 9, 27)
    assert retention_cutoff(date(2026, 11, 30), 36) == date(2023, 11, 30)
    assert retention_cutoff(date(2024, 2, 29), 12) == date(2023, 2, 28)
