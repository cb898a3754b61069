"""What an LHEO import writes, computed from the file and the rows already there (docs/lheo.md,
"Import"). Pure: the use case (app/lheo.py) reads the existing rows in a few SELECTs, asks this
module what becomes of each action and session, then writes all of it in bulk.

An element is created, updated (the changed fields named), unchanged (nothing written, nothing
published, unless bookkeeping the report does not show) or rejected with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from sessions.domain.lheo import LheoAction, LheoSession

Status = Literal["created", "updated", "unchanged", "rejected"]
STATUSES: tuple[Status, ...] = ("created", "updated", "unchanged", "rejected")


def same(current: Any, new: Any) -> bool:
    if isinstance(new, Decimal) and current is not None:
        return Decimal(current) == new
    return current == new


def changes(current: Mapping[str, Any], fields: dict) -> dict:
    """The fields whose value in the file differs from the row's."""
    return {name: value for name, value in fields.items() if not same(current[name], value)}


def changed_reason(diff: dict) -> str:
    return f"changed: {', '.join(sorted(diff))}"


def action_fields(parsed: LheoAction, programme_id: uuid.UUID) -> dict:
    fields = {k: v for k, v in parsed.fields.items() if k != "programme_code"}
    return {**fields, "programme_id": programme_id, "lheo_details": parsed.details}


def session_fields(parsed: LheoSession, current: Mapping[str, Any] | None) -> dict:
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
        if current is not None and not current["places_unknown"]:
            del fields["places"], fields["places_unknown"]  # the Region set them
        else:
            fields.update(places=0, places_unknown=True, recruitment_state="closed")
    return fields


def session_refusal(current: Mapping[str, Any], action_id: uuid.UUID, key: str, diff: dict) -> str | None:
    if current["action_id"] != action_id:
        return f"session {key!r} belongs to another action"
    if current["cancelled_at"] is not None:
        return "the session is cancelled in the Pacte; a cancelled session is not reopened by an import"
    if diff.get("places") is not None and diff["places"] < current["places_taken"]:
        return f"places {diff['places']} is below the {current['places_taken']} places already taken"
    return None


@dataclass(frozen=True)
class SessionPlan:
    """What becomes of one session of the file: its status, the columns to write (the whole row
    for a new one, none for an unchanged one), and the catalogue event it publishes, if any."""

    status: Status
    reason: str | None = None
    write: dict = field(default_factory=dict)
    event: Literal["published", "updated"] | None = None


def plan_session(
    parsed: LheoSession, current: Mapping[str, Any] | None, *, action_id: uuid.UUID, action_changed: bool,
    feed: str | None, territory_code: str | None,
) -> SessionPlan:
    """`territory_code` is the one of the action's training place (docs/territories.md); `feed`,
    the pulled feed the session now comes from (it closes the session when the session leaves it)."""
    fields = session_fields(parsed, current)
    if current is None:
        row = {**fields, "lheo_id": parsed.key, "action_id": action_id, "places_taken": 0, "lheo_feed": feed,
               "territory_code": territory_code}
        return SessionPlan("created", write=row, event="published")
    diff = changes(current, fields)
    if refusal := session_refusal(current, action_id, parsed.key, diff):
        return SessionPlan("rejected", reason=refusal)
    bookkeeping = {}
    if feed and current["lheo_feed"] != feed:
        bookkeeping["lheo_feed"] = feed
    if current["territory_code"] != territory_code:
        bookkeeping["territory_code"] = territory_code
    if diff:
        return SessionPlan("updated", changed_reason(diff), {**diff, **bookkeeping}, "updated")
    # The action's new attributes reach the session's readers.
    return SessionPlan("unchanged", write=bookkeeping, event="updated" if action_changed else None)


def formation_status(statuses: list[str]) -> Status:
    """A formation sums up its items: created if one was, updated if one was, rejected if all were."""
    if not statuses or all(s == "rejected" for s in statuses):
        return "rejected"
    for status in ("created", "updated"):
        if status in statuses:
            return status  # type: ignore[return-value]
    return "unchanged"
