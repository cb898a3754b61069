"""Writes the vendored LHEO XSDs (run by hand: `python -m sessions.lheo_schema.build`).

The LHEO XSD is not a file of lheo/lheo-schema: its Makefile generates `lheo.xsd` from the
language definition `definition/lheo-gml.xml` with GeLaBa's `gml2xsd.xsl`. ELEMENTS below is that
generated 2.3 schema, element by element and in its order (content model, occurrences, facets,
attribute groups), so that `render("2.3")` writes it out in the generator's layout. The 2.2 schema
is the same definition minus the changes the official changelog (doc/source/changements.rst)
lists for 2.3; 2.0 and 2.1 are validated against the 2.2 structure in their own namespaces.
See README.md beside this file for origins and commits.
"""

from __future__ import annotations

from pathlib import Path

U = "unbounded"
EXTRAS = ("extras", 0, U)

# name -> (kind, content, attribute flavour). kind: seq (children), str (min, max length),
# enum (values), long, date (AAAAMMJJ), extras, extra. Flavour: "" standard, "d" adds
# datemaj/datecrea, "hd" adds href/file too.
ELEMENTS: list[tuple[str, str, object, str]] = [
    ("domaine-formation", "seq", [("code-FORMACODE", 0, 5), ("code-NSF", 0, 3), ("code-ROME", 0, 5), EXTRAS], ""),
    ("intitule-formation", "str", (1, 255), ""),
    ("nom-organisme", "str", (1, 250), ""),
    ("objectif-formation", "str", (1, 3000), ""),
    ("resultats-attendus", "str", (1, 3000), ""),
    ("contenu-formation", "str", (1, 3000), ""),
    ("certifiante", "enum", ["0", "1"], ""),
    ("rythme-formation", "str", (1, 3000), ""),
    ("duree-indicative", "str", (None, 150), ""),
    ("contact-formation", "seq", [("type-contact", 0, 1), ("coordonnees", 1, 1), EXTRAS], ""),
    ("contact-session", "seq", [("type-contact", 0, 1), ("coordonnees", 1, 1), EXTRAS], ""),
    ("parcours-de-formation", "enum", ["1", "2", "3", "4"], ""),
    ("objectif-general-formation", "enum", ["1", "6", "7", "8", "5", "9", "2", "3", "4"], ""),
    ("certification", "seq", [("code-RNCP", 0, 1), ("code-CERTIFINFO", 0, 1), ("code-RS", 0, 1), ("code-CPF", 0, 1), ("reference-code-FORMACODE", 0, 1), EXTRAS], ""),
    ("reference-certification", "seq", [("reference-code-RNCP", 0, 1), ("reference-code-CERTIFINFO", 0, 1), ("reference-code-RS", 0, 1), EXTRAS], ""),
    ("code-type-formation", "seq", [("code-CPF", 0, 1), ("code-ELU", 0, 1), EXTRAS], ""),
    ("lheo", "seq", [("offres", 1, 1), EXTRAS], "d"),
    ("offres", "seq", [("formation", 1, U), EXTRAS], ""),
    ("formation", "seq", [
        ("domaine-formation", 1, 1), ("intitule-formation", 1, 1), ("objectif-formation", 1, 1), ("resultats-attendus", 1, 1),
        ("contenu-formation", 1, 1), ("certifiante", 1, 1), ("contact-formation", 1, U), ("parcours-de-formation", 1, 1),
        ("code-niveau-entree", 1, 1), ("objectif-general-formation", 0, 1), ("certification", 0, 5), ("code-type-formation", 0, 5),
        ("code-niveau-sortie", 0, 1), ("url-formation", 0, 1), ("action", 1, U), ("organisme-formation-responsable", 1, 1),
        ("identifiant-module", 0, 1), ("positionnement", 0, 1), ("sous-modules", 0, 1), ("modules-prerequis", 0, 1), EXTRAS,
    ], "hd"),
    ("action", "seq", [
        ("rythme-formation", 1, 1), ("code-public-vise", 1, 10), ("info-public-vise", 0, 1), ("niveau-entree-obligatoire", 1, 1),
        ("modalites-alternance", 1, 1), ("modalites-enseignement", 1, 1), ("conditions-specifiques", 1, 1),
        ("prise-en-charge-frais-possible", 1, 1), ("lieu-de-formation", 0, U), ("modalites-entrees-sorties", 1, 1), ("url-action", 0, 1),
        ("duree-cycle", 0, 1), ("session", 1, U), ("adresse-information", 0, 1), ("date-information", 0, 3), ("restauration", 0, 1),
        ("hebergement", 0, 1), ("transport", 0, 1), ("acces-handicapes", 0, 1), ("langue-formation", 0, 5), ("modalites-recrutement", 0, 1),
        ("modalites-pedagogiques", 0, 1), ("code-modalite-pedagogique", 0, 5), ("equipement", 0, U), ("frais-restants", 0, 1),
        ("code-perimetre-recrutement", 0, 1), ("infos-perimetre-recrutement", 0, 1), ("prix-horaire-TTC", 0, 1), ("prix-total-TTC", 0, 1),
        ("duree-indicative", 0, 1), ("nombre-heures-centre", 0, 1), ("nombre-heures-entreprise", 0, 1), ("nombre-heures-total", 0, 1),
        ("detail-conditions-prise-en-charge", 0, 1), ("conventionnement", 0, 1), ("duree-conventionnee", 0, 1), ("organisme-formateur", 0, U),
        ("organisme-financeur", 0, 8), ("enseignement", 0, U), EXTRAS,
    ], "d"),
    ("organisme-formation-responsable", "seq", [
        ("numero-activite", 1, 1), ("SIRET-organisme-formation", 1, 1), ("nom-organisme", 1, 1), ("raison-sociale", 1, 1),
        ("coordonnees-organisme", 1, 1), ("contact-organisme", 1, U), ("renseignements-specifiques", 0, 1), ("potentiel", 0, 1),
        ("code-UAI-organisme-formation", 0, 1), EXTRAS,
    ], "h"),
    ("potentiel", "seq", [("code-FORMACODE", 1, 25), EXTRAS], ""),
    ("organisme-formateur", "seq", [
        ("SIRET-formateur", 1, 1), ("raison-sociale-formateur", 1, 1), ("contact-formateur", 0, U), ("potentiel", 0, 1),
        ("code-UAI-formateur", 0, 1), ("reference-certification", 0, 5), EXTRAS,
    ], ""),
    ("niveau-entree-obligatoire", "enum", ["0", "1"], ""),
    ("code-niveau-entree", "enum", [str(n) for n in (*range(0, 9), *range(11, 19))], ""),
    ("code-niveau-sortie", "enum", [str(n) for n in (*range(0, 9), *range(11, 19))], ""),
    ("url-formation", "seq", [("urlweb", 1, 3), EXTRAS], ""),
    ("modalites-alternance", "str", (1, 3000), ""),
    ("modalites-enseignement", "enum", ["0", "1", "2"], ""),
    ("conditions-specifiques", "str", (1, 3000), ""),
    ("code-modalite-pedagogique", "str", (5, 5), ""),
    ("prise-en-charge-frais-possible", "enum", ["0", "1"], ""),
    ("frais-restants", "str", (None, 200), ""),
    ("langue-formation", "str", (2, 2), ""),
    ("lieu-de-formation", "seq", [("SIRET-lieu-formation", 0, 1), ("code-UAI-lieu-formation", 0, 1), ("coordonnees", 1, 1), EXTRAS], ""),
    ("nb-places", "long", None, ""),
    ("recrutement", "seq", [
        ("modalite-recrutement", 1, 1), ("code-perimetre-recrutement", 0, 1), ("infos-perimetre-recrutement", 0, 1), ("a-distance", 0, 1),
        ("adresse", 0, 1), ("urlweb", 0, 1), ("nb-places", 0, 1), ("periode", 0, 1), ("heure-debut", 0, 1), ("heure-fin", 0, 1),
        ("commentaire", 0, 1), EXTRAS,
    ], ""),
    ("a-distance", "enum", ["0", "1"], ""),
    ("enseignement", "seq", [("libelle-enseignement", 1, 1), ("type-enseignement", 1, 1), ("obligatoire", 1, 1), ("commentaire", 0, 1), EXTRAS], ""),
    ("equipement", "seq", [("type-equipement", 1, 1), ("cout-indicatif-equipement", 0, 1), ("commentaire", 0, 1), EXTRAS], ""),
    ("type-equipement", "enum", [str(n) for n in range(0, 12)], ""),
    ("cout-indicatif-equipement", "long", None, ""),
    ("obligatoire", "enum", ["0", "1"], ""),
    ("modalite-recrutement", "enum", [str(n) for n in range(0, 10)], ""),
    ("libelle-enseignement", "str", (1, 255), ""),
    ("type-enseignement", "enum", [str(n) for n in range(1, 11)], ""),
    ("modalites-entrees-sorties", "enum", ["0", "1"], ""),
    ("effectif-minimal", "long", None, ""),
    ("capacite-simultanee", "long", None, ""),
    ("capacite-cumulee", "long", None, ""),
    ("type-alternance", "enum", ["0", "1", "2"], ""),
    ("unite-rythme-alternance", "enum", ["0", "1", "2", "3", "4"], ""),
    ("unites-entreprise", "long", None, ""),
    ("unites-centre", "long", None, ""),
    ("rythme-alternance", "seq", [("unite-rythme-alternance", 1, 1), ("unites-entreprise", 1, 1), ("unites-centre", 1, 1), EXTRAS], ""),
    ("type-cycle", "enum", ["0", "1"], ""),
    ("duree-cycle", "long", None, ""),
    ("annee-cycle", "long", None, ""),
    ("alternance", "seq", [("type-alternance", 1, 1), ("rythme-alternance", 0, 1), EXTRAS], ""),
    ("cycle", "seq", [
        ("type-cycle", 1, 1), ("annee-cycle", 0, U), ("effectif-minimal", 0, 1), ("capacite-simultanee", 0, 1), ("capacite-cumulee", 0, 1),
        ("alternance", 0, 1), EXTRAS,
    ], ""),
    ("session", "seq", [
        ("periode", 1, 1), ("adresse-inscription", 1, 1), ("modalites-inscription", 0, 1), ("periode-inscription", 0, 1),
        ("etat-recrutement", 0, 1), ("recrutement", 0, U), ("url-session", 0, 1), ("contact-session", 0, U),
        ("reference-certification", 0, 5), ("blocs-competences", 0, U), ("cycle", 0, U), EXTRAS,
    ], "d"),
    ("adresse-inscription", "seq", [("adresse", 1, 1), EXTRAS], ""),
    ("adresse-information", "seq", [("adresse", 1, 1), EXTRAS], ""),
    ("date-information", "seq", [("date", 1, 1), EXTRAS], ""),
    ("url-action", "seq", [("urlweb", 1, 3), EXTRAS], ""),
    ("url-session", "seq", [("urlweb", 1, 3), EXTRAS], ""),
    ("numero-activite", "str", (11, 11), ""),
    ("SIRET-organisme-formation", "seq", [("SIRET", 1, 1), EXTRAS], ""),
    ("code-UAI-organisme-formation", "seq", [("code-UAI", 1, 1), EXTRAS], ""),
    ("SIRET-lieu-formation", "seq", [("SIRET", 1, 1), EXTRAS], ""),
    ("code-UAI-lieu-formation", "seq", [("code-UAI", 1, 1), EXTRAS], ""),
    ("raison-sociale", "str", (1, 250), ""),
    ("coordonnees-organisme", "seq", [("coordonnees", 1, 1), EXTRAS], ""),
    ("type-contact", "enum", [str(n) for n in range(0, 15)], ""),
    ("contact-organisme", "seq", [("type-contact", 0, 1), ("coordonnees", 1, 1), EXTRAS], ""),
    ("contact-formateur", "seq", [("type-contact", 0, 1), ("coordonnees", 1, 1), EXTRAS], ""),
    ("renseignements-specifiques", "str", (None, 3000), ""),
    ("organisme-financeur", "seq", [("code-financeur", 1, 1), ("nb-places-financees", 0, 1), EXTRAS], ""),
    ("nb-places-financees", "long", None, ""),
    ("modalites-recrutement", "str", (None, 3000), ""),
    ("modalites-pedagogiques", "str", (None, 200), ""),
    ("SIRET-formateur", "seq", [("SIRET", 1, 1), EXTRAS], ""),
    ("code-UAI-formateur", "seq", [("code-UAI", 1, 1), EXTRAS], ""),
    ("raison-sociale-formateur", "str", (None, 250), ""),
    ("code-perimetre-recrutement", "enum", [str(n) for n in range(0, 7)], ""),
    ("infos-perimetre-recrutement", "str", (None, 50), ""),
    ("prix-horaire-TTC", "str", (1, 6), ""),
    ("prix-total-TTC", "str", (1, 10), ""),
    ("nombre-heures-centre", "long", None, ""),
    ("nombre-heures-entreprise", "long", None, ""),
    ("nombre-heures-total", "long", None, ""),
    ("detail-conditions-prise-en-charge", "str", (1, 600), ""),
    ("conventionnement", "enum", ["0", "1"], ""),
    ("duree-conventionnee", "long", None, ""),
    ("code-financeur", "enum", ["11", "12", "13", "2", "3", "4", "5", "6", "7", "8", "9", "15", "10", "0", "14", "16", "17", "18", "19", "20", "1"], ""),
    ("restauration", "str", (1, 250), ""),
    ("hebergement", "str", (1, 250), ""),
    ("transport", "str", (1, 250), ""),
    ("acces-handicapes", "str", (1, 250), ""),
    ("positionnement", "enum", ["1", "2"], ""),
    ("etat-recrutement", "enum", ["1", "2", "3"], ""),
    ("identifiant-module", "str", (1, 3000), ""),
    ("reference-module", "str", (1, 3000), ""),
    ("reference-code-FORMACODE", "str", (5, 5), ""),
    ("reference-code-CERTIFINFO", "str", (1, 10), ""),
    ("reference-code-RNCP", "str", (1, 10), ""),
    ("reference-code-RS", "str", (1, 10), ""),
    ("libelle-bloc", "str", (1, 500), ""),
    ("code-bloc", "str", (8, 40), ""),
    ("bloc-competences", "seq", [("libelle-bloc", 1, 1), ("code-bloc", 1, 1), EXTRAS], ""),
    ("validation-blocs", "enum", ["0", "1", "2"], ""),
    ("blocs-competences", "seq", [("validation-blocs", 1, 1), ("reference-certification", 1, 1), ("bloc-competences", 1, U), EXTRAS], ""),
    ("sous-modules", "seq", [("sous-module", 1, U), EXTRAS], ""),
    ("modules-prerequis", "seq", [("reference-module", 1, U), EXTRAS], ""),
    ("sous-module", "seq", [("reference-module", 1, 1), ("type-module", 1, 1), EXTRAS], ""),
    ("type-module", "enum", ["0", "1", "2"], ""),
    ("code-NSF", "str", (3, 3), ""),
    ("code-FORMACODE", "str", (5, 5), ""),
    ("code-ROME", "str", (5, 5), ""),
    ("code-public-vise", "str", (5, 5), ""),
    ("info-public-vise", "str", (1, 250), ""),
    ("code-RNCP", "str", (1, 10), ""),
    ("code-CERTIFINFO", "str", (1, 10), ""),
    ("code-UAI", "str", (8, 8), ""),
    ("code-RS", "str", (3, 10), ""),
    ("code-CPF", "str", (4, 10), ""),
    ("code-ELU", "str", (4, 10), ""),
    ("coordonnees", "seq", [
        ("civilite", 0, 1), ("nom", 0, 1), ("prenom", 0, 1), ("ligne", 0, 3), ("adresse", 0, 1), ("telfixe", 0, 1), ("portable", 0, 1),
        ("fax", 0, 1), ("courriel", 0, 1), ("web", 0, 1), EXTRAS,
    ], ""),
    ("SIRET", "str", (14, 14), ""),
    ("adresse", "seq", [
        ("denomination", 0, 1), ("ligne", 1, 4), ("codepostal", 1, 1), ("ville", 1, 1), ("departement", 0, 1), ("code-INSEE-commune", 0, 1),
        ("code-INSEE-canton", 0, 1), ("region", 0, 1), ("pays", 0, 1), ("geolocalisation", 0, 1), EXTRAS,
    ], ""),
    ("ligne", "str", (1, 50), ""),
    ("denomination", "str", (1, 255), ""),
    ("prenom", "str", (1, 50), ""),
    ("civilite", "str", (1, 50), ""),
    ("nom", "str", (1, 50), ""),
    ("codepostal", "str", (5, 5), ""),
    ("code-INSEE-commune", "str", (5, 5), ""),
    ("code-INSEE-canton", "str", (4, 5), ""),
    ("ville", "str", (1, 50), ""),
    ("departement", "str", (2, 3), ""),
    ("region", "str", (2, 2), ""),
    ("pays", "str", (2, 2), ""),
    ("geolocalisation", "seq", [("latitude", 1, 1), ("longitude", 1, 1), EXTRAS], ""),
    ("latitude", "str", (None, 30), ""),
    ("longitude", "str", (None, 30), ""),
    ("courriel", "str", (3, 160), ""),
    ("web", "seq", [("urlweb", 1, 3), EXTRAS], ""),
    ("urlweb", "str", (3, 400), ""),
    ("commentaire", "str", (1, 500), ""),
    ("telfixe", "seq", [("numtel", 1, 3), EXTRAS], ""),
    ("portable", "seq", [("numtel", 1, 3), EXTRAS], ""),
    ("fax", "seq", [("numtel", 1, 3), EXTRAS], ""),
    ("numtel", "str", (1, 25), ""),
    ("modalites-inscription", "str", (1, 255), ""),
    ("periode", "seq", [("debut", 1, 1), ("fin", 1, 1), EXTRAS], ""),
    ("periode-inscription", "seq", [("periode", 1, 1)], ""),
    ("debut", "date", None, ""),
    ("fin", "date", None, ""),
    ("heure-debut", "str", (2, 5), ""),
    ("heure-fin", "str", (2, 5), ""),
    ("date", "date", None, ""),
    ("extras", "extras", None, ""),
    ("extra", "extra", None, ""),
    ("lheo-index", "seq", [("resumes-offres", 0, 1), ("resumes-organismes", 0, 1), EXTRAS], "d"),
    ("resumes-offres", "seq", [("resume-offre", 0, U), EXTRAS], ""),
    ("resumes-organismes", "seq", [("resume-organisme", 0, U), EXTRAS], ""),
    ("resume-offre", "seq", [
        ("domaine-formation", 1, 1), ("intitule-formation", 1, 1), ("nom-organisme", 1, 1), ("SIRET", 1, 1), ("codepostal", 0, 1),
        ("code-INSEE-commune", 0, 1), ("ville", 1, 1), ("departement", 1, 1), ("region", 0, 1), ("certifiante", 1, 1),
        ("code-niveau-entree", 1, 1), ("prise-en-charge-frais-possible", 1, 1), ("modalites-enseignement", 0, 1), ("code-public-vise", 1, 10),
        ("nombre-heures-total", 0, 1), ("session", 0, U), ("contact-formation-resume", 0, U), ("certification", 0, 5), EXTRAS,
    ], "hd"),
    ("resume-organisme", "seq", [("nom-organisme", 1, 1), ("raison-sociale", 1, 1), ("SIRET", 1, 1), ("numero-activite", 1, 1), EXTRAS], "hd"),
    ("contact-formation-resume", "seq", [("type-contact", 0, 1), ("nom", 0, 1), ("telfixe", 0, 1), ("courriel", 0, 1), EXTRAS], ""),
    ("lheo-plus", "seq", [("lheo", 0, 1), ("organisme-formation-responsable", 0, U), EXTRAS], ""),
]

