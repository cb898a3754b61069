"""Use cases on a training file: what sessions tell of the trainee, the request (RS1), its
amendment, and the entitlement they decide (the FILE state machine).

A use case called from HTTP commits (or create_once commits it); one called from a
consumed event (on_…) does not: the consumer commits it with the inbox row.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pacte_common.auth import Principal
from pacte_common.clock import utcnow
from pacte_common.contracts.france_travail import FranceTravailBenefitAnswered
from pacte_common.contracts.sessions import (
    TraineeCancelled,
    TraineeEntered,
    TraineeEvent,
    TraineeExited,
    TraineeInterrupted,
    TraineeResumed,
)
from pacte_common.errors import Conflict, NotFound
from pacte_common.http import check_if_match
from pacte_common.idempotency import Answer, create_once
from pacte_common.messaging import Outbox
from pacte_common.service import Runtime
from pacte_common.tracing import current_traceparent, parse_traceparent
from pacte_common.validators import mask_iban, mask_nir
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.db.files import apply_snapshot, new_file, regime_facts
from remuneration.db.models import (
    EarlyFranceTravailAnswer,
    InterruptionRow,
    RemunerationFile,
    TransitionLog,
)
from remuneration.domain.policy import Policy
from remuneration.domain.regime import decide_regime
from remuneration.domain.states import FILE, FileAction, FileState
from remuneration.events import publish

IBAN_CONTEXT = "remuneration.iban"
NIR_CONTEXT = "remuneration.nir"


def _move(db: AsyncSession, file: RemunerationFile, action: FileAction, actor: str, reason: str | None,
          target: FileState | None = None) -> None:
    """The FILE machine's move and its log row (refused moves are a 409 invalid-transition)."""
    FILE.move(db, file, action, log=TransitionLog, actor=actor, reason=reason, target=target,
              aggregate="file", aggregate_id=str(file.dossier_id))


# ---------------------------------------------------------------------------- the entitlement


def _decided_target(file: RemunerationFile, policy: Policy, reason: str | None) -> tuple[FileState, str | None]:
    """Entering or filing the request: the regime is decided once both are known."""
    if file.entry_date is None or file.request_facts is None:
        return (FileState.AWAITING_REQUEST if file.entry_date else FileState.AWAITING_ENTRY), reason
    decision = decide_regime(regime_facts(file), policy)
    file.regime, file.regime_reason = decision.regime.value, decision.reason
    file.differential_eligible = decision.differential_eligible
    file.entitlement_opened_at = utcnow()
    return (FileState.OPEN if decision.paying else FileState.NOT_ENTITLED), decision.reason


async def move_file(db: AsyncSession, outbox: Outbox, policy: Policy, file: RemunerationFile, action: str,
                    actor: str, reason: str | None = None) -> None:
    """Applies an entitlement action (enter, file_request, exit, cancel) and publishes what it opened or closed."""
    before = file.state
    action = FileAction(action)
    if action in (FileAction.ENTER, FileAction.FILE_REQUEST):
        target, reason = _decided_target(file, policy, reason)
    elif action is FileAction.EXIT:
        target = FileState.CLOSED
    else:
        target = FileState.CANCELLED
    _move(db, file, action, actor, reason, target)
    await publish.entitlement_moved(db, outbox, file, before)


def redecide_regime(db: AsyncSession, policy: Policy, file: RemunerationFile, actor: str,
                    why: str = "profile updated by sessions") -> bool:
    """Decides the regime again from the current facts (profile or request changed); True if it changed.

    Months already paid are reviewed by the next run with the new regime (domain.ledger).
    """
    if file.regime is None or file.state not in (FileState.OPEN, FileState.NOT_ENTITLED, FileState.CLOSED):
        return False
    decision = decide_regime(regime_facts(file), policy)
    if (decision.regime.value, decision.differential_eligible) == (file.regime, file.differential_eligible):
        return False
    closed = file.state == FileState.CLOSED
    target = FileState.CLOSED if closed else (FileState.OPEN if decision.paying else FileState.NOT_ENTITLED)
    reason = f"{why}: regime {file.regime} → {decision.regime.value}: {decision.reason}"
    FILE.step(file.state, FileAction.REDECIDE, target=target)  # refused before anything changes
    file.regime, file.regime_reason = decision.regime.value, decision.reason
    file.differential_eligible = decision.differential_eligible
    _move(db, file, FileAction.REDECIDE, actor, reason, target)
    return True


# ---------------------------------------------------------------------------- the request (HTTP)


