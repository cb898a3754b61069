"""Trainee reviews in ANOTEA's published shapes, read into plain records. No I/O.

ANOTEA (France Travail's trainee-review service, github.com/StartupsPoleEmploi/anotea) gives
each review an id, a date, six marks from 1 to 5 (`notes`: accueil, contenu_formation,
equipe_formateurs, moyen_materiel, accompagnement, global) and the training it is about
(`formation.action.numero`, `formation.action.session.numero`,
`formation.action.organisme_formateur.siret`). Two forms are read (docs/satisfaction.md):
- JSON: the public API v1 `avis` objects, as a list or as `{"avis": [...]}`;
- CSV: the financeur back-office export (`;`-separated, decimal comma), whose columns are
  `id`, `note accueil`, `note contenu formation`, `note equipe formateurs`, `note matériel`,
  `note accompagnement`, `note global`, `id session`, `siret organisme`…, plus a `date`
  column (the export has none: the review date must be added) and optionally `id action`.
A malformed review refuses the whole file, naming the field: nothing is half imported. The
same review twice in a file is read twice, in order (the second is unchanged or an update).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

MARKS = ("overall", "accueil", "contenu", "equipe_formateurs", "moyens_materiels", "accompagnement")
JSON_MARKS = {
    "global": "overall", "accueil": "accueil", "contenu_formation": "contenu",
    "equipe_formateurs": "equipe_formateurs", "moyen_materiel": "moyens_materiels", "accompagnement": "accompagnement",
}
CSV_MARKS = {
    "note global": "overall", "note accueil": "accueil", "note contenu formation": "contenu",
    "note equipe formateurs": "equipe_formateurs", "note matériel": "moyens_materiels", "note accompagnement": "accompagnement",
}
CSV_REQUIRED = ("id", "date", "id session", "siret organisme", *CSV_MARKS)
LOWEST, HIGHEST = Decimal(1), Decimal(5)
MAX_ERRORS = 50


@dataclass(frozen=True)
class Review:
    review_id: str
    session_ref: str | None
    action_ref: str | None
    siret: str
    review_date: date
    marks: dict[str, Decimal]
    comment: str | None = None  # the published comment: its title and text (ANOTEA `commentaire`)


class MalformedReviews(ValueError):
    """The file cannot be read as reviews: (field, message) pairs, the field as a path."""

    def __init__(self, errors: list[tuple[str, str]]):
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors[:MAX_ERRORS]


class _Errors:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.items.append((field, message))


def _mark(value, field: str, errors: _Errors) -> Decimal | None:
    try:
        if isinstance(value, (bool, dict, list)) or value is None:
            raise InvalidOperation
        mark = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, AttributeError):
        errors.add(field, f"{value!r} is not a mark")
        return None
    if not mark.is_finite() or not LOWEST <= mark <= HIGHEST:
        errors.add(field, f"{value!r}: a mark is between 1 and 5")
        return None
    return mark.quantize(Decimal("0.01"))


def _day(value, field: str, errors: _Errors, timezone: str, *, french: bool = True) -> date | None:
    text = "" if isinstance(value, (dict, list)) else str(value or "").strip()
    try:
        if french and len(text) == 10 and text[2] == "/":
            return datetime.strptime(text, "%d/%m/%Y").date()
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        return moment.astimezone(ZoneInfo(timezone)).date() if moment.tzinfo else moment.date()
    except (ValueError, IndexError, OverflowError):
        errors.add(field, f"{text!r} is not a date (YYYY-MM-DD, DD/MM/YYYY or an ISO 8601 instant)")
        return None


def _text(value, field: str, errors: _Errors, *, required: bool = True, max_length: int = 64, strict: bool = False) -> str | None:
    if strict and value is not None and not isinstance(value, str):
        errors.add(field, "expected a string")
        return None
    text = "" if value is None or isinstance(value, (dict, list)) else str(value).strip()
    if not text:
        if required:
            errors.add(field, "missing")
        return None
    if len(text) > max_length or any(ord(c) < 32 for c in text):
        errors.add(field, f"longer than {max_length} characters or with control characters")
        return None
    return text


def _object(value, field: str, errors: _Errors) -> dict:
    """A nested object of the review; present but not an object is an error naming it."""
    if value is not None and not isinstance(value, dict):
        errors.add(field, "must be an object")
    return value if isinstance(value, dict) else {}


def _siret(value, field: str, errors: _Errors, *, strict: bool = False) -> str | None:
    text = _text(value, field, errors, strict=strict)
    if text is not None and not (len(text) == 14 and text.isascii() and text.isdigit()):
        errors.add(field, f"{text!r} is not a SIRET (14 digits)")
        return None
    return text


def _finish(reviews: list[Review], errors: _Errors) -> list[Review]:
    if errors.items:
        raise MalformedReviews(errors.items)
    if not reviews:
        raise MalformedReviews([("body", "no review in the file")])
    return reviews


COMMENT_MAX = 2000


def _comment(value, field: str, errors: _Errors) -> str | None:
    """ANOTEA's published `commentaire` ({titre, texte}) as one text, "title — text"; None without one."""
    if value is None:
        return None
    parts = _object(value, field, errors)
    texts = []
    for name in ("titre", "texte"):
        part = parts.get(name)
        if part is None:
            continue
        if not isinstance(part, str) or len(part) > COMMENT_MAX:
            errors.add(f"{field}.{name}", f"a text of at most {COMMENT_MAX} characters")
        elif part.strip():
            texts.append(" ".join(part.split()))
    return " — ".join(texts) or None


