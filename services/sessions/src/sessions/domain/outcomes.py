"""What became of trainees after their exit (docs/outcomes.md): situations, import lines,
matching and the retention cutoff — the trainee's file's side. Pure rules: no I/O, no framework.
The result indicators and trajectories are insights' (docs/insights.md).
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from pacte_common.clock import months_before
from pacte_common.contracts.outcomes import (  # noqa: F401 (JOBS, LASTING_JOBS: the outcomes' presenters')
    JOBS,
    LASTING_JOBS,
    SITUATION_LABELS,
    Horizon,
    OutcomeSituation,
    OutcomeSource,
)
from pacte_common.validators import validate_nir

SOURCE_LABELS: dict[OutcomeSource, str] = {
    OutcomeSource.SURVEY: "Enquête (CARIFOREF)",
    OutcomeSource.FRANCE_TRAVAIL: "Données France Travail",
    OutcomeSource.TRAINING_ORGANISATION: "Organisme de formation",
}
IMPORT_SOURCES = frozenset({OutcomeSource.SURVEY, OutcomeSource.FRANCE_TRAVAIL})
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
TRUE_WORDS = {"true", "1", "yes", "oui", "o", "y"}
FALSE_WORDS = {"false", "0", "no", "non", "n"}


def months_after(day: date, months: int) -> date:
    return months_before(day, -months)


class OutcomeRefused(ValueError):
    """A declared outcome breaks a rule: `field` names the input at fault."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


def check_declaration(exit_date: date | None, observed_on: date, today: date) -> None:
    if exit_date is None:
        raise OutcomeRefused("the training file has no exit: outcomes follow an exit", "body.observed_on")
    if observed_on < exit_date:
        raise OutcomeRefused(f"observed before the exit ({exit_date.isoformat()})", "body.observed_on")
    if observed_on > today:
        raise OutcomeRefused("a situation cannot be observed in the future", "body.observed_on")


# ---------------------------------------------------------------- import lines


@dataclass(frozen=True)
class ImportLine:
    """One valid line of an import: who (a dossier id and/or a keyed NIR hash) and what."""

    number: int
    horizon: Horizon
    situation: OutcomeSituation
    observed_on: date
    job_related_to_training: bool | None
    dossier_id: uuid.UUID | None = None
    nir_hash: str | None = None

    def facts(self) -> tuple:
        return (self.situation, self.observed_on, self.job_related_to_training)


@dataclass(frozen=True)
class LineError:
    number: int
    field: str
    message: str


def _text(raw: dict, name: str) -> str:
    value = raw.get(name)
    return "" if value is None else str(value).strip()


def _boolean(value: str) -> bool | None:
    if value == "":
        return None
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise ValueError("must be true or false (oui/non)")


def parse_line(number: int, raw: dict, hash_nir: Callable[[str], str]) -> ImportLine | list[LineError]:
    """A raw line (CSV row or JSON object) → an ImportLine, or the errors naming each field.

    The NIR, when given, is checked and replaced at once by its keyed hash: it is never kept,
    logged nor echoed in the report."""
    errors: list[LineError] = []

    def fail(name: str, message: str) -> None:
        errors.append(LineError(number, name, message))

    if not isinstance(raw, dict):
        return [LineError(number, "line", "must be an object")]
    dossier_id = nir_hash = None
    if dossier_ref := _text(raw, "dossier_id"):
        try:
            dossier_id = uuid.UUID(dossier_ref)
        except ValueError:
            fail("dossier_id", "must be a training file id (UUID)")
    if nir := _text(raw, "nir"):
        try:
            nir_hash = hash_nir(validate_nir(nir))
        except ValueError as exc:
            fail("nir", str(exc))
    elif given_hash := _text(raw, "nir_hash").lower():
        if _HASH_RE.match(given_hash):
            nir_hash = given_hash
        else:
            fail("nir_hash", "must be the 64-character keyed hash of the NIR")
    if not (dossier_ref or nir or _text(raw, "nir_hash")):
        fail("dossier_id", "a line names its training file (dossier_id) or the person (nir or nir_hash)")
    try:
        horizon = Horizon(int(_text(raw, "horizon_months")))
    except ValueError:
        fail("horizon_months", "must be 3, 6 or 12")
    try:
        situation = OutcomeSituation(_text(raw, "situation"))
    except ValueError:
        fail("situation", "must be one of " + ", ".join(s.value for s in OutcomeSituation))
    try:
        observed_on = date.fromisoformat(_text(raw, "observed_on"))
    except ValueError:
        fail("observed_on", "must be a date YYYY-MM-DD")
    try:
        related = _boolean(_text(raw, "job_related_to_training"))
    except ValueError as exc:
        fail("job_related_to_training", str(exc))
    if errors:
        return errors
    return ImportLine(number, horizon, situation, observed_on, related, dossier_id, nir_hash)


