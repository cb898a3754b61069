"""Rendering of api/dossiers.py's answers."""

from __future__ import annotations

from pacte_common.contracts.people import MaskedIdentity
from pacte_common.contracts.sessions import DossierStatus
from pacte_common.tracing import trace_id_of

from sessions.api.schemas import AttendanceOut, DossierOut, InterruptionOut, TransitionOut
from sessions.app.dossiers import hours
from sessions.db.models import AttendanceStatement, Dossier, DossierTransition
from sessions.db.queries import as_attendance
from sessions.domain.lifecycle import DOSSIER, STATUS_LABELS


def dossier_out(dossier: Dossier, *, identity: MaskedIdentity | None = None, transitions: list[DossierTransition] | None = None) -> DossierOut:
    status = DossierStatus(dossier.status)
    return DossierOut(
        id=dossier.id,
        session_id=dossier.session_id,
        person_id=dossier.person_id,
        prescription_id=dossier.prescription_id,
        prescriber_code=dossier.prescriber_code,
        programme_code=dossier.session.action.programme.code,
        organisation_siret=dossier.session.action.organisation_siret,
        status=status.value,
        status_label=STATUS_LABELS[status],
        allowed_actions=[a.value for a in DOSSIER.allowed_actions(status)],
        profile=dossier.profile,
        has_nir=dossier.has_nir,
        identity=identity,
        entry_date=dossier.entry_date,
        entry_declared_late=dossier.entry_declared_late,
        exit_date=dossier.exit_date,
        exit_kind=dossier.exit_kind,
        dropout_reason=dossier.dropout_reason,
        certification_result=dossier.certification_result,
        skill_blocks_obtained=dossier.skill_blocks_obtained or [],
        realised_hours=dossier.realised_hours,
        cost=dossier.cost,
        exit_declared_late=dossier.exit_declared_late,
        cancel_reason=dossier.cancel_reason,
        interruptions=[
            InterruptionOut(
                id=i.id,
                start_date=i.start_date,
                reason=i.reason,
                expected_return_date=i.expected_return_date,
                resumption_date=i.resumption_date,
                declared_late=i.declared_late,
            )
            for i in dossier.interruptions
        ],
        transitions=[TransitionOut.model_validate(t, from_attributes=True) for t in transitions] if transitions is not None else None,
        version=dossier.version,
        trace_id=trace_id_of(dossier.traceparent),
    )


def attendance_out(statement: AttendanceStatement, history: list[AttendanceStatement] | None = None) -> AttendanceOut:
    return AttendanceOut(
        dossier_id=statement.dossier_id,
        month=statement.month,
        version=statement.version,
        planned_hours=hours(statement.planned_hours),
        attended_hours=hours(statement.attended_hours),
        justified_absence_hours=hours(statement.justified_absence_hours),
        unjustified_absence_hours=hours(statement.unjustified_absence_hours),
        in_company_hours=hours(statement.in_company_hours),
        realised_hours=hours(as_attendance(statement).realised_hours),
        recorded_by=statement.recorded_by,
        recorded_at=statement.recorded_at,
        source=statement.source or "manual",
        superseded_at=statement.superseded_at,
        voided=statement.voided_at is not None,
        voided_at=statement.voided_at,
        voided_reason=statement.voided_reason,
        history=[attendance_out(h) for h in history or []],
    )
