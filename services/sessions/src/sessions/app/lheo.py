"""The LHEO import's use case: an offer file into the catalogue (docs/lheo.md).

The file is parsed and validated against the official XSD off the event loop (`read`), then
upserted by LHEO `numero`, set-based (`import_offer`): the existing actions and sessions are read
in a few SELECTs, what becomes of each is computed in memory (domain/lheo_upsert.py), actions are
written in one flush and sessions in bulk (one multi-row INSERT, one executemany UPDATE per shape
of row), and the catalogue events go to the outbox in one INSERT. The report gives every
formation, action and session its status (created, updated, unchanged, rejected with the reason)
and the defaults used for what LHEO lacks. Sessions are placed in their territory before they
are written, so each event carries the row's final version. A re-import of the same file writes
nothing and publishes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Literal

import anyio
from pacte_common.contracts.sessions import (
    CatalogueEvent,
    SessionClosed,
    SessionPublished,
    SessionUpdated,
)
from pacte_common.db import utcnow
from pacte_common.errors import Invalid
from pacte_common.service import Runtime
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.app.territories import place_of
from sessions.db.lheo import (
    actions_by_id,
    actions_by_key,
    insert_sessions,
    open_session_rows_of_feed,
    session_rows_by_key,
    session_rows_of_actions,
    update_sessions,
)
from sessions.db.models import Action, LheoProgrammeMapping, Programme
from sessions.db.territories import current_version, places_for_postcode, territory_codes
from sessions.domain.lheo import (
    ImportOptions,
    LheoAction,
    LheoFileRefused,
    LheoFormation,
    LheoOffer,
    UnsupportedVersion,
    read_offer,
)
from sessions.domain.lheo_upsert import (
    STATUSES,
    Status,
    action_fields,
    changed_reason,
    changes,
    formation_status,
    plan_session,
)
from sessions.domain.territories import CoveredPlace, resolve
from sessions.events.publish import session_snapshot


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



# ---------------------------------------------------------------- the run


@dataclass
class _Territories:
    """The current territories version, its covered places read once per postcode (docs/territories.md)."""

    version: int | None
    known: set[str]
    covered: dict[str, list[CoveredPlace]] = field(default_factory=dict)

    @classmethod
    async def load(cls, db: AsyncSession) -> _Territories:
        version = await current_version(db)
        return cls(version, await territory_codes(db, version) if version is not None else set())

    async def code_of(self, db: AsyncSession, action: Action) -> str | None:
        """The territory of the action's training place, which all its sessions share."""
        if self.version is None:
            return None
        place = place_of(SimpleNamespace(action=action))  # a session's place is its action's
        if place.postcode and place.postcode not in self.covered:
            rows = await places_for_postcode(db, self.version, place.postcode)
            self.covered[place.postcode] = [CoveredPlace(c.territory_code, c.commune_name, c.postcode) for c in rows]
        return resolve(place, self.covered.get(place.postcode or "", []), self.known)


@dataclass
class _Run:
    """One import in progress: the rows read, the rows to write, the events to publish, the report."""

    feed: str | None
    territories: _Territories
    actions: dict[str, Action]  # by LHEO key, existing or new
    rows: dict[str, dict[str, Any]]  # sessions by LHEO key, as they will be once written
    inserts: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    updates: dict[uuid.UUID, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)  # id -> (row read, columns)
    events: dict[uuid.UUID, type[CatalogueEvent]] = field(default_factory=dict)  # in order of publication
    action_of: dict[uuid.UUID, Action] = field(default_factory=dict)

    def write(self, key: str, current: dict[str, Any] | None, columns: dict[str, Any], action: Action) -> None:
        """Records the columns to write for one session (the whole row when it is new)."""
        if current is None:
            row = {**columns, "id": uuid.uuid4(), "version": 1, "cancelled_at": None, "cancel_reason": None}
            row["created_at"] = row["updated_at"] = utcnow()
            self.inserts[row["id"]] = row
        elif current["id"] in self.inserts:  # the file names it twice
            row = self.inserts[current["id"]]
            row.update(columns)
        else:
            read, written = self.updates.setdefault(current["id"], (current, {}))
            written.update(columns)
            row = {**read, **written, "version": read["version"] + 1}
        self.rows[key] = row
        self.action_of[row["id"]] = action

    def publish(self, row_id: uuid.UUID, event_class: type[CatalogueEvent]) -> None:
        self.events.setdefault(row_id, event_class)  # one event per session: a new one stays "published"


