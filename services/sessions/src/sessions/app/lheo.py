"""The LHEO import's use case: an offer file into the catalogue (docs/lheo.md).

The file is parsed and validated against the official XSD off the event loop (`read`), then
each formation's actions and sessions are upserted by their LHEO `numero` (`import_offer`). The
report gives every formation, action and session its status (created, updated, unchanged,
rejected with the reason) and the defaults used for what LHEO lacks. The sessions are placed in
their territory before anything is published, so each event carries the row's final version.
A re-import of the same file changes nothing and publishes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import anyio
from pacte_common.contracts.sessions import (
    CatalogueEvent,
    SessionClosed,
    SessionPublished,
    SessionUpdated,
)
from pacte_common.errors import Invalid
from pacte_common.service import Runtime
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.app.territories import assign_territories
from sessions.db.models import Action, LheoProgrammeMapping, Programme, TrainingSession
from sessions.db.queries import sessions_of_action
from sessions.domain.lheo import (
    ImportOptions,
    LheoAction,
    LheoFileRefused,
    LheoFormation,
    LheoOffer,
    LheoSession,
    UnsupportedVersion,
    read_offer,
)
from sessions.events.publish import publish_catalogue

Status = Literal["created", "updated", "unchanged", "rejected"]
STATUSES: tuple[Status, ...] = ("created", "updated", "unchanged", "rejected")


class ReportItem(BaseModel):
    kind: Literal["formation", "action", "session"]
    status: Status
    lheo_id: str | None = Field(description="The element's `numero` (or a stable surrogate when the file gives none)")
    name: str = Field(description="The formation's title (intitule-formation)")
    path: str
    id: str | None = None
    reason: str | None = None
    defaults: list[str] = Field(default_factory=list, description="What LHEO lacked and where the value came from")
    departement: str | None = Field(None, description="The training place's département, named: '37 Indre-et-Loire'")


class ImportReport(BaseModel):
    lheo_version: str
    items: list[ReportItem]
    counts: dict[str, int]
    places_unknown: list[str] = Field(
        default_factory=list,
        description="LHEO ids of the sessions imported without any places information: closed for admission until the Region sets their places",
    )
    closed: list[str] = Field(default_factory=list, description="A pulled feed: LHEO ids of the sessions that left it, closed (never deleted)")


class UnsupportedLheo(Invalid):
    slug, title = "unsupported-lheo-version", "Unsupported LHEO version"


class InvalidLheo(Invalid):
    slug, title = "invalid-lheo", "The file is not valid LHEO"


@dataclass
class _Run:
    """One import in progress: the report's items and the events to publish once all is written."""

    runtime: Runtime
    feed: str | None = None
    items: list[ReportItem] = field(default_factory=list)
    to_publish: list[tuple[type[CatalogueEvent], TrainingSession]] = field(default_factory=list)


# ---------------------------------------------------------------- reading the file


async def read(data: bytes, options: ImportOptions) -> LheoOffer:
    """The offer, or 422 (unsupported version, invalid file) with the errors found."""
    try:
        # Parsing and XSD validation are CPU-bound: a worker thread keeps the loop serving.
        return await anyio.to_thread.run_sync(read_offer, data, options)
    except UnsupportedVersion as refused:
        raise UnsupportedLheo(str(refused), errors=refused.errors) from None
    except LheoFileRefused as refused:
        raise InvalidLheo(str(refused), errors=refused.errors) from None


# ---------------------------------------------------------------- rows as the file says


def _same(current, new) -> bool:
    if isinstance(new, Decimal) and current is not None:
        return Decimal(current) == new
    return current == new


def _changes(row, fields: dict) -> dict:
    return {name: value for name, value in fields.items() if not _same(getattr(row, name), value)}


def _action_fields(parsed: LheoAction, programme: Programme) -> dict:
    fields = {k: v for k, v in parsed.fields.items() if k != "programme_code"}
    return {**fields, "programme_id": programme.id, "lheo_details": parsed.details}


def _session_fields(parsed: LheoSession, session: TrainingSession | None) -> dict:
    """The row's fields as the file says. Without any places in the file, a session is "places
    unknown" (0 places, closed for admission) until the Region sets them; places the Region set
    are kept by later imports of the same file."""
    fields = {
        "start_date": parsed.start_date,
        "end_date": parsed.end_date,
        "places": parsed.places,
        "places_unknown": False,
        "permanent_entries": parsed.permanent_entries,
        "recruitment_state": parsed.recruitment_state,
        "information_meetings": [d.isoformat() for d in parsed.information_meetings],
    }
    if parsed.places is None:
        if session is not None and not session.places_unknown:
            del fields["places"], fields["places_unknown"]  # the Region set them
        else:
            fields.update(places=0, places_unknown=True, recruitment_state="closed")
    return fields


