"""Use case: import ANOTEA reviews. Idempotent by review id; a review whose session (or
action) the Pacte does not know is reported, not stored; one whose SIRET is not the
organisation of that session is refused, reported too. One transaction for the file."""

from __future__ import annotations

from dataclasses import dataclass, field

from pacte_common.service import Runtime
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.db.satisfaction import (
    SatisfactionReview,
    action_by_reference,
    existing_review_ids,
    session_by_reference,
)
from sessions.domain.satisfaction import MARKS, Review
from sessions.events.publish import publish_reviews


@dataclass
class ImportReport:
    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    unknown: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)


async def _target(db: AsyncSession, review: Review, cache: dict):
    """(action, session) the review is about, or (None, None)."""
    key = (review.session_ref, review.action_ref)
    if key not in cache:
        session = await session_by_reference(db, review.session_ref) if review.session_ref else None
        action = session.action if session else (await action_by_reference(db, review.action_ref) if review.action_ref else None)
        cache[key] = (action, session)
    return cache[key]


async def import_reviews(db: AsyncSession, runtime: Runtime, reviews: list[Review], actor: str) -> ImportReport:
    report = ImportReport(received=len(reviews))
    known = await existing_review_ids(db, [r.review_id for r in reviews])
    added: dict[str, SatisfactionReview] = {}  # created by this file (a review may come twice)
    cache: dict = {}
    # every review of the file the Pacte stores, changed or not, is published for the read side
    # (docs/insights.md): importing a file again fills a new read side with it
    recorded: dict[str, SatisfactionReview] = {}
    for review in reviews:
        action, session = await _target(db, review, cache)
        reference = {"review_id": review.review_id, "session": review.session_ref, "action": review.action_ref}
        if action is None:
            report.unknown.append({**reference, "reason": "no such session or action in the Pacte"})
            continue
        if action.organisation_siret != review.siret:
            report.rejected.append({**reference, "reason": f"SIRET {review.siret} is not the organisation of this training ({action.organisation_siret})"})
            continue
        values = dict(action_id=action.id, session_id=session.id if session else None, organisation_siret=review.siret,
                      review_date=review.review_date, comment=review.comment, **{name: review.marks[name] for name in MARKS})
        if review.review_id not in known and review.review_id not in added:
            added[review.review_id] = SatisfactionReview(review_id=review.review_id, imported_by=actor, **values)
            db.add(added[review.review_id])
            recorded[review.review_id] = added[review.review_id]
            report.created += 1
            continue
        row = added.get(review.review_id) or await db.get(SatisfactionReview, review.review_id)
        changes = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changes:
            for name, value in changes.items():
                setattr(row, name, value)
            row.imported_by = actor
            recorded[review.review_id] = row
            report.updated += 1
        else:
            recorded[review.review_id] = row
            report.unchanged += 1
    await db.flush()
    await publish_reviews(db, runtime, list(recorded.values()))
    await db.commit()
    return report
