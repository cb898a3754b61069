"""France Travail flows (docs/france-travail.md): which certificate each trainee step sends,
what it carries, the identifier's format and mask, and what an AES answer says. Pure.

Operations, in a file's order: `ais` (training registration certificate, at enrolment),
`aes` (entry certificate: planned hours and schedule), `attendance` (each month's hours signed
on the attendance sheets), `interruption`, `resumption`, `end` (with its reason), `cancellation`. They run on the outbound engine (domain/outbound.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from uuid import UUID

from pacte_common.state_machine import StateMachine

from agora_gateway.domain.agora_file import TraineeStep
from agora_gateway.domain.outbound import FlowAction, FlowStatus, flow_machine


class FtOperation(StrEnum):
    AIS = "ais"
    AES = "aes"
    INTERRUPTION = "interruption"
    RESUMPTION = "resumption"
    END = "end"
    CANCELLATION = "cancellation"
    ATTENDANCE = "attendance"


FT_OPERATION_LABELS = {
    FtOperation.AIS: "Attestation d'inscription en stage (AIS)",
    FtOperation.AES: "Attestation d'entrée en stage (AES)",
    FtOperation.INTERRUPTION: "Interruption de la formation",
    FtOperation.RESUMPTION: "Reprise de la formation",
    FtOperation.END: "Fin de formation",
    FtOperation.CANCELLATION: "Annulation",
    FtOperation.ATTENDANCE: "Attestation mensuelle de présence (heures émargées)",
}

FT_FLOW_STATUS_LABELS = {
    FlowStatus.PENDING: "En attente d'envoi",
    FlowStatus.SENT: "Envoyé, en attente de réponse",
    FlowStatus.ACKNOWLEDGED: "Accusé de réception France Travail",
    FlowStatus.REJECTED: "Refusé par France Travail",
    FlowStatus.EXCLUDED: "Non transmis",
    FlowStatus.DELEGATED: "Non transmis",
}

FT_FLOW: StateMachine[FlowStatus, FlowAction] = flow_machine("france travail flow")

WAITING_FOR_IDENTIFIER = "waiting_for_france_travail_id"
INVALID_IDENTIFIER = "invalid_france_travail_id"
MALFORMED_ANSWER = "malformed_answer"  # acknowledged, but its benefit unreadable (benefit_of)

# The job seeker's identifier: 7 digits and a check character (digit or capital letter),
# with an optional 3-character structure prefix some exports carry (docs/france-travail.md).
_IDENTIFIER = re.compile(r"^(?:[0-9A-Z]{3})?[0-9]{7}[0-9A-Z]$")


def normalise_identifier(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = re.sub(r"[\s-]", "", value).upper()
    return cleaned or None


def valid_identifier(value: str) -> bool:
    return bool(_IDENTIFIER.fullmatch(value))


def mask_identifier(value: str) -> str:
    """`1234567A` → `1******A`: enough for an operator to recognise, not to reuse."""
    return value[0] + "*" * min(len(value) - 2, 12) + value[-1] if len(value) > 2 else "*" * len(value)


# An identifier echoed inside a partner's free text (not anchored: between non-alphanumerics).
_ECHOED_IDENTIFIER = re.compile(r"(?<![0-9A-Za-z])(?:[0-9A-Z]{3})?[0-9]{7}[0-9A-Z](?![0-9A-Za-z])")

# What of France Travail's answer body an operator is shown: never its free text as received.
SHOWN_ANSWER_FIELDS = ("certificate_id", "kind", "status", "code")


def mask_identifiers_in(text: str) -> str:
    """Every France Travail identifier a free text echoes, masked as `mask_identifier` does."""
    return _ECHOED_IDENTIFIER.sub(lambda found: mask_identifier(found.group(0)), text)


def shown_answer(body: dict[str, Any] | None) -> dict[str, Any] | None:
    """France Travail's answer as an operator sees it: its certificate id, kind, status and code only."""
    if body is None:
        return None
    return {field: body[field] for field in SHOWN_ANSWER_FIELDS if field in body}