async def file_request(db: AsyncSession, runtime: Runtime, principal: Principal, body: Any, *,
                       load: Callable[[], Awaitable[RemunerationFile]], render: Callable[[RemunerationFile], Any],
                       idempotency_key: str | None) -> Answer:
    """Files the trainee's request (RS1), before or after the entry; once per idempotency key.

    `body` is the request (dossier_id, iban, nir and the facts); `load` finds the caller's file.
    """
    async def create() -> tuple[int, Any]:
        file = await load()
        _refuse_if_filed_or_over(file)
        _record_request(runtime, file, body, principal.describe())
        await move_file(db, runtime.outbox, runtime.settings.policy(), file, FileAction.FILE_REQUEST,
                        principal.describe(), "remuneration request filed")
        await db.flush()
        return 201, render(file)

    return await create_once(db, runtime.tables, hasher=runtime.hasher, principal=principal,
                                   operation="file-request", key=idempotency_key,
                                   payload=body.model_dump(mode="json"), create=create)


def _refuse_if_filed_or_over(file: RemunerationFile) -> None:
    if file.request_id is not None:
        raise Conflict("A remuneration request is already filed for this training file",
                       request_id=str(file.request_id))
    if file.state in (FileState.CLOSED, FileState.CANCELLED):
        raise Conflict(f"The training file is {file.state}: no request can be filed", current_state=file.state)


def _record_request(runtime: Runtime, file: RemunerationFile, body: Any, actor: str) -> None:
    """The facts in clear, the IBAN and the NIR encrypted (their masked forms for display)."""
    cipher = runtime.cipher
    facts = body.model_dump(mode="json", exclude={"iban", "nir", "dossier_id"})
    if body.nir:
        file.nir_encrypted = cipher.encrypt(body.nir, context=NIR_CONTEXT)
        facts["nir_masked"] = mask_nir(body.nir)
    file.request_id = uuid.uuid4()
    file.request_facts = facts
    file.iban_encrypted = cipher.encrypt(body.iban, context=IBAN_CONTEXT)
    file.iban_masked = mask_iban(body.iban)
    file.request_filed_at, file.request_filed_by = utcnow(), actor


async def amend_request(db: AsyncSession, runtime: Runtime, file: RemunerationFile, changes: dict, actor: str,
                        if_match: str | None = None) -> RemunerationFile:
    """Corrects facts of the trainee's request (RS1), decides the regime again, and commits.

    Paid months are not rewritten: the next run reviews them with the corrected facts and pays
    the difference or recovers the overpayment, naming what changed.
    """
    await db.refresh(file, with_for_update=True)
    check_if_match(if_match, file.version)
    if file.request_id is None:
        raise NotFound("No remuneration request is filed for this training file; file it with POST /requests")
    if file.state == FileState.CANCELLED:
        raise Conflict("The training file is cancelled: its request cannot be amended", current_state=file.state)
    before = dict(file.request_facts or {})
    after = {**before, **changes}
    changed = sorted(k for k in after if before.get(k) != after.get(k))
    if not changed:
        return file
    file.request_facts = after
    why = "request amended (" + ", ".join(f"{k}: {before.get(k)} → {after.get(k)}" for k in changed) + ")"
    _move(db, file, FileAction.AMEND_REQUEST, actor, why)
    redecide_regime(db, runtime.settings.policy(), file, actor, "request amended")
    await db.commit()
    return file


# ---------------------------------------------------------------------------- what sessions tell (events)


async def _file_for(db: AsyncSession, runtime: Runtime, event: TraineeEvent) -> RemunerationFile:
    """The file the event is about, created from its snapshot, or updated when the snapshot is newer."""
    snapshot = event.dossier
    file = await db.get(RemunerationFile, snapshot.dossier_id, with_for_update=True)
    if file is None:
        file = new_file(snapshot)
        db.add(file)
        await db.flush()
    elif snapshot.version >= file.dossier_version:
        apply_snapshot(file, snapshot)
        redecide_regime(db, runtime.settings.policy(), file, event.actor)
    # An answer that came first waits by dossier id; looked for at every event, so one that raced
    # the file's creation (PostgreSQL, read committed) is taken by the next one.
    await _adopt_early_answer(db, runtime, file)
    if file.traceparent is None:
        # The journey's trace: the one of the first trainee event (the consumer made it current).
        file.traceparent = parse_traceparent(current_traceparent.get())
    return file


async def on_trainee_snapshot(db: AsyncSession, runtime: Runtime, event: TraineeEvent) -> None:
    await _file_for(db, runtime, event)


