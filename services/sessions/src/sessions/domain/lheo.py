"""Reading an LHEO offer file (LHEO 2.0–2.3, tree `lheo/offres/formation/action/session`).

Three steps, each refusing loudly: (1) parse with a hardened lxml parser (no entity
substitution, no DTD loading, no network; a DOCTYPE is refused outright: LHEO files have none);
(2) recognise the version from the root's namespace (1.x and foreign roots are "unsupported LHEO
version", never an empty success); (3) validate against the official XSD of that version (vendored
in `sessions/lheo_schema`), then map. Every element the XSD makes optional is optional here;
what the Pacte needs and LHEO lacks comes from `extras`, query parameters or documented
defaults, and each item says which it used (docs/lheo.md).

Pure and synchronous: the HTTP layer runs `read_offer` in a worker thread.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

from lxml import etree
from pacte_common.validators import validate_siret

from sessions.domain.departements import departement_label, departements_label

SCHEMA_FILES = {
    "http://www.lheo.org/2.0": ("2.0", "lheo-2.0.xsd"),
    "http://www.lheo.org/2.1": ("2.1", "lheo-2.1.xsd"),
    "http://www.lheo.org/2.2": ("2.2", "lheo-2.2.xsd"),
    "http://lheo.gouv.fr/2.3": ("2.3", "lheo-2.3.xsd"),
}
EXPORT_NAMESPACE = "http://lheo.gouv.fr/2.3"
_VALIDATION_LOCKS = {namespace: threading.Lock() for namespace in SCHEMA_FILES}
MAX_REPORTED_ERRORS = 20

# LHEO dictionary "etat-recrutement": 1 ouvert, 2 fermé, 3 complet.
RECRUITMENT_STATES = {"1": "open", "2": "closed", "3": "full"}
# LHEO dictionary "modalites-enseignement": 0 présentiel, 1 mixte, 2 entièrement à distance.
DISTANCE_LEARNING_CODES = {"1", "2"}
FULL_TIME_WEEKLY_HOURS = Decimal(35)

# What the export writes where LHEO requires a value the Pacte does not hold (as LHEO producers
# write "not known"); the import reads these back as "nothing", so a round trip changes nothing.
UNKNOWN_TEXT = "-"
UNKNOWN_ACTIVITY_NUMBER = "99999999999"
DEFAULT_ENTRY_LEVEL = "0"  # dictionary code-niveau-entree: 0 "information non communiquée"
DEFAULT_PATHWAY = "1"  # dictionary parcours-de-formation: 1 "en groupe"
DEFAULT_PUBLIC_CODE = "80056"  # FORMACODE public code written when the Pacte knows none


class LheoFileRefused(ValueError):
    """The file as a whole is refused; `errors` are [{field, message, line}] for the 422."""

    def __init__(self, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.errors = errors or [{"field": "body", "message": message}]


class UnsupportedVersion(LheoFileRefused):
    pass


class ItemRejected(ValueError):
    pass


@dataclass(frozen=True)
class ImportOptions:
    """What the caller gives for data LHEO has no element for."""

    departements: frozenset[str]
    programme_code: str | None = None
    places: int | None = None
    # The Region's table (docs/lheo.md): ("financeur" | "dispositif", code) -> programme code.
    programme_mappings: dict[tuple[str, str], str] = field(default_factory=dict)
    # LHEO dictionary "financeurs": 2 is the Conseil régional.
    region_financer_code: str = "2"


FINANCER = "financeur"
DISPOSITIF = "dispositif"


@dataclass
class LheoSession:
    key: str
    path: str
    start_date: date
    end_date: date
    places: int | None  # None: the file gives no places at all ("places unknown")
    recruitment_state: str
    permanent_entries: bool
    information_meetings: tuple[date, ...]
    defaults: list[str] = field(default_factory=list)


@dataclass
class LheoAction:
    key: str
    path: str
    name: str
    fields: dict
    details: dict
    departement: str = ""
    sessions: list[LheoSession] = field(default_factory=list)
    defaults: list[str] = field(default_factory=list)


@dataclass
class Rejection:
    kind: str
    key: str | None
    path: str
    name: str
    reason: str
    departement: str | None = None


@dataclass
class LheoFormation:
    key: str
    path: str
    name: str
    actions: list[LheoAction] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


@dataclass
class LheoOffer:
    version: str
    formations: list[LheoFormation] = field(default_factory=list)


# ---------------------------------------------------------------- parsing and validation


def hardened_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False)


@cache
def schema(file_name: str) -> etree.XMLSchema:
    source = resources.files("sessions.lheo_schema").joinpath(file_name).read_bytes()
    return etree.XMLSchema(etree.fromstring(source, hardened_parser()))


def schema_for(namespace: str) -> etree.XMLSchema:
    return schema(SCHEMA_FILES[namespace][1])


def parse_and_validate(data: bytes) -> tuple[str, etree._Element]:
    """The validated root and its LHEO version, or LheoFileRefused."""
    try:
        tree = etree.fromstring(data, hardened_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise LheoFileRefused(
            f"the file is not well-formed XML: {exc.msg}",
            [{"field": "body", "message": exc.msg, "line": exc.lineno}],
        ) from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise LheoFileRefused("DOCTYPE declarations are refused (entities, external DTDs): an LHEO file has none")
    root = tree.getroot()
    name = etree.QName(root)
    if name.localname != "lheo" or name.namespace not in SCHEMA_FILES:
        found = f"<{name.localname}> in namespace {name.namespace!r}" if name.namespace else f"<{name.localname}> without namespace"
        accepted = ", ".join(SCHEMA_FILES)
        raise UnsupportedVersion(
            f"unsupported LHEO version: the root is {found}; accepted: <lheo> in {accepted} (LHEO 2.0 to 2.3)",
            [{"field": "body", "message": f"unsupported LHEO version: root {found}", "line": root.sourceline}],
        )
    version = SCHEMA_FILES[name.namespace][0]
    validator = schema_for(name.namespace)
    # An XMLSchema keeps its error log on itself: one validation at a time per schema.
    with _VALIDATION_LOCKS[name.namespace]:
        valid = validator.validate(tree)
        log = list(validator.error_log)
    if not valid:
        errors = [{"field": "body", "message": entry.message, "line": entry.line} for entry in log[:MAX_REPORTED_ERRORS]]
        first = errors[0]
        raise LheoFileRefused(
            f"the file is not valid LHEO {version} ({len(log)} error(s)); line {first['line']}: {first['message']}",
            errors,
        )
    return version, root


# ---------------------------------------------------------------- tree helpers (namespace of the file)


def _children(element, name: str) -> list:
    return list(element.iterchildren("{*}" + name))  # lxml filters in C, any namespace


def _child(element, *names: str):
    current = element
    for name in names:
        if current is None:
            return None
        current = next(current.iterchildren("{*}" + name), None)  # the first only: no list
    return current


def _text(element, *names: str) -> str | None:
    found = _child(element, *names)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _extras(*elements) -> dict[str, str]:
    """`extras/extra[@info]` of the elements (nested extras included); later elements win."""
    values: dict[str, str] = {}
    for element in elements:
        if element is None:
            continue
        for extra_fields in _children(element, "extras"):
            for extra in extra_fields.iter("{*}extra"):
                if extra.get("info") and extra.text and extra.text.strip():
                    values[extra.get("info")] = extra.text.strip()
    return values


def _calendar_date(raw: str) -> date:
    """AAAAMMJJ as a date (ValueError if it is not one); not strptime, which costs a locale
    lookup per call (10,000 dates in a 5,000-session feed)."""
    if len(raw) != 8 or not raw.isdigit():
        raise ValueError(raw)
    return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))


def _lheo_date(raw: str, name: str) -> date:
    try:
        return _calendar_date(raw)
    except ValueError:
        raise ItemRejected(f"{name} {raw!r} is not a calendar date (LHEO writes unknown dates with 00 or 99): the Pacte needs a real date") from None


UNKNOWN_DATE_CODES = ("00000000", "99999999")


def _optional_date(raw: str | None, name: str, defaults: list[str]) -> date | None:
    """An optional LHEO date: LHEO's unknown date (00000000, 99999999) or an impossible one is
    read as "not known" and reported, never a rejection."""
    if not raw:
        return None
    if raw in UNKNOWN_DATE_CODES:
        defaults.append(f"{name} {raw} (LHEO's unknown date): not recorded")
        return None
    try:
        return _calendar_date(raw)
    except ValueError:
        defaults.append(f"{name} {raw!r} is not a calendar date: not recorded")
        return None


def _decimal(raw: str, name: str) -> Decimal:
    try:
        number = Decimal(raw.replace(",", ".").replace(" ", "").replace("\u00a0", ""))
    except InvalidOperation:
        raise ItemRejected(f"{name} is not a number: {raw!r}") from None
    if not number.is_finite() or number < 0:
        raise ItemRejected(f"{name} must be a positive number: {raw!r}")
    return number


def _list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").replace(";", ",").split(",") if part.strip()]


def departement_of(address) -> tuple[str | None, str | None]:
    """(département, how it was found) of an LHEO `adresse`: its `departement`, else its `codepostal`."""
    if address is None:
        return None, None
    explicit = _text(address, "departement")
    if explicit:
        return explicit.upper(), None
    postcode = _text(address, "codepostal") or ""
    if postcode.startswith(("97", "98")):
        return postcode[:3], "département read from codepostal (no <departement>)"
    if postcode.startswith("20"):
        return ("2A" if postcode < "20200" else "2B"), "département read from codepostal (no <departement>)"
    return postcode[:2] or None, "département read from codepostal (no <departement>)"


def _address_details(address) -> dict | None:
    if address is None:
        return None
    departement, _ = departement_of(address)
    return {
        "lignes": [line.text.strip() for line in _children(address, "ligne") if line.text and line.text.strip()],
        "codepostal": _text(address, "codepostal"),
        "ville": _text(address, "ville"),
        "departement": departement,
        "code_insee": _text(address, "code-INSEE-commune"),
        "latitude": _coordinate(_text(address, "geolocalisation", "latitude"), 90),
        "longitude": _coordinate(_text(address, "geolocalisation", "longitude"), 180),
    }


def _coordinate(raw: str | None, bound: int) -> str | None:
    """A latitude or longitude in decimal degrees as the file writes it (`,` or `.`), else None."""
    try:
        value = float((raw or "").strip().replace(",", "."))
    except ValueError:
        return None
    return f"{value:.6f}" if -bound <= value <= bound and value == value else None


def _domain_codes(formation) -> dict:
    """The formation's FORMACODEs besides the principal one (the action's `formacode`), its NSF and
    ROME codes (the public search)."""
    domain = _child(formation, "domaine-formation")
    principal = _principal_formacode(formation)

    def codes(name: str) -> list[str]:
        if domain is None:
            return []
        return [code.text.strip() for code in _children(domain, name) if code.text and code.text.strip()]

    return {"formacode": [c for c in codes("code-FORMACODE") if c != principal], "nsf": codes("code-NSF"), "rome": codes("code-ROME")}


def surrogate_key(*parts: str) -> str:
    """A stable identity for an element without `numero` (optional in LHEO): same file, same key."""
    return "sha1-" + hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:20]


# ---------------------------------------------------------------- mapping


def read_offer(data: bytes, options: ImportOptions) -> LheoOffer:
    version, root = parse_and_validate(data)
    offer = LheoOffer(version=version)
    offres = _child(root, "offres")
    for f_index, formation in enumerate(_children(offres, "formation"), start=1):
        offer.formations.append(_formation(formation, f"/lheo/offres/formation[{f_index}]", options))
    return offer


def _formation(formation, path: str, options: ImportOptions) -> LheoFormation:
    title = _extras(formation).get("intitule-formation") or _text(formation, "intitule-formation") or ""
    siret = _text(formation, "organisme-formation-responsable", "SIRET-organisme-formation", "SIRET") or ""
    key = formation.get("numero") or surrogate_key(siret, title)
    result = LheoFormation(key=key, path=path, name=title)
    for a_index, action in enumerate(_children(formation, "action"), start=1):
        a_path = f"{path}/action[{a_index}]"
        a_key = action.get("numero") or surrogate_key(key, str(a_index))
        try:
            result.actions.append(_action(formation, action, a_key, a_path, title, options, result.rejections))
        except ItemRejected as exc:
            where = departement_label(_departement_of_action(action))
            result.rejections.append(Rejection("action", a_key, a_path, title, str(exc), where))
            for s_index, session in enumerate(_children(action, "session"), start=1):
                result.rejections.append(
                    Rejection("session", _session_key(session, a_key, s_index), f"{a_path}/session[{s_index}]", title,
                              "its action is rejected", where)
                )
    return result


def _principal_formacode(formation) -> str | None:
    codes = _children(_child(formation, "domaine-formation"), "code-FORMACODE")
    tagged = [code for code in codes if (code.get("tag") or "").strip().lower() == "principal"]
    chosen = (tagged or codes or [None])[0]
    return chosen.text.strip() if chosen is not None and chosen.text else None


def _training_place(action):
    """The first lieu-de-formation's address, else the first session's adresse-inscription."""
    place = _child(action, "lieu-de-formation", "coordonnees", "adresse")
    if place is None:
        first_session = _child(action, "session")
        place = _child(first_session, "adresse-inscription", "adresse") if first_session is not None else None
    return place


def _departement_of_action(action) -> str | None:
    return departement_of(_training_place(action))[0]


def _place(formation, action, options: ImportOptions, defaults: list[str]) -> tuple[Any, str]:
    """Where the training happens (the first lieu-de-formation, else the first session's
    address) and its département, which must be the Region's."""
    place = _training_place(action)
    departement, derived = departement_of(place)
    if derived:
        defaults.append(derived)
    if departement not in options.departements:
        raise ItemRejected(
            f"outside the Region: département {departement_label(departement)} is not one of {departements_label(options.departements)}"
        )
    return place, departement


