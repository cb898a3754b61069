"""Writing the Region's open offer as an LHEO 2.3 document, valid against the official XSD.

One `formation` per LHEO formation the actions came from (`formation_numero` kept by the
import, with the same responsible organisation), its actions and their open sessions inside;
an action created in the Pacte is a formation of its own. What LHEO requires and the Pacte does not hold is written as LHEO producers do for
"not known" ("-", an empty `coordonnees`, `numero-activite` 99999999999), unless the action came
from an LHEO import that gave it (`Action.lheo_details`). The Pacte's own data LHEO has no
element for (programme, places, weekly hours, territory, modules, skill blocks, exact hours
and prices) travels in `extras info="pacte"`, the names the import reads: exporting then
importing changes nothing. No contact person, no trainee: the feed is public.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from lxml import etree

from sessions.domain.lheo import (
    DEFAULT_ENTRY_LEVEL,
    DEFAULT_PATHWAY,
    DEFAULT_PUBLIC_CODE,
    EXPORT_NAMESPACE,
    RECRUITMENT_STATES,
    UNKNOWN_ACTIVITY_NUMBER,
    UNKNOWN_TEXT,
)

NS = f"{{{EXPORT_NAMESPACE}}}"
RECRUITMENT_CODES = {state: code for code, state in RECRUITMENT_STATES.items()}
MAX_HOURLY_PRICE_CHARS = 6


@dataclass(frozen=True)
class ExportedSession:
    key: str
    start_date_lheo: str
    end_date_lheo: str
    places: int
    places_left: int
    recruitment_state: str
    information_meetings: list[str]


@dataclass(frozen=True)
class ExportedAction:
    key: str
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
    permanent_entries: bool
    modules: list[str]
    skill_blocks: list[str]
    departement: str
    territory_code: str | None
    details: dict
    sessions: list[ExportedSession]
    delivering_siret: str | None = None
    delivering_name: str | None = None


def _el(parent, name: str, text: str | None = None, **attributes) -> etree._Element:
    element = etree.SubElement(parent, NS + name, {k: v for k, v in attributes.items() if v is not None})
    if text is not None:
        element.text = text
    return element


def _plain(number: Decimal) -> str:
    """Decimal without exponent or trailing zeros: 12.50 -> '12.5', 400.00 -> '400'."""
    text = format(number.normalize(), "f")
    return text


def _extras(parent, values: dict[str, str | None]) -> None:
    present = {k: v for k, v in values.items() if v not in (None, "")}
    if present:
        extras = _el(parent, "extras", info="pacte")
        for info, value in present.items():
            _el(extras, "extra", value, info=info)


def _address(parent, address: dict | None, departement: str) -> None:
    element = _el(parent, "adresse")
    lines = (address or {}).get("lignes") or [UNKNOWN_TEXT]
    for line in lines[:4]:
        _el(element, "ligne", line)
    postcode = (address or {}).get("codepostal") or f"{departement}000"[:5]
    _el(element, "codepostal", postcode)
    _el(element, "ville", (address or {}).get("ville") or UNKNOWN_TEXT)
    _el(element, "departement", departement)
    if (address or {}).get("code_insee"):
        _el(element, "code-INSEE-commune", address["code_insee"])
    if (address or {}).get("latitude") and address.get("longitude"):
        geolocation = _el(element, "geolocalisation")
        _el(geolocation, "latitude", address["latitude"])
        _el(geolocation, "longitude", address["longitude"])


def _hours(action_element, name: str, value: Decimal, exact: dict) -> None:
    # LHEO hours are xs:long: a fractional value goes whole into extras (read first on import).
    if value == value.to_integral_value():
        _el(action_element, name, str(int(value)))
    else:
        exact[name] = _plain(value)


def _too_long(action: ExportedAction) -> dict[str, str | None]:
    """Values longer than LHEO allows travel whole in extras (read first on import)."""
    return {
        "intitule-formation": action.title if len(action.title) > 255 else None,
        "code-FORMACODE": action.formacode if action.formacode and len(action.formacode) != 5 else None,
        "code-RNCP": action.rncp_code if action.rncp_code and len(action.rncp_code) > 10 else None,
    }


def _formation(offres, action: ExportedAction, details: dict, too_long: dict[str, str | None]):
    """The formation element and what precedes its action, in the schema's order."""
    formation = _el(offres, "formation", numero=details.get("formation_numero") or action.key)
    domain = _el(formation, "domaine-formation")
    if action.formacode and not too_long["code-FORMACODE"]:
        _el(domain, "code-FORMACODE", action.formacode, tag="principal")
    codes = details.get("codes") or {}
    for code in codes.get("formacode", [])[: 5 - bool(action.formacode)]:
        _el(domain, "code-FORMACODE", code)
    for name, most in (("nsf", 3), ("rome", 5)):
        for code in codes.get(name, [])[:most]:
            _el(domain, f"code-{name.upper()}", code)
    _el(formation, "intitule-formation", action.title[:255])
    _el(formation, "objectif-formation", details.get("objectif") or UNKNOWN_TEXT)
    _el(formation, "resultats-attendus", details.get("resultats") or UNKNOWN_TEXT)
    _el(formation, "contenu-formation", details.get("contenu") or UNKNOWN_TEXT)
    _el(formation, "certifiante", "1" if action.certifying else "0")
    _el(_el(formation, "contact-formation"), "coordonnees")
    _el(formation, "parcours-de-formation", details.get("parcours") or DEFAULT_PATHWAY)
    _el(formation, "code-niveau-entree", details.get("niveau_entree") or DEFAULT_ENTRY_LEVEL)
    if action.rncp_code and not too_long["code-RNCP"]:
        _el(_el(formation, "certification"), "code-RNCP", action.rncp_code)
    return formation


