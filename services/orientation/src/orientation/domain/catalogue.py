"""Whether a session can take a prescription, and whether it is full (read-model rules)."""

from __future__ import annotations

from collections.abc import Collection


def open_for_prescription(recruitment_state: str, cancelled: bool, prescribable_states: Collection[str]) -> bool:
    return not cancelled and recruitment_state in prescribable_states


def is_full(recruitment_state: str, places: int, places_taken: int, admitted_here: int) -> bool:
    """Full when sessions says so, or when its places are taken.

    Sessions counts a place once it opened the training file; our own admissions it has not
    reported yet also hold a place, hence the larger of the two counts.
    """
    return recruitment_state == "full" or max(places_taken, admitted_here) >= places
