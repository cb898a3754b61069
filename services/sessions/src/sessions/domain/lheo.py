"""Reading an LHEO offer file (tree `lheo/offres/formation/action/session`) into plain records.

Parsed with defusedxml (entity declarations, external entities and DTD retrieval refused:
a "billion laughs" file never expands). Element names are the LHEO schema's; what LHEO has
no element for (programme code, places when the file predates `nombre-places`, weekly hours,
territory, modules, skill blocks) is read from the standard `extras/extra[@info]` mechanism:

    <extras info="pacte"><extra info="code-dispositif">VISA-METIERS</extra></extras>

Every action or session that cannot be read is reported with its path and reason; the rest
of the file is still imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from pacte_common.validators import validate_siret

# LHEO dictionary "etat-recrutement": 1 open, 2 closed, 3 full (complet); words accepted too.
RECRUITMENT_STATES = {"1": "open", "2": "closed", "3": "full", "ouvert": "open", "ferme": "closed", "fermé": "closed", "complet": "full"}


class LheoFileRefused(ValueError):
    """The file as a whole cannot be read (not XML, dangerous constructs, wrong root)."""


class ElementRejected(ValueError):
    pass


@dataclass(frozen=True)
class LheoSession:
    lheo_id: str
    path: str
    start_date: date
    end_date: date
    places: int
    recruitment_state: str
    permanent_entries: bool
    information_meetings: tuple[date, ...] = ()


@dataclass(frozen=True)
class LheoAction:
    lheo_id: str
    path: str
    programme_code: str
    organisation_siret: str
    title: str
    rncp_code: str | None
    formacode: str | None
    certifying: bool
    hours_in_centre: Decimal
    hours_in_company: Decimal
    weekly_hours: Decimal | None
    hourly_price: Decimal
    part_time: bool
    distance_learning: bool
    departement: str
    territory_code: str | None
    modules: tuple[str, ...] = ()
    skill_blocks: tuple[str, ...] = ()
    sessions: tuple[LheoSession, ...] = ()


@dataclass(frozen=True)
class Rejection:
    path: str
    reason: str


@dataclass
class LheoOffer:
    actions: list[LheoAction] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if _local(child.tag) == name]


def _child(element: Element, *names: str) -> Element | None:
    current: Element | None = element
    for name in names:
        found = _children(current, name) if current is not None else []
        current = found[0] if found else None
    return current


def _text(element: Element, *names: str) -> str | None:
    found = _child(element, *names)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return value or None


def _extras(element: Element) -> dict[str, str]:
    values: dict[str, str] = {}
    for extras in _children(element, "extras"):
        for extra in _children(extras, "extra"):
            info = extra.get("info")
            if info and extra.text and extra.text.strip():
                values[info] = extra.text.strip()
    return values


def _required(value: str | None, name: str) -> str:
    if value is None:
        raise ElementRejected(f"{name} is missing")
    return value


def _lheo_date(value: str | None, name: str) -> date:
    raw = _required(value, name)
    for pattern in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return datetime.strptime(raw, pattern).date()
        except ValueError:
            continue
    raise ElementRejected(f"{name} is not a date (AAAAMMJJ): {raw!r}")


def _decimal(value: str | None, name: str, *, required: bool = True) -> Decimal | None:
    if value is None:
        if required:
            raise ElementRejected(f"{name} is missing")
        return None
    try:
        number = Decimal(value.replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        raise ElementRejected(f"{name} is not a number: {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ElementRejected(f"{name} must be a positive number: {value!r}")
    return number


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in re.split(r"[,;]", value or "") if part.strip())


def parse(data: bytes, *, default_programme: str | None, departements: frozenset[str]) -> LheoOffer:
    try:
        root = SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise LheoFileRefused(f"the file uses forbidden XML constructs ({type(exc).__name__}): entities and external references are refused") from None
    except ParseError as exc:
        raise LheoFileRefused(f"the file is not well-formed XML: {exc}") from None
    if _local(root.tag) != "lheo":
        raise LheoFileRefused(f"the root element is {_local(root.tag)!r}, expected 'lheo'")
    offer = LheoOffer()
    offres = _children(root, "offres")
    if not offres:
        raise LheoFileRefused("the file has no 'offres' element")
    for f_index, formation in enumerate(_children(offres[0], "formation"), start=1):
        f_path = f"/lheo/offres/formation[{f_index}]"
        for a_index, action in enumerate(_children(formation, "action"), start=1):
            a_path = f"{f_path}/action[{a_index}]"
            try:
                offer.actions.append(_action(formation, action, a_path, default_programme, departements, offer.rejections))
            except ElementRejected as exc:
                offer.rejections.append(Rejection(a_path, str(exc)))
    return offer


def _action(formation, action, path, default_programme, departements, rejections) -> LheoAction:
    extras = {**_extras(formation), **_extras(action)}
    lheo_id = _required(action.get("numero"), "action/@numero")
    siret_raw = _required(
        _text(formation, "organisme-formation-responsable", "SIRET-organisme-formation", "SIRET"),
        "organisme-formation-responsable/SIRET-organisme-formation/SIRET",
    )
    try:
        siret = validate_siret(siret_raw)
    except ValueError as exc:
        raise ElementRejected(f"SIRET-organisme-formation: {exc}") from None
    programme = extras.get("code-dispositif") or default_programme
    if not programme:
        raise ElementRejected("no programme: add extra info='code-dispositif' or pass ?programme_code=")
    total = _decimal(_text(action, "nombre-heures-total"), "nombre-heures-total")
    company = _decimal(_text(action, "nombre-heures-entreprise"), "nombre-heures-entreprise", required=False) or Decimal("0")
    centre = _decimal(_text(action, "nombre-heures-centre"), "nombre-heures-centre", required=False)
    if centre is None:
        centre = total - company
    if centre + company != total or centre < 0:
        raise ElementRejected(f"nombre-heures-centre ({centre}) + nombre-heures-entreprise ({company}) differ from nombre-heures-total ({total})")
    weekly = _decimal(extras.get("heures-hebdomadaires"), "extra heures-hebdomadaires", required=False)
    rhythm = (_text(action, "rythme-formation") or "").lower()
    postcode = None
    for element in action.iter():
        if _local(element.tag) == "code-postal" and element.text and element.text.strip():
            postcode = element.text.strip()
            break
    departement = extras.get("departement") or (postcode[:2] if postcode else None)
    if departement not in departements:
        raise ElementRejected(f"département {departement!r} is not one of {', '.join(sorted(departements))}")
    meetings = tuple(_lheo_date(m.text, "date-information") for m in _children(action, "date-information"))
    permanent = _text(action, "modalites-entrees-sorties") == "1"
    sessions = []
    for s_index, session in enumerate(_children(action, "session"), start=1):
        s_path = f"{path}/session[{s_index}]"
        try:
            sessions.append(_session(session, s_path, permanent, meetings))
        except ElementRejected as exc:
            rejections.append(Rejection(s_path, str(exc)))
    return LheoAction(
        lheo_id=lheo_id,
        path=path,
        programme_code=programme,
        organisation_siret=siret,
        title=_required(_text(formation, "intitule-formation"), "intitule-formation"),
        rncp_code=_text(formation, "certification", "code-RNCP"),
        formacode=_text(formation, "domaine-formation", "code-FORMACODE"),
        certifying=_text(formation, "certifiante") == "1",
        hours_in_centre=centre,
        hours_in_company=company,
        weekly_hours=weekly,
        hourly_price=_decimal(_text(action, "prix-horaire-TTC"), "prix-horaire-TTC"),
        part_time="partiel" in rhythm or (weekly is not None and weekly < 35),
        distance_learning=_text(action, "modalites-enseignement") in ("1", "2"),
        departement=departement,
        territory_code=extras.get("territoire"),
        modules=_list(extras.get("modules")),
        skill_blocks=_list(extras.get("blocs-competences")),
        sessions=tuple(sessions),
    )


def _session(session, path, permanent, meetings) -> LheoSession:
    lheo_id = _required(session.get("numero"), "session/@numero")
    start = _lheo_date(_text(session, "periode", "debut"), "periode/debut")
    end = _lheo_date(_text(session, "periode", "fin"), "periode/fin")
    if end < start:
        raise ElementRejected(f"periode/fin ({end}) is before periode/debut ({start})")
    raw_places = _text(session, "nombre-places") or _extras(session).get("nombre-places")
    if raw_places is None or not raw_places.isdigit() or int(raw_places) < 1:
        raise ElementRejected(f"nombre-places must be a positive whole number, got {raw_places!r}")
    raw_state = (_text(session, "etat-recrutement") or "").lower()
    if raw_state not in RECRUITMENT_STATES:
        raise ElementRejected(f"etat-recrutement {raw_state!r} is not 1 (ouvert), 2 (fermé) or 3 (complet)")
    return LheoSession(
        lheo_id=lheo_id,
        path=path,
        start_date=start,
        end_date=end,
        places=int(raw_places),
        recruitment_state=RECRUITMENT_STATES[raw_state],
        permanent_entries=permanent,
        information_meetings=meetings,
    )
