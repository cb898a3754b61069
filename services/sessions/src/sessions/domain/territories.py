"""Which employment-training territory a training place belongs to. No I/O.

A place is what the session knows of where it is held: the postcode and town of its
action's training place (LHEO `lieu-de-formation`), else the territory code the Region gave
the action. A postcode may cover communes of two territories: the town's name then decides;
when it cannot, the session gets no territory rather than a guessed one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

POSTCODE = re.compile(r"^\d{5}$")
INSEE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


@dataclass(frozen=True)
class CoveredPlace:
    territory_code: str
    commune_name: str | None
    postcode: str | None


@dataclass(frozen=True)
class SessionPlace:
    postcode: str | None
    town: str | None
    action_territory_code: str | None


def normalised(name: str | None) -> str:
    """'Saint-Herblain', 'ST HERBLAIN', 'saint herblain' → 'SAINT HERBLAIN'."""
    text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode().upper()
    text = re.sub(r"[^A-Z0-9]+", " ", text).strip()
    return re.sub(r"^ST ", "SAINT ", re.sub(r"^STE ", "SAINTE ", text))


def resolve(place: SessionPlace, covered: Iterable[CoveredPlace], known_codes: set[str]) -> str | None:
    """The territory of a place, or None when the reference table does not say (or is ambiguous)."""
    candidates = [c for c in covered if place.postcode and c.postcode == place.postcode]
    codes = {c.territory_code for c in candidates}
    if len(codes) > 1 and place.town:
        codes = {c.territory_code for c in candidates if normalised(c.commune_name) == normalised(place.town)}
    if len(codes) == 1:
        return codes.pop()
    if not candidates and place.action_territory_code in known_codes:
        return place.action_territory_code
    return None


def version_problems(territories: list[dict]) -> list[tuple[str, str]]:
    """(field, message) of what makes a new version unusable: a territory defined twice."""
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, territory in enumerate(territories):
        if territory["code"] in seen:
            problems.append((f"body.territories[{index}].code", f"territory {territory['code']!r} appears twice"))
        seen.add(territory["code"])
    return problems