def plan(planned: set[str], step: TraineeStep) -> list[FtOperation]:
    """The certificates a trainee step adds to the file's queue, given those already planned."""
    ops: list[FtOperation] = []
    if step in (TraineeStep.ENROLLED, TraineeStep.ENTERED) and FtOperation.AIS.value not in planned:
        ops.append(FtOperation.AIS)
    if step is TraineeStep.ENTERED and FtOperation.AES.value not in planned:
        ops.append(FtOperation.AES)
    if step is TraineeStep.INTERRUPTED:
        ops.append(FtOperation.INTERRUPTION)
    if step is TraineeStep.RESUMED:
        ops.append(FtOperation.RESUMPTION)
    if step is TraineeStep.EXITED and FtOperation.END.value not in planned:
        ops.append(FtOperation.END)
    if step is TraineeStep.CANCELLED and planned and FtOperation.CANCELLATION.value not in planned:
        ops.append(FtOperation.CANCELLATION)
    return ops


SIGNED_SHEETS = "sheets"  # the statement's source when built from the signed attendance sheets


class AttendanceBeforeEntry(Exception):
    """A signed month heard before the file's entry (the two topics are not ordered): retried."""


def attendance_certificate_due(planned: set[str] | None, source: str) -> bool:
    """A month's statement goes to France Travail when it comes from the signed sheets, once the
    AES is planned and unless the file was cancelled (docs/france-travail.md §2). A statement
    typed by hand carries no signature: France Travail is not told. `planned` is None while the
    file is not known yet (its trainee events not heard)."""
    if source != SIGNED_SHEETS:
        return False
    if planned is None:
        raise AttendanceBeforeEntry("the month's statement came before its file")
    if FtOperation.CANCELLATION.value in planned:
        return False
    if FtOperation.AES.value not in planned:
        raise AttendanceBeforeEntry("the month's statement came before the file's entry")
    return True


def attendance_data(event: Any) -> dict[str, Any]:
    """The signed month: hours as decimal strings, its version (a correction is a new one)."""
    return {
        "month": event.month,
        "version": event.version,
        "planned_hours": str(event.planned_hours),
        "signed_hours": str(event.attended_hours),
        "justified_absence_hours": str(event.justified_absence_hours),
        "unjustified_absence_hours": str(event.unjustified_absence_hours),
        "in_company_hours": str(event.in_company_hours),
    }


def ft_idempotency_key(dossier_id: UUID, sequence: int, operation: str, revision: int) -> str:
    """No identifier in a key: the file, the position, the operation and the revision."""
    return f"pacte-ft-{dossier_id}-{sequence}-{operation}-r{revision}"