NAMESPACES = {
    "2.0": "http://www.lheo.org/2.0",
    "2.1": "http://www.lheo.org/2.1",
    "2.2": "http://www.lheo.org/2.2",
    "2.3": "http://lheo.gouv.fr/2.3",
}

# What doc/source/changements.rst says 2.3 added or changed (PEL-6, 14, 17, 28, 29, 34, 38, 39, 43).
ADDED_IN_2_3 = {
    "SIRET-lieu-formation", "code-UAI", "code-UAI-organisme-formation", "code-UAI-lieu-formation", "code-UAI-formateur",
    "code-ELU", "code-CPF", "code-RS", "code-type-formation", "type-contact", "contact-session", "denomination",
}
ATTRIBUTES_ADDED_IN_2_3 = ("horodatage-creation", "horodatage-modification", "horodatage-export", "uri")
OCCURS_BEFORE_2_3 = {
    ("action", "organisme-formateur"): (0, 1),
    ("action", "lieu-de-formation"): (1, 1),
    ("formation", "contact-formation"): (1, 1),
    ("organisme-formation-responsable", "contact-organisme"): (1, 1),
    ("organisme-formateur", "contact-formateur"): (0, 1),
}
MAX_LENGTH_BEFORE_2_3 = {"code-CERTIFINFO": 6, "code-RNCP": 6}