def read_csv(text: str) -> list[dict]:
    """CSV with a header row; `;` (French spreadsheets) or `,` as separator."""
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    return [{(k or "").strip(): v for k, v in row.items()} for row in csv.DictReader(io.StringIO(text), delimiter=delimiter)]


# ---------------------------------------------------------------- matching


@dataclass(frozen=True)
class FileRef:
    """What matching needs of a training file."""

    dossier_id: uuid.UUID
    person_id: uuid.UUID
    status: str
    exit_date: date | None
    nir_hash: str | None


@dataclass(frozen=True)
class Match:
    line: ImportLine
    file: FileRef | None
    reason: str | None = None  # why unmatched


def match_line(line: ImportLine, by_id: dict[uuid.UUID, FileRef], by_nir: dict[str, list[FileRef]]) -> Match:
    """By dossier id first (a NIR given beside it must be the file's); else by the NIR's keyed
    hash: the person's file whose exit is the latest on or before the day observed."""
    if line.dossier_id is not None:
        file = by_id.get(line.dossier_id)
        if file is None or file.status == "cancelled":
            return Match(line, None, "no such training file")
        if line.nir_hash and file.nir_hash != line.nir_hash:
            return Match(line, None, "the NIR is not the training file's")
        return _fits(line, file)
    candidates = [f for f in by_nir.get(line.nir_hash or "", []) if f.status == "exited" and f.exit_date is not None]
    if not by_nir.get(line.nir_hash or ""):
        return Match(line, None, "no training file for this NIR")
    before = [f for f in candidates if f.exit_date <= line.observed_on]
    if not before:
        return Match(line, None, "no exit on or before the day observed for this NIR")
    return Match(line, max(before, key=lambda f: (f.exit_date, str(f.dossier_id))))


def _fits(line: ImportLine, file: FileRef) -> Match:
    if file.status != "exited" or file.exit_date is None:
        return Match(line, None, "the training file has no exit yet")
    if line.observed_on < file.exit_date:
        return Match(line, None, "observed before the exit of the training file")
    return Match(line, file)


@dataclass
class ImportPlan:
    """What an import will do, line by line, before anything is written."""

    matched: list[Match] = field(default_factory=list)
    unmatched: list[Match] = field(default_factory=list)
    duplicates: list[tuple[int, int]] = field(default_factory=list)  # (line, first line of the same key)
    # Well-formed lines the file cannot mean: observed after today, or contradicting an earlier line.
    inconsistent: list[LineError] = field(default_factory=list)


def plan_import(lines: Iterable[ImportLine], by_id: dict, by_nir: dict, today: date) -> ImportPlan:
    """Matches every line; a second line for the same file and horizon is a duplicate when it
    says the same, inconsistent (the file contradicts itself) when it does not."""
    plan = ImportPlan()
    seen: dict[tuple, Match] = {}
    for line in lines:
        if line.observed_on > today:
            plan.inconsistent.append(LineError(line.number, "observed_on", "is after today"))
            continue
        match = match_line(line, by_id, by_nir)
        if match.file is None:
            plan.unmatched.append(match)
            continue
        key = (match.file.dossier_id, line.horizon)
        first = seen.get(key)
        if first is None:
            seen[key] = match
            plan.matched.append(match)
        elif first.line.facts() == line.facts():
            plan.duplicates.append((line.number, first.line.number))
        else:
            plan.inconsistent.append(
                LineError(line.number, "line", f"contradicts line {first.line.number} for the same training file and horizon")
            )
    return plan


# ---------------------------------------------------------------- retention


def retention_cutoff(today: date, retention_months: int) -> date:
    """Outcomes observed before this day are past their retention period and are purged."""
    return months_before(today, retention_months)
