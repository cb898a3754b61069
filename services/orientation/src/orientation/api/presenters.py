"""Turns stored prescriptions, sessions and searches into response bodies, for the caller who asks
(docs/developing.md, "Rendering and access rules")."""

from __future__ import annotations

from datetime import date
from typing import Any

from pacte_common.auth import Principal
from pacte_common.contracts.people import MaskedIdentity, open_identity
from pacte_common.crypto import FieldCipher
from pacte_common.service import Runtime
from pacte_common.tracing import trace_id_of
from sqlalchemy.ext.asyncio import AsyncSession

from orientation.api.access import actions_for, may_see_prescription
from orientation.api.schemas import (
    ChainLink,
    CountsOut,
    FoundPersonOut,
    FoundPrescriptionOut,
    PersonSearchAnswer,
    PersonSearchAudit,
    PositioningOut,
    PrescriptionOut,
    PrescriptionSummary,
    RefusalOut,
    SessionOut,
    TransitionOut,
)
from orientation.app import search
from orientation.db.models import (
    CatalogueSession,
    Person,
    PersonSearch,
    Prescription,
    PrescriptionTransition,
)
from orientation.db.queries import chain_of, waitlist_rank
from orientation.domain.catalogue import open_for_prescription
from orientation.domain.people import mask_birth_date, mask_name
from orientation.domain.prescription import (
    EXPIRABLE_STATUSES,
    POSITIONING_LABELS,
    REFUSAL_HINTS,
    REFUSAL_LABELS,
    STATUS_LABELS,
    Action,
    PositioningKind,
    RefusalReason,
    Status,
)
from orientation.settings import OrientationSettings


def prescription_summary_out(prescription: Prescription) -> PrescriptionSummary:
    return PrescriptionSummary.model_validate(
        {**_columns(prescription), "status_label": STATUS_LABELS[Status(prescription.status)]}
    )


_COLUMN_KEYS = tuple(column.key for column in Prescription.__mapper__.column_attrs)


def _columns(p: Any) -> dict:
    return {key: getattr(p, key) for key in _COLUMN_KEYS}


async def prescription_out(
    db: AsyncSession, runtime: Runtime, prescription: Any, principal: Principal, *, with_identity: bool, person: Any = None
) -> PrescriptionOut:
    """`prescription` is the model or any object with its columns (a Core row, the columns a creation
    stored); `person`, anything with the person's `identity_sealed` and `has_nir` (loaded when not given)."""
    status = Status(prescription.status)
    if person is None:
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
        if may_see_prescription(principal, link)
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


def session_out(row: CatalogueSession, settings: OrientationSettings) -> SessionOut:
    return SessionOut.model_validate(
        {
            **row.snapshot,
            "places": row.places,
            "places_taken": row.places_taken,
            "recruitment_state": row.recruitment_state,
            "places_available": max(0, row.places - row.places_taken),
            "cancelled": row.cancelled,
            "open_for_prescription": open_for_prescription(
                row.recruitment_state, row.cancelled, settings.prescribable_recruitment_states
            ),
        }
    )


def person_search_answer_out(found: list[search.Found], truncated: bool, birth_date: date) -> PersonSearchAnswer:
    return PersonSearchAnswer(truncated=truncated, items=[FoundPersonOut(
        person_id=f.person.person_id, identity=MaskedIdentity.of(f.identity), birth_date=birth_date,
        prescriptions=[FoundPrescriptionOut(id=p.id, status=p.status, session_id=p.session_id, organisation_siret=p.organisation_siret,
                                            created_at=p.created_at, href=f"/prescriptions/{p.id}") for p in f.prescriptions],
    ) for f in found])


def person_search_audit_out(row: PersonSearch, cipher: FieldCipher) -> PersonSearchAudit:
    criteria = search.open_criteria(cipher, row.criteria_sealed)
    return PersonSearchAudit(id=row.id, at=row.at, actor=row.actor, last_name_masked=mask_name(criteria.last_name),
                             birth_date_masked=mask_birth_date(criteria.birth_date), found=row.found)


def counts_out(found: dict[str, int]) -> CountsOut:
    """Every status, zero included, from the counts by status the query found."""
    counts = {status.value: int(found.get(status.value, 0)) for status in Status}
    return CountsOut(counts=counts, total=sum(counts.values()))


def transition_out(row: PrescriptionTransition) -> TransitionOut:
    return TransitionOut.model_validate(row, from_attributes=True)