def _attributes(name: str, flavour: str, version: str) -> list[str]:
    rows = []
    if "h" in flavour:
        rows += [("href", "xs:string"), ("file", "xs:string")]
    rows += [("numero", "xs:string"), ("info", "xs:string"), ("ref", "xs:string"), ("id", "xs:ID"), ("idref", "xs:IDREF"), ("tag", "xs:string")]
    if "d" in flavour:
        rows += [("datemaj", "xs:string"), ("datecrea", "xs:string")]
    rows += [("horodatage-creation", "xs:dateTime"), ("horodatage-modification", "xs:dateTime"), ("horodatage-export", "xs:dateTime"), ("uri", "xs:anyURI")]
    if version != "2.3":
        rows = [row for row in rows if row[0] not in ATTRIBUTES_ADDED_IN_2_3]
    lines = [f'  <xs:attributeGroup name="{name}-attributes">']
    lines += [f'    <xs:attribute name="{attr}" type="{kind}"/>' for attr, kind in rows]
    lines.append("  </xs:attributeGroup>")
    return lines


def _simple(name: str, kind: str, content, version: str) -> list[str]:
    lines = [f'  <xs:simpleType name="{name}-subtype">']
    if kind == "long":
        lines.append('    <xs:restriction base="xs:long"/>')
    elif kind == "enum":
        lines.append('    <xs:restriction base="xs:token">')
        lines += [f'      <xs:enumeration value="{value}"/>' for value in content]
        lines.append("    </xs:restriction>")
    elif kind == "date":
        lines += [
            '    <xs:restriction base="xs:token">',
            '      <xs:length value="8"/>',
            '      <xs:pattern value="[0-9][0-9][0-9][0-9][019][0-9][01239][0-9]"/>',
            "    </xs:restriction>",
        ]
    else:
        low, high = content
        if version != "2.3":
            high = MAX_LENGTH_BEFORE_2_3.get(name, high)
        lines.append('    <xs:restriction base="xs:string">')
        if low is not None:
            lines.append(f'      <xs:minLength value="{low}"/>')
        lines.append(f'      <xs:maxLength value="{high}"/>')
        lines.append("    </xs:restriction>")
    lines.append("  </xs:simpleType>")
    return lines + [
        f'  <xs:complexType name="{name}-type">',
        "    <xs:simpleContent>",
        f'      <xs:extension base="lheo:{name}-subtype">',
        f'        <xs:attributeGroup ref="lheo:{name}-attributes"/>',
        "      </xs:extension>",
        "    </xs:simpleContent>",
        "  </xs:complexType>",
    ]