async def _by_key(db: AsyncSession, model: Any, key: str):
    """The row whose LHEO id is `key`; an exported row without LHEO id is exported under its own id."""
    row = (await db.execute(select(model).where(model.lheo_id == key))).unique().scalar_one_or_none()
    if row is None:
        try:
            own_id = uuid.UUID(key)
        except ValueError:
            return None
        row = (await db.execute(select(model).where(model.id == own_id, model.lheo_id.is_(None)))).unique().scalar_one_or_none()
    return row


def _item(parsed: LheoAction, status: Status, row_id=None, reason=None, *, kind="action", key=None, path=None, defaults=None) -> ReportItem:
    return ReportItem(
        kind=kind, status=status, lheo_id=key or parsed.key, name=parsed.name, path=path or parsed.path,
        id=str(row_id) if row_id else None, reason=reason, defaults=parsed.defaults if defaults is None else defaults,
        departement=parsed.departement,
    )


def _changed(changes: dict) -> str:
    return f"changed: {', '.join(sorted(changes))}"


# ---------------------------------------------------------------- upserts


async def _upsert_action(db: AsyncSession, run: _Run, parsed: LheoAction, programme: Programme) -> tuple[Action, bool]:
    """The action created or brought to the file's values; whether an existing one changed."""
    fields = _action_fields(parsed, programme)
    action = await _by_key(db, Action, parsed.key)
    changed = False
    if action is None:
        action = Action(lheo_id=parsed.key, **fields)
        db.add(action)
        await db.flush()
        run.items.append(_item(parsed, "created", action.id))
    elif changes := _changes(action, fields):
        for name, value in changes.items():
            setattr(action, name, value)
        await db.flush()
        changed = True
        run.items.append(_item(parsed, "updated", action.id, _changed(changes)))
    else:
        run.items.append(_item(parsed, "unchanged", action.id))
    await db.refresh(action)
    return action, changed


def _session_refusal(session: TrainingSession, action: Action, key: str, changes: dict) -> str | None:
    if session.action_id != action.id:
        return f"session {key!r} belongs to another action"
    if session.cancelled_at is not None:
        return "the session is cancelled in the Pacte; a cancelled session is not reopened by an import"
    if changes.get("places") is not None and changes["places"] < session.places_taken:
        return f"places {changes['places']} is below the {session.places_taken} places already taken"
    return None


async def _upsert_session(
    db: AsyncSession, run: _Run, parsed: LheoAction, parsed_session: LheoSession, action: Action, action_changed: bool
) -> None:
    def item(status: Status, row_id, reason=None) -> ReportItem:
        return _item(parsed, status, row_id, reason, kind="session", key=parsed_session.key, path=parsed_session.path,
                     defaults=parsed_session.defaults)

    session = await _by_key(db, TrainingSession, parsed_session.key)
    fields = _session_fields(parsed_session, session)
    if session is None:
        session = TrainingSession(
            lheo_id=parsed_session.key, action=action, action_id=action.id, places_taken=0, lheo_feed=run.feed, **fields
        )
        db.add(session)
        await assign_territories(db, [session])  # placed before its INSERT: written once, at version 1
        run.to_publish.append((SessionPublished, session))
        run.items.append(item("created", session.id))
        return
    changes = _changes(session, fields)
    if refusal := _session_refusal(session, action, parsed_session.key, changes):
        run.items.append(item("rejected", session.id, refusal))
        return
    if run.feed and session.lheo_feed != run.feed:
        session.lheo_feed = run.feed  # bookkeeping: which feed closes it when it leaves
    if changes:
        for name, value in changes.items():
            setattr(session, name, value)
        await db.flush()
        run.to_publish.append((SessionUpdated, session))
        run.items.append(item("updated", session.id, _changed(changes)))
        return
    if action_changed:  # the action's new attributes reach the session's readers
        run.to_publish.append((SessionUpdated, session))
    run.items.append(item("unchanged", session.id))


async def _import_action(db: AsyncSession, run: _Run, parsed: LheoAction, programme: Programme) -> None:
    """The action, its sessions, their territory (docs/territories.md), then their events."""
    action, changed = await _upsert_action(db, run, parsed, programme)
    for parsed_session in parsed.sessions:
        await _upsert_session(db, run, parsed, parsed_session, action, changed)
    await assign_territories(db, await sessions_of_action(db, action.id))
    for event_class, session in run.to_publish:
        await db.refresh(session)
        await publish_catalogue(db, run.runtime, event_class, session)
    run.to_publish.clear()


