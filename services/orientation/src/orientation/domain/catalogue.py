"""Whether a session can take a prescription, and whether it is full (read-model rules)."""

from __future__ import annotations

from collections.abc import Collection


def open_for_prescription(recruitment_state: str, cancelled: bool, prescribable_states: Collection[str]) -> bool:
    return not cancelled and recruitment_state in prescribable_states


def is_full(recruitment_state: str, places: int, places_taken: int, admissions_awaiting_dossier: int) -> bool:
    """Full when sessions says so, or when its places are taken.

    Sessions counts a place once it opened the training file (`places_taken`); our admissions
    whose file it has not reported yet (no TraineeEnrolled seen) hold a place too.
    """
    return recruitment_state == "full" or places_taken + admissions_awaiting_dossier >= places