def _complex(name: str, kind: str, content, version: str) -> list[str]:
    if kind == "extra":
        return [
            f'  <xs:complexType name="{name}-type">',
            "    <xs:complexContent>",
            '      <xs:extension base="xs:anyType">',
            f'        <xs:attributeGroup ref="lheo:{name}-attributes"/>',
            "      </xs:extension>",
            "    </xs:complexContent>",
            "  </xs:complexType>",
        ]
    lines = [f'  <xs:complexType name="{name}-subtype">']
    if kind == "extras":
        lines += [
            '    <xs:choice minOccurs="0" maxOccurs="unbounded">',
            '      <xs:element ref="lheo:extras"/>',
            '      <xs:element ref="lheo:extra"/>',
            "    </xs:choice>",
        ]
    else:
        lines.append("    <xs:sequence>")
        for child, low, high in content:
            if version != "2.3":
                if child in ADDED_IN_2_3:
                    continue
                low, high = OCCURS_BEFORE_2_3.get((name, child), (low, high))
            lines.append(f'      <xs:element ref="lheo:{child}" minOccurs="{low}" maxOccurs="{high}"/>')
        lines.append("    </xs:sequence>")
    lines.append("  </xs:complexType>")
    return lines + [
        f'  <xs:complexType name="{name}-type">',
        "    <xs:complexContent>",
        f'      <xs:extension base="lheo:{name}-subtype">',
        f'        <xs:attributeGroup ref="lheo:{name}-attributes"/>',
        "      </xs:extension>",
        "    </xs:complexContent>",
        "  </xs:complexType>",
    ]


def render(version: str) -> str:
    namespace = NAMESPACES[version]
    gml = "1.2" if version == "2.3" else "1.1"
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:gml="http://www.gelaba.org/gml/{gml}" '
        f'targetNamespace="{namespace}" xmlns:lheo="{namespace}" elementFormDefault="qualified">',
    ]
    for name, kind, content, flavour in ELEMENTS:
        if version != "2.3" and name in ADDED_IN_2_3:
            continue
        lines += _attributes(name, flavour, version)
        if kind in ("seq", "extras", "extra"):
            lines += _complex(name, kind, content, version)
        else:
            lines += _simple(name, kind, content, version)
        lines.append(f'  <xs:element name="{name}" type="lheo:{name}-type"/>')
    lines.append("</xs:schema>")
    return "\n".join(lines) + "\n"


def main() -> None:
    here = Path(__file__).parent
    for version in NAMESPACES:
        (here / f"lheo-{version}.xsd").write_text(render(version), encoding="utf-8")


if __name__ == "__main__":
    main()
