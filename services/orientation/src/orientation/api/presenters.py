"""Turns stored prescriptions into response bodies, for the caller who asks."""

from __future__ import annotations

from pacte_common.auth import OrgKind, Principal
from pacte_common.contracts.people import MaskedIdentity, open_identity
from pacte_common.service import Runtime
from pacte_common.tracing import trace_id_of
from sqlalchemy.ext.asyncio import AsyncSession

from orientation.api.schemas import (
    ChainLink,
    PositioningOut,
    PrescriptionOut,
    PrescriptionSummary,
    RefusalOut,
)
from orientation.db.models import Person, Prescription
from orientation.db.queries import can_see, chain_of, waitlist_rank
from orientation.domain.prescription import (
    EXPIRABLE_STATUSES,
    POSITIONING_LABELS,
    PRESCRIPTION,
    REFUSAL_HINTS,
    REFUSAL_LABELS,
    STATUS_LABELS,
    Action,
    PositioningKind,
    RefusalReason,
    Role,
    Status,
)


def actions_for(principal: Principal, status: Status) -> list[str]:
    """What this caller may do from `status` (the Region is shown both partners' actions)."""
    roles = {
        OrgKind.PRESCRIBER: [Role.PRESCRIBER],
        OrgKind.TRAINING_ORG: [Role.TRAINING_ORG],
        OrgKind.REGION: [Role.TRAINING_ORG, Role.PRESCRIBER],
    }.get(principal.org_kind, [])
    return [a.value for role in roles for a in PRESCRIPTION.allowed_actions(status, role)]


def summary(prescription: Prescription) -> PrescriptionSummary:
    return PrescriptionSummary.model_validate(
        {**_columns(prescription), "status_label": STATUS_LABELS[Status(prescription.status)]}
    )


def _columns(p: Prescription) -> dict:
    return {column.key: getattr(p, column.key) for column in Prescription.__mapper__.column_attrs}


async def present(
    db: AsyncSession, runtime: Runtime, prescription: Prescription, principal: Principal, *, with_identity: bool
) -> PrescriptionOut:
    status = Status(prescription.status)
    person = await db.get(Person, prescription.person_id)
    identity = None
    if with_identity and person is not None:
        clear = open_identity(runtime.cipher, person.identity_sealed)
        identity = MaskedIdentity.of(clear)
    positioning = None
    if prescription.positioning_date and prescription.positioning_kind:
        kind = PositioningKind(prescription.positioning_kind)
        positioning = PositioningOut(date=prescription.positioning_date, kind=kind, kind_label=POSITIONING_LABELS[kind])
    refusal = None
    if prescription.refusal_reason:
        reason = RefusalReason(prescription.refusal_reason)
        refusal = RefusalOut(
            reason_code=reason,
            reason_label=REFUSAL_LABELS[reason],
            comment=prescription.refusal_comment,
            hint=REFUSAL_HINTS.get(reason),
        )
    chain = [
        ChainLink(prescription_id=link.id, session_id=link.session_id, status=Status(link.status), created_at=link.created_at)
        for link in await chain_of(db, prescription)
        if can_see(principal, link)
    ]
    expires_at = (
        prescription.status_changed_at + runtime.settings.prescription_expiry_delay
        if status in EXPIRABLE_STATUSES
        else None
    )
    actions = actions_for(principal, status)
    if prescription.next_prescription_id is not None and Action.REORIENT.value in actions:
        actions.remove(Action.REORIENT.value)  # reoriented once already
    return PrescriptionOut.model_validate(
        {
            **_columns(prescription),
            "status_label": STATUS_LABELS[status],
            "identity": identity,
            "has_nir": bool(person and person.has_nir),
            "positioning": positioning,
            "refusal": refusal,
            "waitlist_rank": await waitlist_rank(db, prescription),
            "expires_at": expires_at,
            "trace_id": trace_id_of(prescription.traceparent),
            "chain": chain,
            "allowed_actions": actions,
        }
    )