def _item(parsed: LheoAction, status: Status, row_id=None, reason=None, *, kind="action", key=None, path=None, defaults=None) -> ReportItem:
    return ReportItem(
        kind=kind, status=status, lheo_id=key or parsed.key, name=parsed.name, path=path or parsed.path,
        id=str(row_id) if row_id else None, reason=reason, defaults=parsed.defaults if defaults is None else defaults,
        departement=parsed.departement,
    )


# ---------------------------------------------------------------- actions: one flush


async def _write_actions(
    db: AsyncSession, run: _Run, importable: list[tuple[LheoAction, Programme]]
) -> dict[int, tuple[Status, str | None]]:
    """Every importable action created or brought to the file's values, in one flush (the ORM
    keeps the actions' optimistic concurrency and the public index's bookkeeping); the status
    and reason of each, by position in `importable`."""
    outcome: dict[int, tuple[Status, str | None]] = {}
    for index, (parsed, programme) in enumerate(importable):
        fields = action_fields(parsed, programme.id)
        action = run.actions.get(parsed.key)
        if action is None:
            action = Action(id=uuid.uuid4(), lheo_id=parsed.key, **fields)
            action.programme = programme
            db.add(action)
            run.actions[parsed.key] = action
            outcome[index] = ("created", None)
        elif diff := changes({name: getattr(action, name) for name in fields}, fields):
            for name, value in diff.items():
                setattr(action, name, value)
            if "programme_id" in diff:
                action.programme = programme
            outcome[index] = ("updated", changed_reason(diff))
        else:
            outcome[index] = ("unchanged", None)
    await db.flush()
    return outcome


# ---------------------------------------------------------------- sessions: planned, then written in bulk


async def _plan_sessions(db: AsyncSession, run: _Run, parsed: LheoAction, action: Action, action_changed: bool) -> list[ReportItem]:
    territory = await run.territories.code_of(db, action)
    items = []
    for parsed_session in parsed.sessions:
        current = run.rows.get(parsed_session.key)
        plan = plan_session(parsed_session, current, action_id=action.id, action_changed=action_changed, feed=run.feed,
                            territory_code=territory)
        if plan.write:
            run.write(parsed_session.key, current, plan.write, action)
        row_id = run.rows[parsed_session.key]["id"] if parsed_session.key in run.rows else None
        if plan.event:
            run.action_of[row_id] = action  # an unchanged session whose action changed: nothing written, still published
            run.publish(row_id, SessionPublished if plan.event == "published" else SessionUpdated)
        items.append(_item(parsed, plan.status, row_id, plan.reason, kind="session", key=parsed_session.key,
                           path=parsed_session.path, defaults=parsed_session.defaults))
    return items


async def _place_other_sessions(db: AsyncSession, run: _Run, changed: list[Action]) -> None:
    """Sessions of a changed action that the file does not name follow its training place too,
    and are republished: their snapshot carries the action (as a PATCH of the action does)."""
    planned = {row["id"] for row in run.rows.values()}
    by_id = {action.id: action for action in changed}
    for row in await session_rows_of_actions(db, list(by_id)):
        if row["id"] in planned:
            continue
        action = by_id[row["action_id"]]
        code = await run.territories.code_of(db, action)
        key = row["lheo_id"] or str(row["id"])
        if row["territory_code"] != code:
            run.write(key, row, {"territory_code": code}, action)
        else:
            run.rows[key], run.action_of[row["id"]] = row, action  # unchanged, but its snapshot is
        run.publish(row["id"], SessionUpdated)


async def _write_sessions_and_publish(db: AsyncSession, runtime: Runtime, run: _Run) -> None:
    await insert_sessions(db, list(run.inserts.values()))
    await update_sessions(db, list(run.updates.values()))
    final = {row["id"]: row for row in run.rows.values()}
    await _publish(db, runtime, [(event_class, final[row_id], run.action_of[row_id]) for row_id, event_class in run.events.items()])


async def _publish(db: AsyncSession, runtime: Runtime, events: list[tuple[type[CatalogueEvent], dict[str, Any], Action]]) -> None:
    """One outbox INSERT for all the catalogue events, keyed by session id, each with the row as written."""
    await runtime.outbox.publish_many(db, [
        (event_class(session=session_snapshot(SimpleNamespace(**row, action=action))), str(row["id"]), None)  # type: ignore[arg-type]
        for event_class, row, action in events
    ])


# ---------------------------------------------------------------- formations