def _siret(responsible) -> str:
    try:
        return validate_siret(_text(responsible, "SIRET-organisme-formation", "SIRET") or "")
    except ValueError as exc:
        raise ItemRejected(f"organisme-formation-responsable/SIRET-organisme-formation/SIRET: {exc}") from None


def financers(action) -> list[tuple[str, int | None]]:
    """(code-financeur, nb-places-financees or None) of the action's organisme-financeur, in file order."""
    found = []
    for financer in _children(action, "organisme-financeur"):
        code = _text(financer, "code-financeur")
        places = _text(financer, "nb-places-financees")
        if code:
            found.append((code, int(places) if places and places.lstrip("-").isdigit() else None))
    return found


def _programme(action, extra_fields: dict[str, str], options: ImportOptions, defaults: list[str]) -> str:
    """The action's programme: its code-dispositif (as the Region mapped it, else as a Pacte
    programme code), else ?programme_code=, else the Region's mapping of its financers' codes
    (the Region's own financer first)."""
    dispositif = extra_fields.get("code-dispositif")
    if dispositif is not None:
        mapped = options.programme_mappings.get((DISPOSITIF, dispositif))
        if mapped:
            defaults.append(f"programme {mapped!r}: code-dispositif {dispositif!r} as the Region maps it")
            return mapped
        return dispositif
    if options.programme_code:
        defaults.append(f"programme {options.programme_code!r} from ?programme_code=")
        return options.programme_code
    codes = [code for code, _ in financers(action)]
    codes.sort(key=lambda code: code != options.region_financer_code)  # stable: the Region's first
    for code in codes:
        mapped = options.programme_mappings.get((FINANCER, code))
        if mapped:
            defaults.append(f"programme {mapped!r}: code-financeur {code} as the Region maps it")
            return mapped
    named = f" (code-financeur {', '.join(codes)})" if codes else ""
    raise ItemRejected(
        f"no programme: no code-dispositif and no financer the Region maps{named}; "
        "map them (PUT /catalogue/lheo/mappings/…) or pass ?programme_code="
    )


