"""ANOTEA reviews in the indicators: imported in sessions (docs/satisfaction.md), published as
review events, counted by insights for the period and the scope (mean marks, responses, CSV)."""


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


async def test_json_import_is_idempotent_and_reports_unknown_sessions(sessions, insights):
    session = await sessions.catalogue()
    body = {"avis": [avis("5c9b1", session["id"], sessions.SIRET_A), avis("5c9b2", "SE-UNKNOWN", sessions.SIRET_A),
                     avis("5c9b3", session["id"], sessions.SIRET_B)]}
    first = await sessions.ok("POST", "/satisfaction/imports", sessions.region, json=body)
    assert (first["received"], first["created"], first["updated"], first["unchanged"]) == (3, 1, 0, 0)
    assert [u["review_id"] for u in first["unknown"]] == ["5c9b2"] and first["unknown"][0]["session"] == "SE-UNKNOWN"
    assert [r["review_id"] for r in first["rejected"]] == ["5c9b3"] and sessions.SIRET_B in first["rejected"][0]["reason"]
    again = await sessions.ok("POST", "/satisfaction/imports", sessions.region, json=body)
    assert (again["created"], again["unchanged"]) == (0, 1)
    changed = {"avis": [avis("5c9b1", session["id"], sessions.SIRET_A, notes={**body["avis"][0]["notes"], "accueil": 2})]}
    assert (await sessions.ok("POST", "/satisfaction/imports", sessions.region, json=changed))["updated"] == 1

    figures = await insights.until("/indicators?from=2026-03-01&to=2026-03-31", insights.region,
                                   lambda body: body["satisfaction"]["mean_marks"]["accueil"] == 2.0, "the changed review reached insights")
    assert figures["satisfaction"]["responses"] == 1
    assert figures["satisfaction"]["mean_marks"] == {"overall": 4.2, "accueil": 2.0, "contenu": 4.0, "equipe_formateurs": 5.0,
                                                     "moyens_materiels": 3.0, "accompagnement": 4.0}
    assert (await insights.ok("GET", "/indicators?from=2026-04-01", insights.region))["satisfaction"]["responses"] == 0


async def test_csv_export_form_with_decimal_commas(sessions, insights):
    first = await sessions.catalogue()
    second = await sessions.catalogue()
    rows = [
        f"r1;5;4;5;3;4;4,2;Bien;Très bien;F-1;{sessions.SIRET_A};{first['id']};02/03/2026",
        f"r2;3;3;3;3;3;3;;;F-1;{sessions.SIRET_A};{second['id']};2026-03-09",
        f"r3;1;1;1;1;1;1;;;F-1;{sessions.SIRET_A};nowhere;2026-03-09",
    ]
    response = await sessions.client.post("/satisfaction/imports", headers={**sessions.region, "Content-Type": "text/csv"},
                                      content=("\ufeff" + CSV_HEADER + "\r\n" + "\r\n".join(rows) + "\r\n").encode())
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 2 and [u["review_id"] for u in report["unknown"]] == ["r3"]
    scoped = await insights.until("/indicators", insights.org, lambda body: body["satisfaction"]["responses"] == 2,
                                  "the reviews reached insights")  # an organisation sees its own reviews' marks
    assert scoped["satisfaction"]["responses"] == 2 and scoped["satisfaction"]["mean_marks"]["overall"] == 3.6
    csv_text = (await insights.client.get("/indicators", headers={**insights.region, "Accept": "text/csv"})).text
    assert "all,satisfaction_overall,7.20,2,3.60," in csv_text
