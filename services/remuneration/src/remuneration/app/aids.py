"""Use case of the emergency aid: granted or refused with the reason, once per file; a granted
aid is published, and paid by the next run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pacte_common.auth import Principal
from pacte_common.clock import utcnow
from pacte_common.idempotency import Answer, create_once
from pacte_common.service import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.db.files import granted_aid, regime_facts
from remuneration.db.models import EmergencyAid, RemunerationFile
from remuneration.domain.emergency_aid import AidCase, decide_emergency_aid
from remuneration.domain.regime import Regime
from remuneration.domain.states import FileState
from remuneration.events import publish


async def ask_emergency_aid(db: AsyncSession, runtime: Runtime, principal: Principal, body: Any, *,
                            load: Callable[[], Awaitable[RemunerationFile]], render: Callable[[EmergencyAid], Any],
                            idempotency_key: str | None) -> Answer:
    """Decides the aid asked in `body` (household_size, monthly_resources) for the file `load` finds."""
    async def create() -> tuple[int, Any]:
        file = await load()
        already = await granted_aid(db, file.dossier_id)
        decision = decide_emergency_aid(AidCase(
            regime=Regime(file.regime) if file.regime else Regime.NONE,
            programme_code=file.programme_code,
            unemployment_benefit=regime_facts(file).unemployment_benefit,
            household_size=body.household_size,
            monthly_resources=body.monthly_resources,
            already_granted=already is not None,
            in_training=file.state in (FileState.OPEN, FileState.NOT_ENTITLED),
        ), runtime.settings.policy())
        aid = EmergencyAid(
            dossier_id=file.dossier_id, granted_dossier_id=file.dossier_id if decision.granted else None,
            granted=decision.granted, reason_code=decision.reason_code, reason=decision.reason,
            amount=decision.amount, household_size=body.household_size, monthly_resources=body.monthly_resources,
            requested_by=principal.describe(), created_at=utcnow(),
        )
        db.add(aid)
        await db.flush()
        if decision.granted:
            await publish.emergency_aid_granted(db, runtime.outbox, file, aid)
        return 201, render(aid)

    return await create_once(db, runtime.tables, hasher=runtime.hasher, principal=principal,
                                   operation="emergency-aid", key=idempotency_key,
                                   payload=body.model_dump(mode="json"), create=create)