def _delivering(action, defaults: list[str]) -> tuple[str | None, str | None]:
    """(SIRET, name) of the organisme-formateur, the organisation that delivers the training."""
    delivering = _child(action, "organisme-formateur")
    if delivering is None:
        defaults.append("no organisme-formateur: the responsible organisation delivers")
        return None, None
    name = _unless(_text(delivering, "raison-sociale-formateur"), UNKNOWN_TEXT)
    raw = _text(delivering, "SIRET-formateur", "SIRET") or ""
    try:
        return validate_siret(raw), name
    except ValueError as exc:
        defaults.append(f"organisme-formateur SIRET {raw!r} not kept: {exc}")
        return None, name


def _weekly_hours(extra_fields: dict[str, str], defaults: list[str]) -> Decimal | None:
    if "heures-hebdomadaires" in extra_fields:
        return _decimal(extra_fields["heures-hebdomadaires"], "extra heures-hebdomadaires")
    raw = extra_fields.get("duree-hebdo")
    if raw is None:
        return None
    try:
        weekly = _decimal(raw, "extra duree-hebdo")
    except ItemRejected as exc:
        defaults.append(f"{exc}: weekly hours not recorded")
        return None
    if not 0 < weekly <= 60:
        defaults.append(f"extra duree-hebdo {raw!r} is not a week's hours: not recorded")
        return None
    return weekly