async def on_entered(db: AsyncSession, runtime: Runtime, event: TraineeEntered) -> None:
    file = await _file_for(db, runtime, event)
    file.entry_date = event.entry_date
    if file.state == FileState.AWAITING_ENTRY:
        await move_file(db, runtime.outbox, runtime.settings.policy(), file, FileAction.ENTER, event.actor)


async def on_interrupted(db: AsyncSession, runtime: Runtime, event: TraineeInterrupted) -> None:
    await _file_for(db, runtime, event)
    if await db.get(InterruptionRow, event.interruption_id) is None:
        db.add(InterruptionRow(interruption_id=event.interruption_id, dossier_id=event.dossier.dossier_id,
                               start_date=event.start_date, reason=event.reason.value, declared_at=utcnow()))


async def on_resumed(db: AsyncSession, runtime: Runtime, event: TraineeResumed) -> None:
    await _file_for(db, runtime, event)
    interruption = await db.get(InterruptionRow, event.interruption_id)
    if interruption is None:
        raise LookupError(f"resumption of unknown interruption {event.interruption_id}")
    if interruption.resumption_date != event.resumption_date:
        interruption.resumption_date, interruption.resumption_declared_at = event.resumption_date, utcnow()


async def on_exited(db: AsyncSession, runtime: Runtime, event: TraineeExited) -> None:
    file = await _file_for(db, runtime, event)
    if file.exit_date != event.exit_date or file.exit_declared_at is None:
        file.exit_date, file.exit_declared_at = event.exit_date, utcnow()
    if file.state not in (FileState.CLOSED, FileState.CANCELLED):
        await move_file(db, runtime.outbox, runtime.settings.policy(), file, FileAction.EXIT, event.actor,
                        f"exit ({event.exit_kind.value}) on {event.exit_date.isoformat()}")


async def on_cancelled(db: AsyncSession, runtime: Runtime, event: TraineeCancelled) -> None:
    file = await _file_for(db, runtime, event)
    if file.state != FileState.CANCELLED:
        file.cancelled_at = utcnow()
        await move_file(db, runtime.outbox, runtime.settings.policy(), file, FileAction.CANCEL, event.actor,
                        event.reason or "entry declared by mistake")


# ---------------------------------------------------------------------------- what France Travail answers (events)

FRANCE_TRAVAIL_ACTOR = "system:france-travail"


async def on_france_travail_answer(db: AsyncSession, runtime: Runtime, event: FranceTravailBenefitAnswered) -> None:
    """France Travail said whether the person receives unemployment benefit: the regime is decided
    from it (docs/france-travail.md). A late or changed answer decides the regime again; the next
    run recomputes the months already paid. An answer older than (or the same as) the one kept
    changes nothing. An answer for a file sessions has not told of yet (the two topics are not
    ordered together) is kept by dossier id and applied when the file is created."""
    answer = {
        "unemployment_benefit": event.unemployment_benefit,
        "daily_amount": str(event.daily_amount) if event.daily_amount is not None else None,
        "benefit_end_date": event.benefit_end_date.isoformat() if event.benefit_end_date else None,
        "certificate_id": event.certificate_id,
        "answered_at": event.answered_at.isoformat(),
    }
    file = await db.get(RemunerationFile, event.dossier_id, with_for_update=True)
    if file is None:
        early = await db.get(EarlyFranceTravailAnswer, event.dossier_id, with_for_update=True)
        if early is None:
            db.add(EarlyFranceTravailAnswer(dossier_id=event.dossier_id, answer=answer, received_at=utcnow()))
        elif _newer(answer, early.answer):
            early.answer, early.received_at = answer, utcnow()
        return
    _keep_answer(db, runtime, file, answer)


def _newer(answer: dict[str, Any], kept: dict[str, Any] | None) -> bool:
    return not kept or kept["answered_at"] < answer["answered_at"]


def _keep_answer(db: AsyncSession, runtime: Runtime, file: RemunerationFile, answer: dict[str, Any]) -> None:
    """The latest answer kept on the file; the regime decided again if it already was."""
    if not _newer(answer, file.france_travail_answer):
        return
    file.france_travail_answer = answer
    if file.regime is not None:
        redecide_regime(db, runtime.settings.policy(), file, FRANCE_TRAVAIL_ACTOR,
                        "France Travail's answer to the entry certificate")


async def _adopt_early_answer(db: AsyncSession, runtime: Runtime, file: RemunerationFile) -> None:
    """An answer that came before the file (or raced its creation) moves onto it."""
    early = await db.get(EarlyFranceTravailAnswer, file.dossier_id, with_for_update=True)
    if early is not None:
        _keep_answer(db, runtime, file, early.answer)
        await db.delete(early)
