"""Use cases on a file's entitlement that change facts already paid months depend on."""

from __future__ import annotations

from pacte_common.errors import Conflict, NotFound
from pacte_common.http import check_if_match
from pacte_common.service import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from remuneration.db.files import log_transition, redecide_regime
from remuneration.db.models import RemunerationFile
from remuneration.domain.states import FileState


async def amend_request(session: AsyncSession, runtime: Runtime, file: RemunerationFile, changes: dict, actor: str,
                        if_match: str | None = None) -> RemunerationFile:
    """Corrects facts of the trainee's request (RS1), decides the regime again, and commits.

    Paid months are not rewritten: the next run reviews them with the corrected facts and pays
    the difference or recovers the overpayment, naming what changed.
    """
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
    file.version += 1
    why = "request amended (" + ", ".join(f"{k}: {before.get(k)} → {after.get(k)}" for k in changed) + ")"
    log_transition(session, "file", file.dossier_id, "amend_request", file.state, file.state, actor, why)
    await redecide_regime(session, runtime.outbox, runtime.settings.policy(), file, actor, "request amended")
    await session.commit()
    return file