def certificate_request(operation: FtOperation, *, identifier: str, dossier_id: UUID, snapshot: dict[str, Any],
                        data: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of one certificate (docs/france-travail.md, the contract)."""
    session = snapshot.get("session") or {}
    return {
        "kind": operation.value,
        "france_travail_id": identifier,
        "reference": str(dossier_id),
        "training": {
            "title": session.get("action_title"),
            "organisation_siret": session.get("organisation_siret"),
            "start_date": session.get("start_date"),
            "end_date": session.get("end_date"),
        },
        "data": data,
    }


@dataclass(frozen=True)
class BenefitAnswer:
    unemployment_benefit: bool
    daily_amount: Decimal | None
    benefit_end_date: date | None
    certificate_id: str


class MalformedAnswer(ValueError):
    """France Travail acknowledged an AES but what it says of the benefit cannot be read."""


def benefit_of(body: dict[str, Any]) -> BenefitAnswer | None:
    """What an acknowledged AES says of the person's unemployment benefit (None: nothing said).

    A benefit that is there but unreadable — no yes/no, an amount that is not a finite decimal
    ≥ 0, a date that is not one — raises `MalformedAnswer`: the flow is refused with
    `MALFORMED_ANSWER` (only its file waits) rather than published as nonsense or never recorded.
    """
    benefit = body.get("benefit")
    if benefit is None:
        return None
    if not isinstance(benefit, dict) or not isinstance(benefit.get("unemployment_benefit"), bool):
        raise MalformedAnswer("the benefit has no unemployment_benefit yes/no")
    try:
        amount = Decimal(str(benefit["daily_amount"])) if benefit.get("daily_amount") is not None else None
        end = date.fromisoformat(benefit["end_date"]) if benefit.get("end_date") else None
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise MalformedAnswer("the benefit's daily amount or end date cannot be read") from exc
    if amount is not None and (not amount.is_finite() or amount < 0):
        raise MalformedAnswer(f"the benefit's daily amount {amount} is not a finite amount of 0 or more")
    return BenefitAnswer(benefit["unemployment_benefit"], amount, end, str(body.get("certificate_id") or ""))


def certificate_data(operation: FtOperation, event: Any) -> dict[str, Any]:
    """The certificate's own data, read from the trainee event that planned it (no identity)."""
    snapshot = event.dossier
    session = snapshot.session
    if operation is FtOperation.AIS:
        return {"enrolled_on": event.occurred_at.date().isoformat()}
    if operation is FtOperation.AES:
        entry = getattr(event, "entry_date", None) or snapshot.entry_date
        return {
            "entry_date": entry.isoformat() if entry else None,
            "hours_in_centre": str(session.hours_in_centre),
            "hours_in_company": str(session.hours_in_company),
            "weekly_hours": str(session.weekly_hours) if session.weekly_hours is not None else None,
            "schedule": {"start_date": session.start_date.isoformat(), "end_date": session.end_date.isoformat()},
        }
    if operation is FtOperation.INTERRUPTION:
        expected = getattr(event, "expected_return_date", None)
        return {"start_date": event.start_date.isoformat(), "reason": event.reason.value,
                "expected_return_date": expected.isoformat() if expected else None}
    if operation is FtOperation.RESUMPTION:
        return {"resumption_date": event.resumption_date.isoformat()}
    if operation is FtOperation.END:
        dropout = getattr(event, "dropout_reason", None)
        return {"end_date": event.exit_date.isoformat(), "reason": event.exit_kind.value,
                "dropout_reason": dropout.value if dropout else None}
    return {"reason": getattr(event, "reason", None)}


# The France Travail certificate that carries each AGORA operation of a delegated programme.
CARRIED_BY = {
    "create": FtOperation.AIS, "enter": FtOperation.AES, "interrupt": FtOperation.INTERRUPTION,
    "resume": FtOperation.RESUMPTION, "exit": FtOperation.END, "cancel": FtOperation.CANCELLATION,
}
NO_CERTIFICATE = "no_certificate"  # nothing carries it (the settlement): the Region reports it itself
MISSING = "missing"  # France Travail has not been asked yet (no identifier, or not planned)


@dataclass(frozen=True)
class Carried:
    """One France Travail certificate of a file, as the reconciliation sees it."""

    operation: str
    status: str
    answered_at: Any = None


def reconcile(agora_operations: list[str], certificates: list[Carried]) -> list[tuple[str | None, str, Any]]:
    """For each AGORA operation of a delegated file (in order): the certificate that carries it,
    its status and when it was acknowledged — the k-th `interrupt` is carried by the k-th
    `interruption`, and so on."""
    by_operation: dict[str, list[Carried]] = {}
    for certificate in certificates:
        by_operation.setdefault(certificate.operation, []).append(certificate)
    seen: dict[str, int] = {}
    lines: list[tuple[str | None, str, Any]] = []
    for operation in agora_operations:
        carrier = CARRIED_BY.get(operation)
        if carrier is None:
            lines.append((None, NO_CERTIFICATE, None))
            continue
        rank = seen.get(operation, 0)
        seen[operation] = rank + 1
        candidates = by_operation.get(carrier.value, [])
        if rank < len(candidates):
            found = candidates[rank]
            acknowledged = found.answered_at if found.status == FlowStatus.ACKNOWLEDGED.value else None
            lines.append((carrier.value, found.status, acknowledged))
        else:
            lines.append((carrier.value, MISSING, None))
    return lines