def _sessions(element, action: ExportedAction, place: dict | None) -> None:
    for session in action.sessions:
        item = _el(element, "session", numero=session.key)
        period = _el(item, "periode")
        _el(period, "debut", session.start_date_lheo)
        _el(period, "fin", session.end_date_lheo)
        _address(_el(item, "adresse-inscription"), place, action.departement)
        _el(item, "etat-recrutement", RECRUITMENT_CODES[session.recruitment_state])
        _extras(item, {"nombre-places": str(session.places), "places-disponibles": str(session.places_left)})
    meetings = action.sessions[0].information_meetings if action.sessions else []
    for meeting in meetings[:3]:
        _el(_el(element, "date-information"), "date", meeting.replace("-", ""))


def _prices_and_extras(element, action: ExportedAction, too_long: dict[str, str | None]) -> None:
    exact: dict[str, str | None] = {}
    price = _plain(action.hourly_price)
    if len(price) <= MAX_HOURLY_PRICE_CHARS:
        _el(element, "prix-horaire-TTC", price)
    else:
        exact["prix-horaire-TTC"] = price
    _hours(element, "nombre-heures-centre", action.hours_in_centre, exact)
    _hours(element, "nombre-heures-entreprise", action.hours_in_company, exact)
    _hours(element, "nombre-heures-total", action.hours_in_centre + action.hours_in_company, exact)
    if action.delivering_siret:
        delivering = _el(element, "organisme-formateur")
        _el(_el(delivering, "SIRET-formateur"), "SIRET", action.delivering_siret)
        _el(delivering, "raison-sociale-formateur", (action.delivering_name or UNKNOWN_TEXT)[:250])
    _extras(element, {
        "code-FORMACODE": too_long["code-FORMACODE"],
        "code-RNCP": too_long["code-RNCP"],
        "code-dispositif": action.programme_code,
        "heures-hebdomadaires": _plain(action.weekly_hours) if action.weekly_hours is not None else None,
        "territoire": action.territory_code,
        "modules": ", ".join(action.modules),
        "blocs-competences": ", ".join(action.skill_blocks),
        **exact,
    })


def _action(formation, action: ExportedAction, details: dict, too_long: dict[str, str | None]) -> None:
    element = _el(formation, "action", numero=action.key)
    _el(element, "rythme-formation", "Temps partiel" if action.part_time else "Temps plein")
    for code in details.get("public_vise") or []:
        _el(element, "code-public-vise", code)
    if not details.get("public_vise"):
        _el(element, "code-public-vise", DEFAULT_PUBLIC_CODE)
    _el(element, "niveau-entree-obligatoire", "0")
    _el(element, "modalites-alternance", UNKNOWN_TEXT)
    _el(element, "modalites-enseignement", "2" if action.distance_learning else "0")
    _el(element, "conditions-specifiques", UNKNOWN_TEXT)
    _el(element, "prise-en-charge-frais-possible", "1")
    place = details.get("adresse")
    if place:
        _address(_el(_el(element, "lieu-de-formation"), "coordonnees"), place, action.departement)
    _el(element, "modalites-entrees-sorties", "1" if action.permanent_entries else "0")
    _sessions(element, action, place)
    _prices_and_extras(element, action, too_long)


def _responsible(formation, action: ExportedAction, details: dict) -> None:
    organisation = details.get("organisme") or {}
    responsible = _el(formation, "organisme-formation-responsable")
    _el(responsible, "numero-activite", organisation.get("numero_activite") or UNKNOWN_ACTIVITY_NUMBER)
    _el(_el(responsible, "SIRET-organisme-formation"), "SIRET", action.organisation_siret)
    _el(responsible, "nom-organisme", organisation.get("nom") or action.organisation_siret)
    _el(responsible, "raison-sociale", organisation.get("raison_sociale") or UNKNOWN_TEXT)
    _el(_el(responsible, "coordonnees-organisme"), "coordonnees")
    _el(_el(responsible, "contact-organisme"), "coordonnees")


def formations_of(actions: list[ExportedAction]) -> list[list[ExportedAction]]:
    """The actions grouped by the LHEO formation they came from (same `formation_numero`, same
    responsible organisation), in first-seen order; an action without one is its own formation."""
    groups: dict[tuple, list[ExportedAction]] = {}
    for action in actions:
        numero = (action.details or {}).get("formation_numero")
        key = ("formation", numero, action.organisation_siret) if numero else ("action", action.key)
        groups.setdefault(key, []).append(action)
    return list(groups.values())


def build_document(actions: list[ExportedAction]) -> bytes:
    root = etree.Element(NS + "lheo", nsmap={None: EXPORT_NAMESPACE})
    offres = _el(root, "offres")
    for group in formations_of(actions):
        first = group[0]
        details = first.details or {}
        too_long = _too_long(first)
        formation = _formation(offres, first, details, too_long)
        for action in group:
            _action(formation, action, action.details or {}, _too_long(action))
        _responsible(formation, first, details)
        _extras(formation, {"intitule-formation": too_long["intitule-formation"]})
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