def _rejected_action(parsed: LheoAction) -> list[ReportItem]:
    reason = f"unknown programme {parsed.fields['programme_code']!r}"
    return [
        _item(parsed, "rejected", reason=reason),
        *(ReportItem(kind="session", status="rejected", lheo_id=s.key, name=parsed.name, path=s.path, reason="its action is rejected",
                     departement=parsed.departement)
          for s in parsed.sessions),
    ]


def _formation_items(formation: LheoFormation, items: list[ReportItem]) -> list[ReportItem]:
    """The formation's head item (its status sums up its items), then its items by path."""
    items = items + [
        ReportItem(kind=r.kind, status="rejected", lheo_id=r.key, name=r.name, path=r.path, reason=r.reason,  # type: ignore[arg-type]
                   departement=r.departement)
        for r in formation.rejections
    ]
    items.sort(key=lambda i: i.path)
    status = formation_status([i.status for i in items if i.kind != "formation"])
    reason = None
    if status == "rejected":
        reason = next((i.reason for i in items if i.kind == "action"), None) or "no action could be imported"
    head = ReportItem(kind="formation", status=status, lheo_id=formation.key, name=formation.name, path=formation.path, reason=reason)
    return [head, *items]


async def programme_mappings(db: AsyncSession) -> dict[tuple[str, str], str]:
    """The Region's table: (kind, LHEO code) -> programme code."""
    rows = (await db.execute(select(LheoProgrammeMapping))).unique().scalars()
    return {(row.kind, row.code): row.programme.code for row in rows}


async def _upsert(db: AsyncSession, runtime: Runtime, offer: LheoOffer, feed: str | None) -> list[ReportItem]:
    """Reads the rows the file names (a few SELECTs), writes what changed in bulk, publishes."""
    programmes = {p.code: p for p in (await db.execute(select(Programme))).scalars()}
    importable = [(parsed, programmes[parsed.fields["programme_code"]]) for formation in offer.formations
                  for parsed in formation.actions if parsed.fields["programme_code"] in programmes]
    run = _Run(feed, await _Territories.load(db), await actions_by_key(db, [parsed.key for parsed, _ in importable]),
               await session_rows_by_key(db, [s.key for parsed, _ in importable for s in parsed.sessions]))
    outcome = await _write_actions(db, run, importable)
    items: list[ReportItem] = []
    changed: dict[uuid.UUID, Action] = {}
    index = 0
    for formation in offer.formations:
        formation_items: list[ReportItem] = []
        for parsed in formation.actions:
            if parsed.fields["programme_code"] not in programmes:
                formation_items += _rejected_action(parsed)
                continue
            (status, reason), action = outcome[index], run.actions[parsed.key]
            index += 1
            if status == "updated":
                changed[action.id] = action
            formation_items.append(_item(parsed, status, action.id, reason))
            formation_items += await _plan_sessions(db, run, parsed, action, status == "updated")
        items += _formation_items(formation, formation_items)
    await _place_other_sessions(db, run, list(changed.values()))
    await _write_sessions_and_publish(db, runtime, run)
    return items


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
    items = await _upsert(db, runtime, offer, feed)
    counts = {status: sum(1 for i in items if i.status == status) for status in STATUSES}
    unknown = [i.lheo_id for i in items if i.kind == "session" and i.status != "rejected" and any(d.startswith("places unknown") for d in i.defaults)]
    report = ImportReport(lheo_version=offer.version, items=items, counts=counts, places_unknown=[k for k in unknown if k])
    if feed:
        seen = {i.lheo_id for i in items if i.kind == "session"}
        report.closed = await _close_left(db, runtime, feed, seen)
    return report


async def _close_left(db: AsyncSession, runtime: Runtime, feed: str, seen: set[str | None]) -> list[str]:
    """The feed's open sessions that are not in its file any more: closed, never deleted (one
    executemany, one outbox INSERT)."""
    left = [row for row in await open_session_rows_of_feed(db, feed) if row["lheo_id"] not in seen]
    if not left:
        return []
    await update_sessions(db, [(row, {"recruitment_state": "closed"}) for row in left])
    actions = await actions_by_id(db, list({row["action_id"] for row in left}))
    await _publish(db, runtime, [
        (SessionClosed, {**row, "recruitment_state": "closed", "version": row["version"] + 1}, actions[row["action_id"]]) for row in left
    ])
    return [row["lheo_id"] for row in left]


async def import_offer(
    db: AsyncSession, runtime: Runtime, data: bytes, *, programme_code: str | None, places: int | None
) -> ImportReport:
    """Reads the file, upserts its formations, commits; the report says what became of each element."""
    report = await import_without_commit(db, runtime, data, programme_code=programme_code, places=places)
    await db.commit()
    return report
