"""Rendering of api/outcomes.py's answers."""

from __future__ import annotations

from pacte_common.contracts.outcomes import OutcomeSituation, OutcomeSource

from sessions.api.schemas import LineOut, OutcomeOut, OutcomesImportOut, PurgeOut, SituationOut
from sessions.app.outcomes import ImportReport
from sessions.domain.outcomes import JOBS, LASTING_JOBS, SITUATION_LABELS, SOURCE_LABELS


def outcome_out(o) -> OutcomeOut:
    situation, source = OutcomeSituation(o.situation), OutcomeSource(o.source)
    return OutcomeOut(
        dossier_id=o.dossier_id, horizon_months=o.horizon_months, situation=situation, situation_label=SITUATION_LABELS[situation],
        observed_on=o.observed_on, source=source, source_label=SOURCE_LABELS[source],
        job_related_to_training=o.job_related_to_training, version=o.version,
    )


def import_out(report: ImportReport) -> OutcomesImportOut:
    return OutcomesImportOut(
        import_id=report.import_id, source=OutcomeSource(report.source), dry_run=report.dry_run, counts=report.counts,
        lines=[LineOut(**vars(line)) for line in report.lines],
    )


def situations_out() -> list[SituationOut]:
    return [SituationOut(code=s, label=SITUATION_LABELS[s], job=s in JOBS, lasting_job=s in LASTING_JOBS) for s in OutcomeSituation]


def purge_out(report) -> PurgeOut:
    return PurgeOut(**vars(report))
