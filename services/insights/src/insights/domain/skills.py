"""A person's skills passport: certification results and skill blocks obtained. No I/O.

Who reads it: the Region, and the person's *current* prescriber, that is the prescriber of
the person's latest training file that has one (a person followed by France Travail, then by
a Mission locale, is read by the Mission locale only). Cancelled files never count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from uuid import UUID

# A file whose enrolment time is not known yet (its events still on the way) counts as the oldest.
NOT_YET_KNOWN = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class FileSkills:
    dossier_id: UUID
    enrolled_at: datetime | None
    status: str
    prescriber_code: str | None
    programme_code: str
    action_title: str
    rncp_code: str | None
    certifying: bool
    skill_blocks_offered: list[str]
    certification_result: str | None
    skill_blocks_obtained: list[str]
    exit_date: date | None


def current_prescriber(files: list[FileSkills]) -> str | None:
    prescribed = [f for f in files if f.prescriber_code and f.status != "cancelled"]
    return max(prescribed, key=lambda f: f.enrolled_at or NOT_YET_KNOWN).prescriber_code if prescribed else None


def blocks_obtained(f: FileSkills) -> list[str]:
    """A certification obtained in full gives every block of the training; a partial one, the
    blocks declared at exit (the only case where the exit names blocks)."""
    if f.certification_result == "obtained":
        return sorted(set(f.skill_blocks_offered) | set(f.skill_blocks_obtained))
    return sorted(f.skill_blocks_obtained)


def passport(files: list[FileSkills]) -> tuple[list[FileSkills], list[str]]:
    """The files that certify something (assessed or with blocks obtained) and every block obtained."""
    counted = [f for f in files if f.status != "cancelled" and (f.certification_result or f.skill_blocks_obtained)]
    counted.sort(key=lambda f: (f.exit_date or date.max, f.enrolled_at or NOT_YET_KNOWN))
    blocks = sorted({block for f in counted for block in blocks_obtained(f)})
    return counted, blocks