# ---------------------------------------------------------------- formations


def _formation_status(statuses: list[str]) -> Status:
    if not statuses or all(s == "rejected" for s in statuses):
        return "rejected"
    for status in ("created", "updated"):
        if status in statuses:
            return status
    return "unchanged"


def _rejected_action(parsed: LheoAction) -> list[ReportItem]:
    reason = f"unknown programme {parsed.fields['programme_code']!r}"
    return [
        _item(parsed, "rejected", reason=reason),
        *(ReportItem(kind="session", status="rejected", lheo_id=s.key, name=parsed.name, path=s.path, reason="its action is rejected",
                     departement=parsed.departement)
          for s in parsed.sessions),
    ]


async def _import_formation(
    db: AsyncSession, runtime: Runtime, formation: LheoFormation, programmes: dict[str, Programme], feed: str | None
) -> list[ReportItem]:
    run = _Run(runtime, feed)
    for parsed in formation.actions:
        programme = programmes.get(parsed.fields["programme_code"])
        if programme is None:
            run.items += _rejected_action(parsed)
        else:
            await _import_action(db, run, parsed, programme)
    items = run.items + [
        ReportItem(kind=r.kind, status="rejected", lheo_id=r.key, name=r.name, path=r.path, reason=r.reason,  # type: ignore[arg-type]
                   departement=r.departement)
        for r in formation.rejections
    ]
    items.sort(key=lambda i: i.path)
    status = _formation_status([i.status for i in items if i.kind != "formation"])
    reason = None
    if status == "rejected":
        reason = next((i.reason for i in items if i.kind == "action"), None) or "no action could be imported"
    head = ReportItem(kind="formation", status=status, lheo_id=formation.key, name=formation.name, path=formation.path, reason=reason)
    return [head, *items]


async def programme_mappings(db: AsyncSession) -> dict[tuple[str, str], str]:
    """The Region's table: (kind, LHEO code) -> programme code."""
    rows = (await db.execute(select(LheoProgrammeMapping))).unique().scalars()
    return {(row.kind, row.code): row.programme.code for row in rows}


async def import_without_commit(
    db: AsyncSession, runtime: Runtime, data: bytes, *, programme_code: str | None, places: int | None, feed: str | None = None
) -> ImportReport:
    """Reads the file (422 when refused: nothing written), upserts its formations; from a feed,
    closes the feed's sessions the file no longer has. The caller commits."""
    settings = runtime.settings
    options = ImportOptions(
        departements=frozenset(settings.departements), programme_code=programme_code, places=places,
        programme_mappings=await programme_mappings(db), region_financer_code=settings.lheo_region_financer_code,
    )
    offer = await read(data, options)
    programmes = {p.code: p for p in (await db.execute(select(Programme))).scalars()}
    items: list[ReportItem] = []
    for formation in offer.formations:
        items += await _import_formation(db, runtime, formation, programmes, feed)
    counts = {status: sum(1 for i in items if i.status == status) for status in STATUSES}
    unknown = [i.lheo_id for i in items if i.kind == "session" and i.status != "rejected" and any(d.startswith("places unknown") for d in i.defaults)]
    report = ImportReport(lheo_version=offer.version, items=items, counts=counts, places_unknown=[k for k in unknown if k])
    if feed:
        seen = {i.lheo_id for i in items if i.kind == "session"}
        report.closed = await _close_left(db, runtime, feed, seen)
    return report


async def _close_left(db: AsyncSession, runtime: Runtime, feed: str, seen: set[str | None]) -> list[str]:
    """The feed's open sessions that are not in its file any more: closed, never deleted."""
    query = select(TrainingSession).where(
        TrainingSession.lheo_feed == feed, TrainingSession.cancelled_at.is_(None), TrainingSession.recruitment_state != "closed"
    ).order_by(TrainingSession.lheo_id)
    closed = []
    for session in (await db.execute(query)).unique().scalars():
        if session.lheo_id in seen:
            continue
        session.recruitment_state = "closed"
        await db.flush()
        await db.refresh(session)
        await publish_catalogue(db, runtime, SessionClosed, session)
        closed.append(session.lheo_id)
    return closed


async def import_offer(
    db: AsyncSession, runtime: Runtime, data: bytes, *, programme_code: str | None, places: int | None
) -> ImportReport:
    """Reads the file, upserts its formations, commits; the report says what became of each element."""
    report = await import_without_commit(db, runtime, data, programme_code=programme_code, places=places)
    await db.commit()
    return report
