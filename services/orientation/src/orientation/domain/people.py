"""Rules on the beneficiary: age at prescription, identity normalised for the lookup hash."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from pacte_common.clock import age_on


def birth_date_problem(birth_date: date, today: date, minimum_age: int) -> str | None:
    """Why a birth date cannot be right for a prescription made `today`, or None."""
    if birth_date > today:
        return "birth date is in the future"
    if age_on(birth_date, today) < minimum_age:
        return f"the person must be at least {minimum_age} years old"
    return None


def normalise_name(name: str) -> str:
    """Case, accents, hyphens and spaces do not make two people: 'Élodie-Marie' = 'ELODIE MARIE'."""
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^A-Z]+", " ", ascii_only.upper()).strip()


def identity_lookup_parts(birth_name: str, first_names: str, birth_date: date, sex: str) -> tuple[str, ...]:
    """What identifies a person without a NIR (hashed with the service key, never stored in clear)."""
    return ("identity", normalise_name(birth_name), normalise_name(first_names), birth_date.isoformat(), sex)


def name_matches(typed: str, *names: str | None) -> bool:
    """A last name as typed finds a person whose birth or usual name starts with it, accents, case,
    hyphens and spaces aside: 'dupon' finds 'Dupont-Aignan' and 'DUPONT'."""
    wanted = normalise_name(typed)
    return bool(wanted) and any(name and normalise_name(name).startswith(wanted) for name in names)


def mask_name(name: str) -> str:
    """A name as an audit list shows it: its first letter, then a star per other character."""
    return name[:1] + "*" * (len(name) - 1)


def mask_birth_date(birth_date: date) -> str:
    """A birth date as an audit list shows it: its year only."""
    return f"{birth_date.year:04d}-**-**"
