"""Whether a session can take a prescription, and whether it is full (read-model rules)."""

from __future__ import annotations

from collections.abc import Collection


def open_for_prescription(recruitment_state: str, cancelled: bool, prescribable_states: Collection[str]) -> bool:
    return not cancelled and recruitment_state in prescribable_states


def is_full(recruitment_state: str, places: int, places_taken: int, admissions_awaiting_entry: int) -> bool:
    """Full when sessions says so, or when its places are taken.

    Sessions counts a place once the trainee entered (`places_taken`); our admissions not
    entered yet hold a place too (their training file, if opened, holds none over there).
    """
    return recruitment_state == "full" or places_taken + admissions_awaiting_entry >= places


def is_newer(held_version: int | None, incoming_version: int | None) -> bool:
    """Whether a session snapshot should replace the one held (late or replayed events never roll back).

    Versions come from the sessions row, taken under its lock, so they grow in commit order;
    an unversioned snapshot (None) is applied as it comes, the way it always was.
    """
    return incoming_version is None or held_version is None or incoming_version > held_version