def _hours(action, extra_fields: dict[str, str], defaults: list[str]) -> tuple[Decimal, Decimal]:
    """(hours in centre, hours in company), consistent with the total when the file gives it."""
    hours_total = _number(action, "nombre-heures-total", extra_fields)
    hours_company = _number(action, "nombre-heures-entreprise", extra_fields)
    hours_centre = _number(action, "nombre-heures-centre", extra_fields)
    if hours_centre is None and hours_total is not None:
        hours_centre = hours_total - (hours_company or Decimal(0))
        defaults.append("nombre-heures-centre = nombre-heures-total − nombre-heures-entreprise")
    if hours_company is None:
        hours_company = Decimal(0)
        if hours_centre is not None:
            defaults.append("nombre-heures-entreprise absent: 0")
    if hours_centre is None:
        hours_centre = Decimal(0)
        defaults.append("no hours in the file (nombre-heures-*): 0 recorded")
    if hours_centre < 0:
        raise ItemRejected(f"nombre-heures-entreprise ({hours_company}) exceeds nombre-heures-total ({hours_total})")
    if hours_total is not None and hours_centre + hours_company != hours_total:
        raise ItemRejected(f"nombre-heures-centre ({hours_centre}) + nombre-heures-entreprise ({hours_company}) differ from nombre-heures-total ({hours_total})")
    return hours_centre, hours_company


