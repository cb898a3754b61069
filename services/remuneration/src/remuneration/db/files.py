"""Training files: from the sessions snapshot and the request to the domain's inputs; the queries runs need.

No publishing and no commit here: the use cases (remuneration.app.files) own the transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from pacte_common.clock import business_today, utcnow
from pacte_common.contracts.sessions import DossierSnapshot
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.db.models import (
    AttendanceStatementRow,
    EmergencyAid,
    InterruptionRow,
    RemunerationFile,
)
from remuneration.domain.formula import Attendance, Trainee, Training
from remuneration.domain.money import Interruption
from remuneration.domain.policy import Policy
from remuneration.domain.regime import Regime, RegimeDecision, RegimeFacts
from remuneration.domain.states import FileState


def new_file(snapshot: DossierSnapshot) -> RemunerationFile:
    file = RemunerationFile(dossier_id=snapshot.dossier_id, state=FileState.AWAITING_ENTRY.value,
                            differential_eligible=False)
    apply_snapshot(file, snapshot)
    return file


def apply_snapshot(file: RemunerationFile, snapshot: DossierSnapshot) -> None:
    """Keeps the latest view of the file sessions sent (events of one file arrive in order)."""
    session_info = snapshot.session
    file.person_id = snapshot.person_id
    file.organisation_siret = session_info.organisation_siret
    file.dossier_status = snapshot.status.value
    file.dossier_version = snapshot.version
    file.profile = snapshot.profile.model_dump(mode="json")
    file.programme_code = session_info.programme.code
    file.remuneration_approved = session_info.programme.remuneration_approved
    file.tension_sector = session_info.programme.tension_sector
    file.weekly_hours = session_info.weekly_hours
    file.training_hours = session_info.hours_in_centre + session_info.hours_in_company
    file.session_end_date = session_info.end_date
    if snapshot.identity_encrypted:
        file.identity_encrypted = snapshot.identity_encrypted
    if snapshot.entry_date:
        file.entry_date = snapshot.entry_date
    if snapshot.exit_date and snapshot.exit_date != file.exit_date:
        # Learnt now: the explanations of recomputed months name the day the exit was declared.
        file.exit_date, file.exit_declared_at = snapshot.exit_date, utcnow()


def request_facts(file: RemunerationFile) -> dict:
    """The request's facts, where France Travail's answer to the entry certificate, once known,
    says whether (and how much) unemployment benefit is paid (docs/france-travail.md)."""
    facts = dict(file.request_facts or {})
    answer = file.france_travail_answer
    if answer:
        facts["unemployment_benefit"] = answer["unemployment_benefit"]
        for name, key in (("unemployment_daily_amount", "daily_amount"), ("unemployment_benefit_end_date", "benefit_end_date")):
            if answer.get(key) is not None:
                facts[name] = answer[key]
    return facts


def trainee_of(file: RemunerationFile, policy: Policy) -> Trainee:
    """The profile from sessions, overridden by what the trainee declared in the request (RS1)."""
    profile, facts = file.profile, request_facts(file)

    def pick(name: str, default=None):
        return facts[name] if facts.get(name) is not None else profile.get(name, default)

    daily = pick("unemployment_daily_amount")
    salary = facts.get("prior_monthly_salary")
    end = facts.get("unemployment_benefit_end_date")
    relay = facts.get("relay_allowance_daily_amount")
    return Trainee(
        birth_date=date.fromisoformat(profile["birth_date"]),
        single_parent=bool(pick("single_parent", False)),
        first_time_jobseeker=bool(pick("first_time_jobseeker", False)),
        registered_jobseeker=bool(facts.get("registered_jobseeker", True)),
        prior_work_record=int(facts.get("prior_work_months_last_12") or 0) >= policy.prior_work_record_min_months,
        disabled_worker=bool(pick("disabled_worker", False)),
        prior_monthly_salary=Decimal(str(salary)) if salary is not None else None,
        daily_benefit=Decimal(str(daily)) if daily is not None else None,
        benefit_end_date=date.fromisoformat(end) if end else None,
        transport_allowance=bool(facts.get("transport_allowance", False)),
        relay_daily_amount=Decimal(str(relay)) if relay is not None else None,
    )


def _day(at: datetime | None, timezone: str) -> date | None:
    return business_today(timezone, at) if at else None


def training_of(file: RemunerationFile, interruptions: list[InterruptionRow], timezone: str = "Europe/Paris") -> Training:
    return Training(
        entry_date=file.entry_date,
        exit_date=file.exit_date,
        interruptions=tuple(
            Interruption(i.start_date, i.resumption_date,
                         _day(i.resumption_declared_at or i.declared_at, timezone))
            for i in sorted(interruptions, key=lambda i: i.start_date)
        ),
        weekly_hours=file.weekly_hours,
        tension_sector=file.tension_sector,
        cancelled=file.state == FileState.CANCELLED,
        exit_declared_on=_day(file.exit_declared_at, timezone),
        cancelled_on=_day(file.cancelled_at, timezone),
        planned_end_date=file.session_end_date,
    )


def decision_of(file: RemunerationFile) -> RegimeDecision:
    return RegimeDecision(Regime(file.regime), file.regime_reason or "", file.differential_eligible)


def attendance_of(row: AttendanceStatementRow | None) -> Attendance | None:
    if row is None:
        return None
    return Attendance(row.planned_hours, row.unjustified_absence_hours, row.version,
                      received_on=row.received_at.date() if row.received_at else None)


async def interruptions_by_file(db: AsyncSession, where) -> dict[uuid.UUID, list[InterruptionRow]]:
    """The interruptions of the files `where` selects (a condition on `InterruptionRow.dossier_id`), by file."""
    rows = (await db.execute(
        select(InterruptionRow.dossier_id, InterruptionRow.start_date, InterruptionRow.resumption_date,
               InterruptionRow.declared_at, InterruptionRow.resumption_declared_at)
        .where(where)
    )).all()
    grouped: dict[uuid.UUID, list[InterruptionRow]] = defaultdict(list)
    for row in rows:
        grouped[row.dossier_id].append(row)
    return grouped


async def latest_attendance(
    db: AsyncSession, where, up_to_month: str
) -> dict[tuple[uuid.UUID, str], AttendanceStatementRow]:
    """The highest version of each (file, month) statement up to a month, of the files `where` selects (a
    condition on `AttendanceStatementRow.dossier_id`): corrections supersede."""
    rows = (
        await db.execute(
            select(AttendanceStatementRow.dossier_id, AttendanceStatementRow.month, AttendanceStatementRow.version,
                   AttendanceStatementRow.planned_hours, AttendanceStatementRow.unjustified_absence_hours,
                   AttendanceStatementRow.received_at)
            .where(where, AttendanceStatementRow.month <= up_to_month)
        )
    ).all()
    latest: dict[tuple[uuid.UUID, str], AttendanceStatementRow] = {}
    for row in rows:
        key = (row.dossier_id, row.month)
        if key not in latest or row.version > latest[key].version:
            latest[key] = row
    return latest


def regime_facts(file: RemunerationFile) -> RegimeFacts:
    facts = request_facts(file)
    benefit = facts.get("unemployment_benefit")
    return RegimeFacts(
        unemployment_benefit=bool(benefit if benefit is not None else file.profile.get("unemployment_benefit")),
        programme_remuneration_approved=file.remuneration_approved,
        programme_code=file.programme_code,
        education_level=file.profile.get("education_level"),
        training_hours=file.training_hours,
    )


async def granted_aid(db: AsyncSession, dossier_id: uuid.UUID) -> uuid.UUID | None:
    """The emergency aid already granted to the file, if any."""
    return await db.scalar(
        select(EmergencyAid.id).where(EmergencyAid.dossier_id == dossier_id, EmergencyAid.granted.is_(True))
    )


async def attendance_known(db: AsyncSession, dossier_id: uuid.UUID, month: str, version: int) -> bool:
    return await db.scalar(
        select(AttendanceStatementRow.id).where(
            AttendanceStatementRow.dossier_id == dossier_id,
            AttendanceStatementRow.month == month,
            AttendanceStatementRow.version == version,
        )
    ) is not None


async def attendance_versions(db: AsyncSession, dossier_id: uuid.UUID) -> dict[str, int]:
    """The highest version of each month's attendance statement received for the file."""
    rows = await db.execute(
        select(AttendanceStatementRow.month, func.max(AttendanceStatementRow.version))
        .where(AttendanceStatementRow.dossier_id == dossier_id).group_by(AttendanceStatementRow.month)
    )
    return {month: version for month, version in rows.all()}


async def voided_attendance(db: AsyncSession, dossier_id: uuid.UUID) -> dict[str, str]:
    """Month → why sessions voided its statement (a late exit or a cancellation left it outside the training)."""
    rows = await db.execute(
        select(AttendanceStatementRow.month, AttendanceStatementRow.voided_reason)
        .where(AttendanceStatementRow.dossier_id == dossier_id, AttendanceStatementRow.voided_at.is_not(None))
        .order_by(AttendanceStatementRow.month)
    )
    return {month: reason or "voided" for month, reason in rows.all()}