def read_json(data: bytes, timezone: str = "Europe/Paris") -> list[Review]:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedReviews([("body", f"not JSON: {exc}")]) from None
    items = document.get("avis") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise MalformedReviews([("body", "expected a list of ANOTEA reviews or {\"avis\": [...]}")])
    errors, reviews = _Errors(), []
    for index, item in enumerate(items):
        at = f"body.avis[{index}]"
        if not isinstance(item, dict):
            errors.add(at, "a review is an object")
            continue
        formation = _object(item.get("formation"), f"{at}.formation", errors)
        action = _object(formation.get("action"), f"{at}.formation.action", errors)
        notes = _object(item.get("notes"), f"{at}.notes", errors)
        review_id = _text(item.get("id"), f"{at}.id", errors, strict=True)
        marks = {ours: _mark(notes.get(theirs), f"{at}.notes.{theirs}", errors) for theirs, ours in JSON_MARKS.items()}
        session_ref = _text(_object(action.get("session"), f"{at}.formation.action.session", errors).get("numero"), f"{at}.formation.action.session.numero", errors,
                            required=False, max_length=128, strict=True)
        action_ref = _text(action.get("numero"), f"{at}.formation.action.numero", errors, required=False, max_length=128, strict=True)
        if session_ref is None and action_ref is None:
            errors.add(f"{at}.formation.action.session.numero", "a review names its session or at least its action")
        siret = _siret(_object(action.get("organisme_formateur"), f"{at}.formation.action.organisme_formateur", errors).get("siret"), f"{at}.formation.action.organisme_formateur.siret", errors, strict=True)
        day = _day(item.get("date"), f"{at}.date", errors, timezone, french=False)
        comment = _comment(item.get("commentaire"), f"{at}.commentaire", errors)
        if None not in (review_id, siret, day) and None not in marks.values():
            reviews.append(Review(review_id, session_ref, action_ref, siret, day, marks, comment))
    return _finish(reviews, errors)


def read_csv(data: bytes, timezone: str = "Europe/Paris") -> list[Review]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedReviews([("body", "the CSV is not UTF-8")]) from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise MalformedReviews([(f"body.header.{c}", "column missing") for c in missing])
    errors, reviews = _Errors(), []
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): v for k, v in raw.items()}
        at = f"body.line[{line}]"
        review_id = _text(row.get("id"), f"{at}.id", errors)
        marks = {ours: _mark(row.get(theirs), f"{at}.{theirs}", errors) for theirs, ours in CSV_MARKS.items()}
        session_ref = _text(row.get("id session"), f"{at}.id session", errors, required=False, max_length=128)
        action_ref = _text(row.get("id action"), f"{at}.id action", errors, required=False, max_length=128)
        if session_ref is None and action_ref is None:
            errors.add(f"{at}.id session", "a review names its session or at least its action")
        siret = _siret(row.get("siret organisme"), f"{at}.siret organisme", errors)
        day = _day(row.get("date"), f"{at}.date", errors, timezone)
        if None not in (review_id, siret, day) and None not in marks.values():
            reviews.append(Review(review_id, session_ref, action_ref, siret, day, marks))
    return _finish(reviews, errors)