def _hourly_price(action, extra_fields: dict[str, str], hours: Decimal, defaults: list[str]) -> Decimal:
    hourly_price = _number(action, "prix-horaire-TTC", extra_fields)
    if hourly_price is not None:
        return hourly_price
    total_price = _number(action, "prix-total-TTC", extra_fields)
    if total_price is not None and hours:
        defaults.append("prix-horaire-TTC = prix-total-TTC / hours")
        return (total_price / hours).quantize(Decimal("0.01"))
    defaults.append("no price in the file (prix-horaire-TTC, prix-total-TTC): 0 recorded")
    return Decimal(0)


def _skill_blocks(action, extra_fields: dict[str, str]) -> list[str]:
    skill_blocks = _list(extra_fields.get("blocs-competences"))
    for session in _children(action, "session"):
        for blocks in _children(session, "blocs-competences"):
            for block in _children(blocks, "bloc-competences"):
                code = _text(block, "code-bloc")
                if code and code not in skill_blocks:
                    skill_blocks.append(code)
    return skill_blocks


def _details(formation, action, responsible, place, key: str, siret: str) -> dict | None:
    """What the Pacte keeps beside its own fields, for the export (docs/lheo.md)."""
    address = _address_details(place)
    if address and address["lignes"] == [UNKNOWN_TEXT] and address["ville"] == UNKNOWN_TEXT:
        address = None
    public = [code.text.strip() for code in _children(action, "code-public-vise") if code.text and code.text.strip()]
    return compact({
        "formation_numero": _unless(formation.get("numero"), key),
        "objectif": _unless(_text(formation, "objectif-formation"), UNKNOWN_TEXT),
        "resultats": _unless(_text(formation, "resultats-attendus"), UNKNOWN_TEXT),
        "contenu": _unless(_text(formation, "contenu-formation"), UNKNOWN_TEXT),
        "parcours": _unless(_text(formation, "parcours-de-formation"), DEFAULT_PATHWAY),
        "niveau_entree": _unless(_text(formation, "code-niveau-entree"), DEFAULT_ENTRY_LEVEL),
        "public_vise": [] if public == [DEFAULT_PUBLIC_CODE] else public,
        "organisme": {
            "nom": _unless(_text(responsible, "nom-organisme"), siret),
            "raison_sociale": _unless(_text(responsible, "raison-sociale"), UNKNOWN_TEXT),
            "numero_activite": _unless(_text(responsible, "numero-activite"), UNKNOWN_ACTIVITY_NUMBER),
        },
        "adresse": address,
        "codes": _domain_codes(formation),
    })


