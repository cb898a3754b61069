"""ANOTEA reviews: JSON and CSV forms, idempotent by review id, unknown sessions reported,
malformed reviews refused naming the field, every stored review published for the read side."""

import json
from decimal import Decimal

from pacte_common.events import Topics
from pacte_testing import read_topic


def avis(review_id: str, session: str | None, siret: str, notes: dict | None = None, date: str = "2026-03-02T09:30:00.000Z",
         action: str | None = None) -> dict:
    marks = notes or {"accueil": 5, "contenu_formation": 4, "equipe_formateurs": 5, "moyen_materiel": 3, "accompagnement": 4, "global": 4.2}
    return {
        "id": review_id, "date": date, "notes": marks,
        "formation": {"numero": "F-1", "action": {
            "numero": action, "organisme_formateur": {"siret": siret, "raison_sociale": "OF"},
            "session": {"numero": session, "periode": {"debut": "2026-01-05", "fin": "2026-06-26"}},
        }},
    }


CSV_HEADER = "id;note accueil;note contenu formation;note equipe formateurs;note matériel;note accompagnement;note global;titre;commentaire;id formation;siret organisme;id session;date"


async def test_json_import_is_idempotent_and_reports_unknown_sessions(api):
    session = await api.catalogue()
    body = {"avis": [avis("5c9b1", session["id"], api.SIRET_A), avis("5c9b2", "SE-UNKNOWN", api.SIRET_A),
                     avis("5c9b3", session["id"], api.SIRET_B)]}
    first = await api.ok("POST", "/satisfaction/imports", api.region, json=body)
    assert (first["received"], first["created"], first["updated"], first["unchanged"]) == (3, 1, 0, 0)
    assert [u["review_id"] for u in first["unknown"]] == ["5c9b2"] and first["unknown"][0]["session"] == "SE-UNKNOWN"
    assert [r["review_id"] for r in first["rejected"]] == ["5c9b3"] and api.SIRET_B in first["rejected"][0]["reason"]
    again = await api.ok("POST", "/satisfaction/imports", api.region, json=body)
    assert (again["created"], again["unchanged"]) == (0, 1)
    changed = {"avis": [avis("5c9b1", session["id"], api.SIRET_A, notes={**body["avis"][0]["notes"], "accueil": 2})]}
    assert (await api.ok("POST", "/satisfaction/imports", api.region, json=changed))["updated"] == 1

    # every stored review of each import is published for the read side (docs/insights.md), the last with its changed mark
    published = [e.data for e in await read_topic(api.settings.bus, api.topic(Topics.CATALOGUE), expect=4) if e.type.endswith("review-recorded.v1")]
    assert [(r.review_id, r.accueil) for r in published] == [("5c9b1", 5), ("5c9b1", 5), ("5c9b1", 2)]
    assert published[-1].session_id is not None and published[-1].overall == Decimal("4.2")


async def test_csv_export_form_with_decimal_commas(api):
    first = await api.catalogue()
    second = await api.catalogue()
    rows = [
        f"r1;5;4;5;3;4;4,2;Bien;Très bien;F-1;{api.SIRET_A};{first['id']};02/03/2026",
        f"r2;3;3;3;3;3;3;;;F-1;{api.SIRET_A};{second['id']};2026-03-09",
        f"r3;1;1;1;1;1;1;;;F-1;{api.SIRET_A};nowhere;2026-03-09",
    ]
    response = await api.client.post("/satisfaction/imports", headers={**api.region, "Content-Type": "text/csv"},
                                      content=("\ufeff" + CSV_HEADER + "\r\n" + "\r\n".join(rows) + "\r\n").encode())
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 2 and [u["review_id"] for u in report["unknown"]] == ["r3"]
    again = await api.client.post("/satisfaction/imports", headers={**api.region, "Content-Type": "text/csv"},
                                   content=(CSV_HEADER + "\n" + rows[0] + "\n").encode())
    assert again.json()["unchanged"] == 1


async def test_malformed_reviews_are_refused_naming_the_field(api):
    session = await api.catalogue()
    bad_mark = avis("x1", session["id"], api.SIRET_A, notes={"accueil": 9, "contenu_formation": 4, "equipe_formateurs": 5,
                                                             "moyen_materiel": 3, "accompagnement": 4, "global": 4})
    response = await api.client.post("/satisfaction/imports", headers=api.region, json={"avis": [avis("ok", session["id"], api.SIRET_A), bad_mark]})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "body.avis[1].notes.accueil"
    no_date = avis("x2", session["id"], api.SIRET_A, date="yesterday")
    response = await api.client.post("/satisfaction/imports", headers=api.region, json=[no_date])
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "body.avis[0].date"
    twice = await api.ok("POST", "/satisfaction/imports", api.region, json=[avis("d", session["id"], api.SIRET_A)] * 2)
    assert (twice["created"], twice["unchanged"]) == (1, 1)  # the same review twice in a file is stored once
    french_date = await api.client.post("/satisfaction/imports", headers=api.region, json=[avis("f", session["id"], api.SIRET_A, date="02/03/2026")])
    assert french_date.status_code == 422 and french_date.json()["errors"][0]["field"] == "body.avis[0].date"  # JSON dates are ISO
    csv_bad = CSV_HEADER + f"\nr9;5;4;5;3;4;abc;;;F-1;{api.SIRET_A};{session['id']};2026-03-02\n"
    response = await api.client.post("/satisfaction/imports", headers={**api.region, "Content-Type": "text/csv"}, content=csv_bad.encode())
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "body.line[2].note global"
    missing = await api.client.post("/satisfaction/imports", headers={**api.region, "Content-Type": "text/csv"}, content=b"id;date\nr1;2026-01-01\n")
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"].startswith("body.header.")
    session_not_object = avis("x3", session["id"], api.SIRET_A)
    session_not_object["formation"]["action"]["session"] = "SE-1"  # ANOTEA nests it: {"numero": ...}
    response = await api.client.post("/satisfaction/imports", headers=api.region, json=[session_not_object])
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "body.avis[0].formation.action.session"
    not_json = await api.client.post("/satisfaction/imports", headers={**api.region, "Content-Type": "application/json"}, content=b"{nope")
    assert not_json.status_code in (400, 422)
    other = await api.client.post("/satisfaction/imports", headers={**api.region, "Content-Type": "application/xml"}, content=b"<avis/>")
    assert other.status_code == 415
    # nothing of a refused file was kept (only the file read twice above)
    assert (await api.ok("POST", "/satisfaction/imports", api.region, json=[avis("ok", session["id"], api.SIRET_A)]))["created"] == 1


async def test_only_the_region_imports(api):
    session = await api.catalogue()
    response = await api.client.post("/satisfaction/imports", headers=api.org, content=json.dumps([avis("a", session["id"], api.SIRET_A)]),
                                     )
    assert response.status_code == 403
