"""What remuneration publishes on pacte.remuneration.payments.v1, keyed by file (dossier) id
(contracts in pacte_common.contracts.remuneration). Called from app/ only.

Every event about a file continues the file's journey trace (adopt_trace), not the trace of
the call or the event that acts on it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pacte_common.clock import utcnow
from pacte_common.contracts.remuneration import (
    DebtEvent,
    EmergencyAidGranted,
    EntitlementClosed,
    EntitlementOpened,
    MonthComputed,
    PaymentIssued,
)
from pacte_common.events import IntegrationEvent
from pacte_common.messaging import Outbox
from pacte_common.tracing import adopt_trace
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.db.files import request_facts
from remuneration.db.models import Debt, EmergencyAid, RemunerationFile
from remuneration.domain.states import FileState


async def _publish(db: AsyncSession, outbox: Outbox, traceparent: str | None, *events: IntegrationEvent,
                   key: str) -> None:
    with adopt_trace(traceparent):
        for event in events:
            await outbox.publish(db, event, key=key)


async def entitlement_moved(db: AsyncSession, outbox: Outbox, file: RemunerationFile, before: str) -> None:
    """Entitlement opened (open or not entitled) or closed (exit or cancellation of an opened one)."""
    target = file.state
    if target in (FileState.OPEN, FileState.NOT_ENTITLED):
        event = EntitlementOpened(
            dossier_id=file.dossier_id, person_id=file.person_id, occurred_at=utcnow(), regime=file.regime,
            reason=file.regime_reason, differential_eligible=file.differential_eligible,
            entry_date=file.entry_date, advance_wanted=bool(request_facts(file).get("advance_wanted")),
        )
    elif target in (FileState.CLOSED, FileState.CANCELLED) and before in (FileState.OPEN, FileState.NOT_ENTITLED):
        event = EntitlementClosed(
            dossier_id=file.dossier_id, person_id=file.person_id, occurred_at=utcnow(),
            reason="exited" if target == FileState.CLOSED else "cancelled", exit_date=file.exit_date,
        )
    else:
        return
    await _publish(db, outbox, file.traceparent, event, key=str(file.dossier_id))


def _statement_events(statement, month: str, now: datetime) -> list[IntegrationEvent]:
    """Month computed for a statement of a validated run; payment issued when it pays something."""
    components = {c["code"]: Decimal(c["amount"]) for c in statement.components}
    common = dict(dossier_id=statement.dossier_id, person_id=statement.person_id, occurred_at=now,
                  month=month, statement_id=statement.id, components=components)
    events: list[IntegrationEvent] = [MonthComputed(
        status=statement.status, regime=statement.regime, scale_version=statement.scale_version,
        earned_amount=statement.earned_amount, amount=statement.amount, **common,
    )]
    if statement.amount > 0:
        events.append(PaymentIssued(amount=statement.amount, **common))
    return events


async def statements_validated(db: AsyncSession, outbox: Outbox, statements: list, month: str, now: datetime) -> None:
    """The events of a page of a validated run's statements (rows with the file's `traceparent`), in one INSERT."""
    await outbox.publish_many(db, [
        (event, str(statement.dossier_id), statement.traceparent)
        for statement in statements for event in _statement_events(statement, month, now)
    ])


async def emergency_aid_granted(db: AsyncSession, outbox: Outbox, file: RemunerationFile, aid: EmergencyAid) -> None:
    await _publish(db, outbox, file.traceparent, EmergencyAidGranted(
        dossier_id=file.dossier_id, person_id=file.person_id, occurred_at=aid.created_at, aid_id=aid.id,
        amount=aid.amount,
    ), key=str(file.dossier_id))


async def debt_event(db: AsyncSession, outbox: Outbox, kind: type[DebtEvent], debt: Debt, traceparent: str | None,
                     **details) -> None:
    """A debt opened, demanded, repaid or written off, with where it stands after the change."""
    await _publish(db, outbox, traceparent, kind(
        dossier_id=debt.dossier_id, person_id=debt.person_id, occurred_at=utcnow(), debt_id=debt.id,
        state=debt.state, amount=debt.amount, balance=debt.balance, **details,
    ), key=str(debt.dossier_id))