def _action_fields(formation, action, title: str, options: ImportOptions, defaults: list[str]) -> tuple[dict, Any]:
    """The action's Pacte fields (ItemRejected when one cannot be right) and its training place."""
    extra_fields = {**_extras(formation), **_extras(action)}
    place, departement = _place(formation, action, options, defaults)
    siret = _siret(_child(formation, "organisme-formation-responsable"))
    programme = _programme(action, extra_fields, options, defaults)
    hours_centre, hours_company = _hours(action, extra_fields, defaults)
    hourly_price = _hourly_price(action, extra_fields, hours_centre + hours_company, defaults)
    weekly = _weekly_hours(extra_fields, defaults)
    delivering_siret, delivering_name = _delivering(action, defaults)
    rhythm = (_text(action, "rythme-formation") or "").lower()
    fields = {
        "programme_code": programme,
        "organisation_siret": siret,
        "delivering_siret": delivering_siret,
        "delivering_name": delivering_name,
        "title": title,
        "rncp_code": extra_fields.get("code-RNCP") or _text(formation, "certification", "code-RNCP"),
        "formacode": extra_fields.get("code-FORMACODE") or _principal_formacode(formation),
        "certifying": _text(formation, "certifiante") == "1",
        "hours_in_centre": hours_centre,
        "hours_in_company": hours_company,
        "weekly_hours": weekly,
        "hourly_price": hourly_price,
        "part_time": "partiel" in rhythm or (weekly is not None and weekly < FULL_TIME_WEEKLY_HOURS),
        "distance_learning": _text(action, "modalites-enseignement") in DISTANCE_LEARNING_CODES,
        "modules": _list(extra_fields.get("modules")),
        "skill_blocks": _skill_blocks(action, extra_fields),
        "departement": departement,
        "territory_code": extra_fields.get("territoire"),
    }
    return fields, place


def _action(formation, action, key: str, path: str, title: str, options: ImportOptions, rejections: list[Rejection]) -> LheoAction:
    defaults: list[str] = []
    fields, place = _action_fields(formation, action, title, options, defaults)
    details = _details(formation, action, _child(formation, "organisme-formation-responsable"), place, key, fields["organisation_siret"])
    parsed = LheoAction(key=key, path=path, name=title, fields=fields, details=details, defaults=defaults,
                        departement=departement_label(fields["departement"]))
    permanent = _text(action, "modalites-entrees-sorties") == "1"
    meetings = tuple(
        day for meeting in _children(action, "date-information")
        if (day := _optional_date(_text(meeting, "date"), "date-information/date", defaults)) is not None
    )
    funded = financers(action)
    for s_index, session in enumerate(_children(action, "session"), start=1):
        s_key = _session_key(session, key, s_index)
        s_path = f"{path}/session[{s_index}]"
        try:
            parsed.sessions.append(_session(session, s_key, s_path, permanent, meetings, funded, options))
        except ItemRejected as exc:
            rejections.append(Rejection("session", s_key, s_path, title, str(exc), parsed.departement))
    return parsed


def _unless(value: str | None, placeholder: str) -> str | None:
    return None if value == placeholder else value


def compact(value):
    """Without None, empty strings, lists and dicts (recursively); None when nothing is left."""
    if isinstance(value, dict):
        kept = {k: c for k, c in ((k, compact(v)) for k, v in value.items()) if c is not None}
        return kept or None
    if isinstance(value, list):
        return value or None
    return None if value in (None, "") else value


def _number(action, name: str, extra_fields: dict[str, str]) -> Decimal | None:
    """An LHEO number, or the Pacte's exact value from `extras` (LHEO hours are whole numbers)."""
    raw = extra_fields.get(name) or _text(action, name)
    return None if raw is None else _decimal(raw, name)


def _session_key(session, action_key: str, index: int) -> str:
    if session.get("numero"):
        return session.get("numero")
    period = _child(session, "periode")
    return surrogate_key(action_key, _text(period, "debut") or "", _text(period, "fin") or "", str(index))


def _funded_places(funded: list[tuple[str, int | None]], options: ImportOptions, defaults: list[str]) -> int | None:
    """Places from organisme-financeur/nb-places-financees: the Region's financer's, else the sum."""
    region = [places for code, places in funded if code == options.region_financer_code and places]
    if region:
        defaults.append(f"places = nb-places-financees of the Region's financer (code-financeur {options.region_financer_code})")
        return region[0]
    counted = [(code, places) for code, places in funded if places]
    if not counted:
        return None
    codes = ", ".join(code for code, _ in counted)
    defaults.append(f"places = sum of nb-places-financees (code-financeur {codes}; none is the Region's {options.region_financer_code})")
    return sum(places for _, places in counted)


def _session_places(session, funded, options: ImportOptions, defaults: list[str]) -> int | None:
    """The session's places, or None when the file gives none at all (reported)."""
    extra_fields = _extras(session)
    if "nombre-places" in extra_fields:
        raw = extra_fields["nombre-places"]
        if not raw.isdigit():
            raise ItemRejected(f"extra nombre-places must be a whole number, got {raw!r}")
        return int(raw)
    offered = [int(_text(r, "nb-places")) for r in _children(session, "recrutement") if _text(r, "nb-places")]
    if offered and sum(offered) > 0:
        defaults.append("places = sum of recrutement/nb-places")
        return sum(offered)
    places = _funded_places(funded, options, defaults)
    if places is not None:
        return places
    if options.places is not None:
        defaults.append(f"places {options.places} from ?places=")
        return options.places
    defaults.append("places unknown: no nombre-places, recrutement/nb-places nor nb-places-financees; "
                    "not open for admission until the Region sets its places")
    return None


def _session(
    session, key: str, path: str, permanent: bool, meetings: tuple[date, ...], funded: list[tuple[str, int | None]], options: ImportOptions
) -> LheoSession:
    defaults: list[str] = []
    start = _lheo_date(_text(session, "periode", "debut") or "", "periode/debut")
    end = _lheo_date(_text(session, "periode", "fin") or "", "periode/fin")
    if end < start:
        raise ItemRejected(f"periode/fin ({end}) is before periode/debut ({start})")
    places = _session_places(session, funded, options, defaults)
    if places is not None and places < 1:
        raise ItemRejected(f"places must be at least 1, got {places}")
    state_code = _text(session, "etat-recrutement")
    if state_code is None:
        defaults.append("etat-recrutement absent: open")
    return LheoSession(
        key=key,
        path=path,
        start_date=start,
        end_date=end,
        places=places,
        recruitment_state=RECRUITMENT_STATES.get(state_code or "1", "open"),
        permanent_entries=permanent,
        information_meetings=meetings,
        defaults=defaults,
    )
